package log

import (
	"context"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

// benchBatch is a 16-record batch of 1 KiB values.
func benchBatch() []byte {
	recs := make([]record.Record, 16)
	for i := range recs {
		v := make([]byte, 1024)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte("key"), Value: v}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: 1})
}

// BenchmarkAppend appends 16 x 1 KiB batches; "sync" also waits for each
// append's fsync, as flush.messages=1 does.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "nosync"
		if sync {
			name = "sync"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, DefaultConfig())
			l := e.open()
			defer l.Close()
			batch := benchBatch()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				// Append rewrites the offset in place, so the same
				// buffer serves every iteration.
				info, err := l.Append(batch, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if sync {
					if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRead reads a 4 MiB log sequentially in 1 MiB fetches, reusing
// the destination buffer.
func BenchmarkRead(b *testing.B) {
	e := newEnv(b, DefaultConfig())
	l := e.open()
	defer l.Close()
	batch := benchBatch()
	for range 4 << 20 / len(batch) {
		if _, err := l.Append(batch, 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	dst := make([]byte, 0, 2<<20)
	off := int64(0)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		out, err := l.Read(off, 1<<20, leo, true, dst[:0])
		if err != nil || len(out) == 0 {
			b.Fatalf("Read(%d): %d bytes, %v", off, len(out), err)
		}
		off = batchNext(out[len(out)-len(batch):])
		if off >= leo {
			off = 0
		}
	}
}

// BenchmarkReadSlices locates 1 MiB reads without copying them, over
// 16 KiB batches and over 100-byte ones (the worst case for the header
// walk, which is bounded by index.interval.bytes, not by the read size).
func BenchmarkReadSlices(b *testing.B) {
	small := record.Build([]record.Record{{Value: make([]byte, 30)}}, record.BuildOptions{BaseTimestamp: 1})
	for _, c := range []struct {
		name  string
		batch []byte
	}{{"batch=16KiB", benchBatch()}, {"batch=100B", small}} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, DefaultConfig())
			l := e.open()
			defer l.Close()
			for range 4 << 20 / len(c.batch) {
				if _, err := l.Append(c.batch, 0, -1); err != nil {
					b.Fatal(err)
				}
			}
			leo := l.LogEndOffset()
			h, _ := record.PeekHeader(c.batch)
			perBatch, recsPerBatch := int64(len(c.batch)), int64(h.LastOffsetDelta)+1
			off := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				fs, err := l.ReadSlices(off, 1<<20, leo, true)
				if err != nil || fs.Size() == 0 {
					b.Fatalf("ReadSlices(%d): %d bytes, %v", off, fs.Size(), err)
				}
				off += fs.Size() / perBatch * recsPerBatch
				fs.Release()
				if off >= leo {
					off = 0
				}
			}
		})
	}
}
