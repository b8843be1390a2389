package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// seedBatches returns valid batches of every codec plus truncated and
// bit-flipped variants: the seeds of FuzzValidate, also written to
// testdata/fuzz/FuzzValidate by TestWriteFuzzSeeds.
func seedBatches() map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range allCodecs {
		b := Build(testRecords(4, 16), BuildOptions{Codec: c.codec, XerialSnappy: c.xerial, BaseTimestamp: 1000, ProducerID: 1, BaseSequence: 0})
		seeds["valid-"+c.name] = b
		seeds["two-"+c.name] = append(append([]byte(nil), b...), b...)
		seeds["truncated-"+c.name] = b[:len(b)-7]
		seeds["header-only-"+c.name] = b[:HeaderSize]
		flipped := append([]byte(nil), b...)
		flipped[len(flipped)/2] ^= 0x40
		seeds["flipped-"+c.name] = flipped
	}
	return seeds
}

// FuzzValidate feeds arbitrary bytes to Validate. Invariants: it never
// panics; when it accepts the input, the batches tile the input exactly,
// each parses and CRC-checks, the counts add up, and Records decodes them.
func FuzzValidate(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b)
	}
	d := NewDecompressor(1 << 20)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Validate(b, ValidateOptions{Decompressor: d, RequireKeys: len(b)%2 == 0})
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var batches int
		var records int64
		for pos := 0; pos < len(b); {
			h, err := ParseHeader(b[pos:])
			if err != nil {
				t.Fatalf("accepted input, batch at %d: %v", pos, err)
			}
			if !CheckCRC(b[pos : pos+int(h.Size())]) {
				t.Fatalf("accepted input, batch at %d fails CRC", pos)
			}
			_, recs, err := Records(b[pos : pos+int(h.Size())])
			if err != nil || len(recs) != int(h.NumRecords) {
				t.Fatalf("accepted batch at %d: Records %d, %v", pos, len(recs), err)
			}
			batches++
			records += int64(h.NumRecords)
			pos += int(h.Size())
		}
		if batches != s.Batches || records != s.Records || s.Bytes != len(b) {
			t.Fatalf("summary %+v, counted %d batches %d records", s, batches, records)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrCorrupt, ErrInvalidRecord, ErrRecordTooLarge, ErrUnsupportedMagic, ErrInvalidTimestamp, ErrNoKey} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzValidate from seedBatches
// when FJORD_WRITE_FUZZ_SEEDS=1; otherwise it checks the stored seeds exist.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzValidate")
	if os.Getenv("FJORD_WRITE_FUZZ_SEEDS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("seed corpus missing in %s (run with FJORD_WRITE_FUZZ_SEEDS=1): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seedBatches() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzPeekBatch: PeekBatch never panics, frames only whole batches of a
// known magic, and errs only with ErrCorrupt.
func FuzzPeekBatch(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		size, magic, ok, err := PeekBatch(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || ok {
				t.Fatalf("error %v with ok %v", err, ok)
			}
			return
		}
		if ok && (size < LengthOverhead+legacyRecordOverhead || size > int64(len(b)) || magic < 0 || magic > Magic) {
			t.Fatalf("framed size %d magic %d in %d bytes", size, magic, len(b))
		}
	})
}
