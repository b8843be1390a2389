package partition

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sampleStates has an empty-history producer, one with a full batch window
// spanning the sequence wrap, and one with LogAppendTime batches.
func sampleStates() producerStates {
	s := newProducerStates()
	s.apply(producerBatch{producerID: 42, epoch: 0, firstSeq: 0, lastSeq: 2}, 0, 2, -1, 1_700_000_000_000)
	for i := range int64(6) {
		first := int32(math.MaxInt32 - 10 + 2*i)
		s.apply(producerBatch{producerID: 7, epoch: 3, firstSeq: first, lastSeq: addSequence(first, 1)}, 10+2*i, 11+2*i, -1, 1_700_000_001_000+i)
	}
	s.apply(producerBatch{producerID: 1 << 40, epoch: math.MaxInt16, firstSeq: 5, lastSeq: 5}, 30, 30, 1_700_000_002_000, 1_700_000_002_000)
	return s
}

// sampleTxns has two producers' ongoing transactions and two ended ones
// whose markers are not yet replicated.
func sampleTxns() txnState {
	t := newTxnState()
	t.data(42, 2)
	t.data(7, 12)
	t.data(9, 20)
	t.marker(9, false, 25)
	t.data(3, 26)
	t.marker(3, true, 28)
	return t
}

func TestProducerSnapshot_RoundTrip(t *testing.T) {
	for i, s := range []producerStates{newProducerStates(), sampleStates()} {
		txns := newTxnState()
		if i == 1 {
			txns = sampleTxns()
		}
		b := encodeProducerSnapshot(31, &s, &txns)
		off, got, gotTxns, err := decodeProducerSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		if off != 31 || !reflect.DeepEqual(got.m, s.m) || !reflect.DeepEqual(gotTxns, txns) {
			t.Fatalf("decoded offset %d, states %+v %+v; want %+v %+v", off, got.m, gotTxns, s.m, txns)
		}
	}
}

// TestProducerSnapshot_ReadsVersion1 decodes the version 1 golden bytes
// (what Fjord wrote before transactions): the same producers, no
// coordinator epoch, no transaction.
func TestProducerSnapshot_ReadsVersion1(t *testing.T) {
	dump, err := os.ReadFile(filepath.Join("testdata", "golden", "producer-snapshot-v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, line := range strings.Split(string(dump), "\n") {
		if len(line) < 10 {
			continue
		}
		hexPart, _, _ := strings.Cut(line[10:], "|")
		raw, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, raw...)
	}
	off, got, txns, err := decodeProducerSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleStates(); off != 31 || !reflect.DeepEqual(got.m, want.m) || len(txns.ongoing) != 0 || txns.ongoing == nil {
		t.Fatalf("decoded offset %d, states %+v %+v; want %+v", off, got.m, txns, want.m)
	}
}

func TestProducerSnapshot_DamageDetected(t *testing.T) {
	s, txns := sampleStates(), sampleTxns()
	good := encodeProducerSnapshot(31, &s, &txns)
	// recrc fixes the CRC after a change, for damage the other checks
	// must catch.
	recrc := func(b []byte) []byte {
		out := append([]byte(nil), b...)
		binary.BigEndian.PutUint32(out[5:], crc32.Checksum(out[9:], crc32.MakeTable(crc32.Castagnoli)))
		return out
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:snapshotHeader-1]},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"future version", mutate(func(b []byte) []byte { b[4] = 3; return b })},
		{"version 1, CRC fixed", recrc(mutate(func(b []byte) []byte { b[4] = 1; return b }))},
		{"ongoing at the snapshot offset, CRC fixed", recrc(mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[len(b)-4-2*snapshotTxn-4-2*snapshotTxn+8:], 31) // producer 7's first offset
			return b
		}))},
		{"flipped bit", mutate(func(b []byte) []byte { b[40] ^= 1; return b })},
		{"truncated", mutate(func(b []byte) []byte { return b[:len(b)-3] })},
		{"truncated, CRC fixed", recrc(good[:len(good)-3])},
		{"trailing byte, CRC fixed", recrc(append(append([]byte(nil), good...), 0))},
		{"huge count, CRC fixed", recrc(mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[17:], math.MaxUint32); return b }))},
		{"six batches, CRC fixed", recrc(mutate(func(b []byte) []byte { b[snapshotHeader+snapshotEntry-1] = 6; return b }))},
		{"negative offset, CRC fixed", recrc(mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[9:], math.MaxUint64); return b }))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, _, err := decodeProducerSnapshot(c.b); !errors.Is(err, errBadSnapshot) {
				t.Fatalf("decoded damaged snapshot: %v", err)
			}
		})
	}
}

// TestGolden_ProducerSnapshot pins the snapshot format. Rewrite
// testdata/golden/producer-snapshot.txt with FJORD_UPDATE_GOLDEN=1 after an
// intended format change (and bump snapshotVersion).
func TestGolden_ProducerSnapshot(t *testing.T) {
	s, txns := sampleStates(), sampleTxns()
	got := hex.Dump(encodeProducerSnapshot(31, &s, &txns))
	golden := filepath.Join("testdata", "golden", "producer-snapshot-v2.txt")
	if os.Getenv("FJORD_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with FJORD_UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("snapshot bytes changed:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzDecodeProducerSnapshot: decoding never panics, and whatever decodes
// re-encodes to bytes that decode to the same state.
func FuzzDecodeProducerSnapshot(f *testing.F) {
	s, txns := sampleStates(), sampleTxns()
	f.Add(encodeProducerSnapshot(31, &s, &txns))
	f.Add(encodeProducerSnapshot(0, &producerStates{m: map[int64]*producerEntry{}}, new(txnState)))
	f.Add([]byte("FJPS\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		off, st, txns, err := decodeProducerSnapshot(b)
		if err != nil {
			return
		}
		off2, st2, txns2, err := decodeProducerSnapshot(encodeProducerSnapshot(off, &st, &txns))
		if err != nil || off2 != off || !reflect.DeepEqual(st.m, st2.m) || !reflect.DeepEqual(txns, txns2) {
			t.Fatalf("re-encoded snapshot differs: %v", err)
		}
	})
}
