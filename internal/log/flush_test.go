package log

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLog_GroupCommit holds the first fsync until every writer has
// appended: the next fsync must then cover all of them, so there are at
// most two fsyncs for n appends, and every Sync returns with its offsets
// below FlushedOffset.
func TestLog_GroupCommit(t *testing.T) {
	const writers = 16
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	if !l.DurableOnAppend() {
		t.Fatal("flush.messages=1 should require Sync")
	}
	var appended sync.WaitGroup
	appended.Add(writers)
	var first atomic.Bool
	l.beforeFsync = func() {
		if first.CompareAndSwap(false, true) {
			appended.Wait()
		}
	}
	start := l.Stats().Fsyncs
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			info, err := l.Append(batch(2, "g", 0), 0, -1)
			appended.Done()
			if err != nil {
				errs <- err
				return
			}
			if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
				errs <- err
				return
			}
			if f := l.FlushedOffset(); f <= info.LastOffset {
				errs <- errors.New("Sync returned before its offsets were flushed")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := l.Stats().Fsyncs - start; n < 1 || n > 2 {
		t.Fatalf("%d fsyncs for %d appends, want 1 or 2", n, writers)
	}
}

// TestLog_ConcurrentAppendSyncRead stresses appends, syncs, reads and
// rolls together (run with -race); it checks correctness only.
func TestLog_ConcurrentAppendSyncRead(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	const writers, perWriter = 4, 40
	var wg sync.WaitGroup
	var appends atomic.Int64
	for range writers {
		wg.Go(func() {
			for range perWriter {
				info, err := l.Append(batch(3, "c", 0), 0, -1)
				if err != nil {
					t.Error(err)
					return
				}
				appends.Add(1)
				if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
					t.Error(err)
					return
				}
				if l.FlushedOffset() <= info.LastOffset {
					t.Error("flushed offset behind a synced append")
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			leo := l.LogEndOffset()
			for off := int64(0); off < leo; {
				b, err := l.Read(off, 1024, leo, true, nil)
				if err != nil || len(b) == 0 {
					t.Errorf("Read(%d) below %d: %d bytes, %v", off, leo, len(b), err)
					return
				}
				for len(b) > 0 {
					n := batchSize(b)
					off = batchNext(b)
					b = b[n:]
				}
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	if got := len(readAll(t, l)); got != writers*perWriter {
		t.Fatalf("%d batches, want %d", got, writers*perWriter)
	}
	if f, a := l.Stats().Fsyncs, appends.Load(); f > a {
		t.Fatalf("%d fsyncs for %d appends", f, a)
	}
}

func TestLog_SyncContextAndFlushIfDue(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 10
	cfg.FlushMs = time.Second
	e := newEnv(t, cfg)
	l := e.open()
	defer l.Close()
	if l.DurableOnAppend() {
		t.Fatal("flush.messages=10 is not durable on append")
	}
	mustAppend(t, l, batch(4, "f", 0), 0)
	if err := l.FlushIfDue(e.clock.Now()); err != nil || l.FlushedOffset() != 0 {
		t.Fatalf("flushed early: %v %d", err, l.FlushedOffset())
	}
	mustAppend(t, l, batch(6, "f", 0), 0)
	if err := l.FlushIfDue(e.clock.Now()); err != nil || l.FlushedOffset() != 10 {
		t.Fatalf("flush.messages not honoured: %v %d", err, l.FlushedOffset())
	}
	mustAppend(t, l, batch(1, "f", 0), 0)
	if err := l.FlushIfDue(e.clock.Now().Add(999 * time.Millisecond)); err != nil || l.FlushedOffset() != 10 {
		t.Fatalf("flushed before flush.ms: %v %d", err, l.FlushedOffset())
	}
	if err := l.FlushIfDue(e.clock.Now().Add(time.Second)); err != nil || l.FlushedOffset() != 11 {
		t.Fatalf("flush.ms not honoured: %v %d", err, l.FlushedOffset())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mustAppend(t, l, batch(1, "f", 0), 0)
	if err := l.Sync(ctx, 12); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context: %v", err)
	}
	if err := l.Sync(context.Background(), 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Sync past the log end: %v", err)
	}
}
