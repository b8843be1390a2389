package log

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

// segmentSeeds returns segment files for the fuzz corpus: valid segments
// of every codec, a torn one and one with a flipped byte.
func segmentSeeds() [][]byte {
	var valid []byte
	for i := range 6 {
		recs := []record.Record{{Key: []byte("k"), Value: []byte("value")}, {OffsetDelta: 1, Value: nil}}
		b := record.Build(recs, record.BuildOptions{Codec: record.Codec(i % 5), BaseTimestamp: int64(i), BaseOffset: int64(2 * i), PartitionLeaderEpoch: int32(i / 2)})
		valid = append(valid, b...)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/3] ^= 0x10
	// A header-only batch, as the cleaner leaves for a producer whose
	// records were all compacted away, between two record batches.
	h, err := record.PeekHeader(valid)
	if err != nil {
		panic(err)
	}
	h.BaseOffset, h.LastOffsetDelta, h.PartitionLeaderEpoch = 12, 0, 2
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = 7, 1, 3
	withEmpty := append(append(bytes.Clone(valid), emptyBatch(h, 12)...),
		record.Build([]record.Record{{Key: []byte("k")}}, record.BuildOptions{BaseOffset: 13, PartitionLeaderEpoch: 2})...)
	return [][]byte{valid, valid[:len(valid)-9], flipped, valid[:40], nil, withEmpty}
}

// FuzzRecoverSegment writes arbitrary bytes as the only segment of a log
// with no checkpoint and opens it. Invariants: Open never panics or fails;
// what remains reads back as valid, contiguous batches from offset 0; the
// log takes an append; and a reopen finds the same log end offset without
// repairing anything.
func FuzzRecoverSegment(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newEnv(t, testConfig())
		if err := os.WriteFile(filepath.Join(e.dir, segmentName(0)+logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := e.openErr()
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if l.LogStartOffset() != 0 {
			t.Fatalf("log start %d", l.LogStartOffset())
		}
		got := readAll(t, l)
		var size int
		for _, b := range got {
			size += len(b)
		}
		if !bytes.HasPrefix(data, bytes.Join(got, nil)) {
			t.Fatal("recovered batches are not a prefix of the segment")
		}
		if size < len(data) && !strings.Contains(e.logs.String(), "bytes_dropped") {
			t.Fatalf("%d bytes dropped without a report", len(data)-size)
		}
		info := mustAppend(t, l, batch(1, "fuzz", 0), l.LatestEpoch()+1)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		before := len(e.logs.String())
		l = e.open()
		defer l.Close()
		if l.LogEndOffset() != info.LastOffset+1 {
			t.Fatalf("reopen: leo %d, want %d", l.LogEndOffset(), info.LastOffset+1)
		}
		if w := e.logs.String()[before:]; strings.Contains(w, "WARN") {
			t.Fatalf("second open repaired something:\n%s", w)
		}
	})
}
