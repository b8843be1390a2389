package log

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fjordstream/fjord/internal/vfs"
)

// Sync returns once every offset below upTo is fsynced (or ctx ends).
// Concurrent callers share fsyncs (group commit): while one fsync runs,
// later callers wait for it, and the next fsync, run by one of them, covers
// everything appended by then. No goroutine is started; the caller that
// finds no fsync running performs it.
func (l *Log) Sync(ctx context.Context, upTo int64) error {
	for {
		if l.flushed.Load() >= upTo {
			return nil
		}
		l.syncMu.Lock()
		if l.flushed.Load() >= upTo {
			l.syncMu.Unlock()
			return nil
		}
		if l.syncRunning {
			done := l.syncDone
			l.syncMu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			l.syncMu.Unlock()
			return err
		}
		l.syncRunning = true
		l.syncDone = make(chan struct{})
		l.syncMu.Unlock()

		target, err := l.flushNow()

		l.syncMu.Lock()
		l.syncRunning = false
		close(l.syncDone)
		l.syncMu.Unlock()
		if err != nil {
			return err
		}
		if l.flushed.Load() >= upTo {
			return nil
		}
		if target < upTo {
			// upTo is past the log end offset (or the log was cut):
			// nothing more can be flushed for it.
			return fmt.Errorf("%w: sync up to %d, log end offset %d", ErrOffsetOutOfRange, upTo, target)
		}
	}
}

// flushNow fsyncs every segment holding unflushed data up to the current
// log end offset and advances the flushed offset. Only one runs at a time
// (Sync's syncRunning); it holds mu only to collect files and to publish.
func (l *Log) flushNow() (int64, error) {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	target, gen := l.leo, l.truncGen
	files := l.syncFiles[:0]
	var indexFiles []string // of segments rolled since the last flush
	for _, s := range l.dirtySegs {
		files = append(files, s.f)
		if s != l.active() {
			indexFiles = append(indexFiles, s.path(indexSuffix), s.path(timeIndexSuffix))
		}
	}
	rolled := len(l.dirtySegs) > 1
	dirDirty := l.dirDirty
	l.dirDirty = false
	// Segments written after this point are re-added by write.
	l.dirtySegs = l.dirtySegs[:0]
	l.mu.Unlock()
	l.syncFiles = files

	if l.beforeFsync != nil {
		l.beforeFsync()
	}
	var err error
	started := time.Now()
	for _, f := range files {
		// A segment deleted meanwhile (retention, truncation) needs no
		// durability: ignore its closed file.
		if ferr := f.Sync(); ferr != nil && !errors.Is(ferr, os.ErrClosed) {
			err = ferr
			break
		}
	}
	for _, p := range indexFiles {
		if err != nil {
			break
		}
		err = syncFile(l.fs, p)
	}
	if err == nil && dirDirty {
		err = syncDir(l.fs, l.dir)
	}
	clear(files)
	l.fsyncs.Add(1)
	if l.onFsync != nil {
		l.onFsync(time.Since(started))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// After a failed fsync the page cache state is unknown
		// (fsyncgate): refuse further writes.
		l.fail(err)
		return 0, fmt.Errorf("%w: fsync: %w", ErrStorage, err)
	}
	if l.truncGen != gen {
		// A truncation raced with the fsync: what was synced may be gone
		// and rewritten; let the next round decide.
		l.dirDirty = true
		for _, s := range l.segs {
			if !containsSeg(l.dirtySegs, s) {
				l.dirtySegs = append(l.dirtySegs, s)
			}
		}
		return target, nil
	}
	if target > l.flushed.Load() {
		l.flushed.Store(target)
	}
	if l.leo == target {
		l.unflushedAt = time.Time{}
	} else {
		l.unflushedAt = l.now()
	}
	if rolled && !l.closed {
		// Whole segments became durable: move the recovery point so a
		// crash does not rescan them.
		if cerr := l.writeCheckpoint(); cerr != nil {
			l.fail(cerr)
		}
	}
	return target, nil
}

func containsSeg(list []*segment, s *segment) bool {
	for _, d := range list {
		if d == s {
			return true
		}
	}
	return false
}

// FlushIfDue fsyncs when flush.messages (> 1) messages are unflushed or the
// oldest unflushed append is older than flush.ms; the caller ticks it.
// With neither set it does nothing (Kafka's page-cache durability).
func (l *Log) FlushIfDue(now time.Time) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	leo, flushed := l.leo, l.flushed.Load()
	due := leo > flushed &&
		((l.cfg.FlushMessages > 1 && leo-flushed >= l.cfg.FlushMessages) ||
			(l.cfg.FlushMs > 0 && !l.unflushedAt.IsZero() && now.Sub(l.unflushedAt) >= l.cfg.FlushMs))
	l.mu.Unlock()
	if !due {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return l.Sync(ctx, leo)
}

// syncFile fsyncs the file at path; a missing file (deleted meanwhile, or
// never written because writing it failed) needs no durability.
func syncFile(fsys vfs.FS, path string) error {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
