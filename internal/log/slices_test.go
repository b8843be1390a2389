package log

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// openFDs counts this process's open file descriptors (Linux; elsewhere
// it returns -1 and the comparisons using it always hold).
func openFDs(t interface{ Fatalf(string, ...any) }) int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open files: %v", err)
	}
	return len(ents)
}

// TestLog_ReadSlicesMatchesRead compares ReadSlices with Read for every
// offset and a spread of byte limits and high watermarks, on a log of many
// small segments and a dense index (so the walk starts from index entries).
func TestLog_ReadSlicesMatchesRead(t *testing.T) {
	for _, interval := range []int32{1, 100, 4096} {
		cfg := testConfig()
		cfg.IndexIntervalBytes = interval
		e := newEnv(t, cfg)
		l := e.open()
		for i := range 60 {
			mustAppend(t, l, batch(1+i%4, "s", int64(i)), 0)
		}
		leo := l.LogEndOffset()
		for off := int64(0); off <= leo; off++ {
			for _, maxBytes := range []int32{-1, 0, 1, 150, 400, 1000, 5000} {
				for _, hw := range []int64{off, off + 1, off + 5, leo} {
					for _, minOne := range []bool{false, true} {
						want, err := l.Read(off, maxBytes, hw, minOne, nil)
						if err != nil {
							t.Fatal(err)
						}
						fs, err := l.ReadSlices(off, maxBytes, hw, minOne)
						if err != nil {
							t.Fatal(err)
						}
						got, err := fs.AppendTo(nil)
						if err != nil || !bytes.Equal(got, want) || fs.Size() != int64(len(want)) {
							t.Fatalf("interval %d ReadSlices(%d, %d, %d, %v): %d bytes (size %d), %v; Read %d bytes",
								interval, off, maxBytes, hw, minOne, len(got), fs.Size(), err, len(want))
						}
						if span := offsetSpan(t, want); fs.Records() != span {
							t.Fatalf("interval %d ReadSlices(%d, %d, %d, %v): %d records, the batches span %d",
								interval, off, maxBytes, hw, minOne, fs.Records(), span)
						}
						if (fs == nil) != (len(want) == 0) || len(fs.Slices()) > 1 {
							t.Fatalf("ReadSlices(%d): %d slices for %d bytes", off, len(fs.Slices()), len(want))
						}
						fs.Release()
					}
				}
			}
		}
		if _, err := l.ReadSlices(leo+1, 100, leo+1, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("ReadSlices past the end: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadSlices(0, 100, leo, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadSlices after Close: %v", err)
		}
	}
}

// TestLog_ReadSlicesStaleIndex: an index entry that no longer points at
// the batch it names must not bend the slice; the walk falls back to the
// headers from the first batch.
func TestLog_ReadSlicesStaleIndex(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1 // every batch indexed
	cfg.SegmentBytes = 1 << 20
	e := newEnv(t, cfg)
	l := e.open()
	defer l.Close()
	for i := range 20 {
		mustAppend(t, l, batch(2, "x", int64(i)), 0)
	}
	hw := int64(20) // stop at batch 10 of 20
	want, err := l.Read(0, 1<<20, hw, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	ents := l.segs[0].index.entries
	i := sort.Search(len(ents), func(i int) bool { return ents[i].rel > uint32(hw) }) - 1
	saved := ents[i]
	ents[i].pos = ents[len(ents)-1].pos // names offset hw, points at the last batch
	l.mu.Unlock()
	fs, err := l.ReadSlices(0, 1<<20, hw, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Release()
	got, err := fs.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("slice over a stale index: %d bytes, %v; want %d", len(got), err, len(want))
	}
	l.mu.Lock()
	ents[i] = saved
	l.mu.Unlock()
}

// TestLog_ReadSlicesPinnedThroughDeletion: a pinned read stays readable
// and unchanged after its segment is deleted by retention,
// DeleteRecordsBefore, a full truncation, Close or Delete, and appends
// after the call are not part of it; the files are closed once released.
func TestLog_ReadSlicesPinnedThroughDeletion(t *testing.T) {
	cases := []struct {
		name   string
		remove func(t *testing.T, e *testEnv, l *Log)
	}{
		{"retention", func(t *testing.T, e *testEnv, l *Log) {
			cfg := l.Config()
			cfg.RetentionBytes = 0
			l.SetConfig(cfg)
			if n, err := l.EnforceRetention(e.clock.Now()); err != nil || n == 0 {
				t.Fatalf("EnforceRetention: %d segments, %v", n, err)
			}
		}},
		{"retention.ms", func(t *testing.T, e *testEnv, l *Log) {
			cfg := l.Config()
			cfg.RetentionMs = time.Millisecond
			l.SetConfig(cfg)
			if n, err := l.EnforceRetention(e.clock.Now()); err != nil || n == 0 {
				t.Fatalf("EnforceRetention: %d segments, %v", n, err)
			}
		}},
		{"delete records", func(t *testing.T, e *testEnv, l *Log) {
			if err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncate fully", func(t *testing.T, e *testEnv, l *Log) {
			// Restarting at 0 recreates a segment file of the pinned
			// one's name: it must be a new file.
			if err := l.TruncateFullyAndStartAt(0); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, batch(3, "new", 9), 0)
		}},
		{"close", func(t *testing.T, e *testEnv, l *Log) {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete", func(t *testing.T, e *testEnv, l *Log) {
			if err := l.Delete(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fdsBefore := openFDs(t)
			e := newEnv(t, testConfig())
			l := e.open()
			for i := range 40 {
				mustAppend(t, l, batch(1+i%3, "p", int64(i)), 0)
			}
			leo := l.LogEndOffset()
			var pins []*FileSlices
			var wants [][]byte
			for off := int64(0); off < leo; {
				fs, err := l.ReadSlices(off, 1<<20, leo, true)
				if err != nil || fs == nil {
					t.Fatalf("ReadSlices(%d): %v", off, err)
				}
				want, err := l.Read(off, 1<<20, leo, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				pins, wants = append(pins, fs), append(wants, want)
				off = lastNext(want)
			}
			if len(pins) < 2 {
				t.Fatalf("%d segments pinned, want several", len(pins))
			}
			// Appended after the pins: not part of them.
			mustAppend(t, l, batch(2, "later", 99), 0)
			c.remove(t, e, l)
			for i, fs := range pins {
				got, err := fs.AppendTo(nil)
				if err != nil || !bytes.Equal(got, wants[i]) {
					t.Fatalf("pin %d after removal: %d bytes, %v; want %d", i, len(got), err, len(wants[i]))
				}
			}
			pins[0].Release()
			pins[0].Release() // harmless
			if _, err := pins[0].AppendTo(nil); !errors.Is(err, ErrReleased) {
				t.Fatalf("AppendTo after Release: %v", err)
			}
			for _, fs := range pins[1:] {
				fs.Release()
			}
			l.Close()
			if n := openFDs(t); n != fdsBefore {
				t.Fatalf("%d open files after release and close, %d before", n, fdsBefore)
			}
		})
	}
}

// TestLog_ReadSlicesNilSafe: the empty result is nil and usable.
func TestLog_ReadSlicesNilSafe(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	fs, err := l.ReadSlices(0, 100, 0, true)
	if err != nil || fs != nil {
		t.Fatalf("ReadSlices on an empty log: %v, %v", fs, err)
	}
	if b, err := fs.AppendTo([]byte("x")); err != nil || string(b) != "x" || fs.Size() != 0 || fs.Slices() != nil {
		t.Fatalf("nil FileSlices: %q %v", b, err)
	}
	fs.Release()
}

// lastNext returns the offset after the last batch in b.
func lastNext(b []byte) int64 {
	var next int64
	for len(b) > 0 {
		next = batchNext(b)
		b = b[batchSize(b):]
	}
	return next
}

// offsetSpan is the offsets whole batches cover, first base to last.
func offsetSpan(t *testing.T, batches []byte) int64 {
	t.Helper()
	first, last := int64(-1), int64(-1)
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err != nil {
			t.Fatal(err)
		}
		if first < 0 {
			first = h.BaseOffset
		}
		last = h.LastOffset()
		pos += int(h.Size())
	}
	if first < 0 {
		return 0
	}
	return last - first + 1
}
