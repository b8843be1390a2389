package log

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// injectedLog opens a log on a MemFS behind inj.
func injectedLog(t *testing.T, inj vfs.Injector) (*Log, *vfs.MemFS) {
	t.Helper()
	mem := vfs.NewMem()
	l, err := openOn(vfs.Inject(mem, inj), testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, mem
}

// TestLog_FsyncFailureRefusesWrites: after a failed fsync of segment data
// the page cache's state is unknown (fsyncgate), so Sync reports
// ErrStorage and the log refuses every later write; after a power loss
// the records synced before the failure are all there.
func TestLog_FsyncFailureRefusesWrites(t *testing.T) {
	var fail atomic.Bool
	l, mem := injectedLog(t, func(op vfs.Op) error {
		if op.Kind == vfs.OpSync && strings.HasSuffix(op.Path, logSuffix) && fail.Load() {
			return vfs.ErrInjected
		}
		return nil
	})
	ctx := context.Background()
	var synced [][]byte
	for i := range 20 {
		b := batch(3, "ok", int64(i))
		info := mustAppend(t, l, b, 0)
		if err := l.Sync(ctx, info.LastOffset+1); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		synced = append(synced, b)
	}
	fail.Store(true)
	info := mustAppend(t, l, batch(3, "lost", 0), 0)
	if err := l.Sync(ctx, info.LastOffset+1); !errors.Is(err, ErrStorage) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Sync with a failing fsync: %v, want ErrStorage wrapping the injected error", err)
	}
	if l.FlushedOffset() > info.BaseOffset {
		t.Fatalf("flushed offset %d moved past the failed fsync (batch at %d)", l.FlushedOffset(), info.BaseOffset)
	}
	if _, err := l.Append(batch(1, "refused", 0), 0, -1); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append after a failed fsync: %v, want ErrStorage", err)
	}
	crash(l)
	l2, err := openOn(mem.CrashClone(vfs.CrashOptions{}), testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatalf("Open after the power loss: %v", err)
	}
	defer l2.Close()
	got := readAll(t, l2)
	if len(got) != len(synced) {
		t.Fatalf("%d batches after the power loss, want the %d synced", len(got), len(synced))
	}
}

// TestLog_WriteFailureIsCutBack: a failed segment write (ENOSPC, EIO) is
// reported as ErrStorage and told once to Options.OnFailure, the log end
// offset stays, the failed bytes are cut back, and the log refuses every
// later write (Kafka takes the log directory offline on any write error);
// what was appended before is still read.
func TestLog_WriteFailureIsCutBack(t *testing.T) {
	var writes atomic.Int64
	mem := vfs.NewMem()
	fsys := vfs.Inject(mem, func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite && strings.HasSuffix(op.Path, logSuffix) && writes.Add(1) == 5 {
			return vfs.ErrInjected
		}
		return nil
	})
	var failures []error
	l, err := Open(powerDir, testConfig(), Options{FS: fsys, Now: newClock().Now, OnFailure: func(err error) { failures = append(failures, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 10 {
		leo := l.LogEndOffset()
		_, err := l.Append(batch(2, "w", int64(i)), 0, -1)
		switch {
		case i < 4 && err != nil:
			t.Fatalf("append %d: %v", i, err)
		case i >= 4 && (!errors.Is(err, ErrStorage) || l.LogEndOffset() != leo):
			t.Fatalf("append %d after a failed write: %v, log end %d -> %d", i, err, leo, l.LogEndOffset())
		}
	}
	if len(failures) != 1 || !errors.Is(failures[0], vfs.ErrInjected) {
		t.Fatalf("OnFailure told %v, want the injected error once", failures)
	}
	if got := readAll(t, l); len(got) != 4 {
		t.Fatalf("%d batches, want 4", len(got))
	}
	if fi, err := mem.Stat(powerDir + "/00000000000000000000.log"); err != nil || fi.Size() != 4*int64(len(batch(2, "w", 0))) {
		t.Fatalf("segment: %v, %v: the failed write was not cut back", fi, err)
	}
}

// TestLog_OpenMakesNewFolderDurable: a log whose folder Open created
// survives a power loss right after its first synced append: the new
// folders' names were fsynced in their parents.
func TestLog_OpenMakesNewFolderDurable(t *testing.T) {
	mem := vfs.NewMem()
	l, err := openOn(mem, testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	info := mustAppend(t, l, batch(2, "first", 0), 0)
	if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l2, err := openOn(mem.CrashClone(vfs.CrashOptions{}), testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := readAll(t, l2); len(got) != 1 {
		t.Fatalf("%d batches after the power loss, want 1\n%s", len(got), mem)
	}
}
