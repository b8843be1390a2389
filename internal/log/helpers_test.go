package log

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig is a small-segment config that exercises rolls and indexes.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4 << 10
	c.IndexIntervalBytes = 256
	c.SegmentIndexBytes = 1 << 10
	c.RetentionMs = -1
	return c
}

type testEnv struct {
	t     testing.TB
	dir   string
	cfg   Config
	clock *fakeClock
	logs  *syncBuffer
	// decomp is shared by every open of the env; tests running many envs
	// share one to spare the decoders' large buffers.
	decomp *record.Decompressor
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	return &testEnv{t: t, dir: t.TempDir(), cfg: cfg, clock: newClock(), logs: &syncBuffer{}, decomp: record.NewDecompressor(0)}
}

func (e *testEnv) open() *Log {
	e.t.Helper()
	l, err := e.openErr()
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return l
}

func (e *testEnv) openErr() (*Log, error) {
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return Open(e.dir, e.cfg, Options{Logger: logger, Now: e.clock.Now, Decompressor: e.decomp})
}

// crash closes l's files without the clean-shutdown work (no fsync, no
// index files, no checkpoint), as a killed process would leave them.
func crash(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		s.close()
	}
}

// batch builds an uncompressed batch of n records whose values encode tag;
// record i has timestamp ts+i.
func batch(n int, tag string, ts int64) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i),
			Key:            []byte(fmt.Sprintf("k%d", i)),
			Value:          []byte(fmt.Sprintf("%s-%d-%s", tag, i, bytes.Repeat([]byte{'v'}, 20))),
		}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: ts})
}

// mustAppend appends b and returns its info.
func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) AppendInfo {
	t.Helper()
	info, err := l.Append(b, epoch, -1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return info
}

// readAll reads every batch from the log start offset to the end and
// checks each is valid and the offsets are contiguous.
func readAll(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	d := l.decomp
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	for off < leo {
		b, err := l.Read(off, 1<<20, leo, true, nil)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d) empty below log end %d", off, leo)
		}
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			// As recovery checks: empty batches are the cleaner's.
			if err := validateStored(b[:h.Size()], d); err != nil {
				t.Fatalf("batch at offset %d invalid: %v", h.BaseOffset, err)
			}
			if h.LastOffset() < off || (len(out) > 0 && h.BaseOffset != off) {
				t.Fatalf("batch %d-%d read at offset %d", h.BaseOffset, h.LastOffset(), off)
			}
			out = append(out, b[:h.Size()])
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

func batchSize(b []byte) int {
	h, err := record.PeekHeader(b)
	if err != nil {
		panic(err)
	}
	return int(h.Size())
}

func batchNext(b []byte) int64 {
	h, err := record.PeekHeader(b)
	if err != nil {
		panic(err)
	}
	return h.NextOffset()
}
