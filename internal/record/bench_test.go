package record

import (
	"testing"
)

// BenchmarkValidate measures validation of one produce partition of four
// 16-record batches with 1 KiB values. The uncompressed case must report
// 0 allocs/op.
func BenchmarkValidate(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec Codec
	}{{"none", CodecNone}, {"lz4", CodecLZ4}, {"zstd", CodecZstd}} {
		b.Run(c.name, func(b *testing.B) {
			var batches []byte
			for range 4 {
				batches = append(batches, Build(testRecords(16, 1024), BuildOptions{Codec: c.codec})...)
			}
			opts := ValidateOptions{Decompressor: NewDecompressor(0), MaxBatchBytes: 1 << 20}
			b.SetBytes(int64(len(batches)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batches, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestValidate_UncompressedDoesNotAllocate(t *testing.T) {
	batches := Build(testRecords(16, 100), BuildOptions{})
	opts := ValidateOptions{Decompressor: NewDecompressor(0)}
	if n := testing.AllocsPerRun(50, func() {
		if _, err := Validate(batches, opts); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per uncompressed Validate", n)
	}
}
