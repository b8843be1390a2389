package log

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Roll starts a new segment at the log end offset, unless the active
// segment is empty.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.active().size == 0 {
		return nil
	}
	return l.rollAt(l.leo)
}

// MaybeRoll rolls the active segment if it is older than segment.ms or its
// index is full; callers tick it so idle partitions roll too.
func (l *Log) MaybeRoll(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	s := l.active()
	if s.size > 0 && (l.tooOld(s, now) || s.indexFull(l.cfg.SegmentIndexBytes)) {
		return l.rollAt(l.leo)
	}
	return nil
}

func (l *Log) tooOld(s *segment, now time.Time) bool {
	return l.cfg.SegmentMs > 0 && !s.firstAppend.IsZero() && now.Sub(s.firstAppend) > l.cfg.SegmentMs
}

// maybeRollFor rolls before appending n bytes ending at offset last when
// Kafka would: segment.bytes exceeded, segment.ms elapsed, index full, or
// relative offsets/positions overflowing. Caller holds mu.
func (l *Log) maybeRollFor(n, last int64, now time.Time) (bool, error) {
	s := l.active()
	if s.size == 0 {
		return false, nil
	}
	if s.size+n <= l.cfg.SegmentBytes && !l.tooOld(s, now) && !s.indexFull(l.cfg.SegmentIndexBytes) && s.fits(n, last) {
		return false, nil
	}
	return true, l.rollAt(l.leo)
}

// rollAt makes a new empty active segment at base. An empty active segment
// is replaced; a non-empty one gets its index files written (fsynced later
// with its data by the flush path, or rebuilt by recovery). Caller holds mu.
func (l *Log) rollAt(base int64) error {
	old := l.active()
	if old.size == 0 {
		if old.base == base {
			return nil
		}
		if err := old.remove(); err != nil {
			l.fail(err)
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		l.segs = l.segs[:len(l.segs)-1]
		l.dirtySegs = slices.DeleteFunc(l.dirtySegs, func(d *segment) bool { return d == old })
	} else if err := old.writeIndexes(false); err != nil {
		l.logger.Warn("log: writing index files at roll failed; recovery will rebuild them", "segment", old.path(logSuffix), "error", err.Error())
	}
	s, err := createSegment(l.fs, l.dir, base)
	if err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	l.segs = append(l.segs, s)
	l.dirDirty = true
	return nil
}

// EnforceRetention deletes the oldest segments as Kafka does, in this
// order: those whose largest timestamp is older than retention.ms, those
// that take the log over retention.bytes, and those wholly below the log
// start offset; the first two only when cleanup.policy includes delete.
// The active segment is deleted too when it qualifies and is
// not empty (a new one is rolled first). The log start offset moves to the
// first remaining segment and is persisted. It returns how many segments
// were deleted.
func (l *Log) EnforceRetention(now time.Time) (int, error) {
	return l.EnforceRetentionBelow(now, math.MaxInt64)
}

// EnforceRetentionBelow is EnforceRetention deleting only segments wholly
// below bound: a partition passes the first offset of its oldest open
// transaction, whose records a read_committed consumer has not been
// allowed to read yet.
func (l *Log) EnforceRetentionBelow(now time.Time, bound int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	deleted := 0
	timeAndSize := l.cfg.CleanupPolicy&PolicyDelete != 0
	if timeAndSize && l.cfg.RetentionMs >= 0 {
		limit := now.Add(-l.cfg.RetentionMs).UnixMilli()
		n := l.countOldest(bound, func(s *segment) bool { return l.largestTimestamp(s) < limit })
		if err := l.deleteOldest(n); err != nil {
			return deleted, err
		}
		deleted += n
	}
	if timeAndSize && l.cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range l.segs {
			total += s.size
		}
		diff := total - l.cfg.RetentionBytes
		n := l.countOldest(bound, func(s *segment) bool {
			if diff-s.size < 0 {
				return false
			}
			diff -= s.size
			return true
		})
		if err := l.deleteOldest(n); err != nil {
			return deleted, err
		}
		deleted += n
	}
	n, err := l.deleteBelowStart()
	return deleted + n, err
}

// largestTimestamp is the segment's largest batch timestamp, or its file's
// modification time when no batch has one (as Kafka does).
func (l *Log) largestTimestamp(s *segment) int64 {
	if s.maxTS >= 0 {
		return s.maxTS
	}
	if st, err := s.f.Stat(); err == nil {
		return st.ModTime().UnixMilli()
	}
	return l.now().UnixMilli()
}

// countOldest counts the leading non-empty segments wholly below bound
// for which del holds.
func (l *Log) countOldest(bound int64, del func(*segment) bool) int {
	n := 0
	for _, s := range l.segs {
		if s.size == 0 || s.next > bound || !del(s) {
			break
		}
		n++
	}
	return n
}

// deleteBelowStart deletes segments holding only offsets below the log
// start offset. Caller holds mu.
func (l *Log) deleteBelowStart() (int, error) {
	n := l.countOldest(math.MaxInt64, func(s *segment) bool { return s.next <= l.lso })
	return n, l.deleteOldest(n)
}

// deleteOldest deletes the n oldest segments, rolling first when that is
// all of them, advances the log start offset to the first remaining
// segment and persists it. Caller holds mu.
func (l *Log) deleteOldest(n int) error {
	if n == 0 {
		return nil
	}
	if n == len(l.segs) {
		if err := l.rollAt(l.leo); err != nil {
			return err
		}
	}
	var firstErr error
	for _, s := range l.segs[:n] {
		if err := s.remove(); err != nil && firstErr == nil {
			firstErr = err
		}
		l.dirtySegs = slices.DeleteFunc(l.dirtySegs, func(d *segment) bool { return d == s })
	}
	l.segs = append(l.segs[:0], l.segs[n:]...)
	l.lso = max(l.lso, l.segs[0].base)
	l.dirDirty = true
	if l.epochs.truncateFromStart(l.lso) {
		l.persistEpochs()
	}
	if err := l.writeCheckpoint(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		l.fail(fmt.Errorf("deleting segments: %w", firstErr))
		return fmt.Errorf("%w: deleting segments: %w", ErrStorage, firstErr)
	}
	return nil
}

// DeleteRecordsBefore advances the log start offset to offset (persisted
// before it returns) and deletes the segments wholly below it. Checking
// offset against the high watermark is the caller's job; past the log end
// offset it is ErrOffsetOutOfRange. A lower offset than the current start
// is a no-op.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset > l.leo || offset < 0 {
		return fmt.Errorf("%w: delete before %d, log end %d", ErrOffsetOutOfRange, offset, l.leo)
	}
	if offset <= l.lso {
		return nil
	}
	l.lso = offset
	if l.epochs.truncateFromStart(offset) {
		l.persistEpochs()
	}
	n, err := l.deleteBelowStart()
	if err != nil {
		return err
	}
	if n == 0 {
		return l.writeCheckpoint()
	}
	return nil
}

// Truncate removes every batch holding an offset >= to: later segments
// are deleted and the segment holding to is cut at the start of the batch
// that holds it, so the log end offset becomes that batch's base offset
// (to itself when to is a batch boundary). A to below the log start offset
// empties the log and restarts it at to. The cut is fsynced and the
// checkpoint and leader epoch cache updated before it returns.
func (l *Log) Truncate(to int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if to < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, to)
	}
	if to >= l.leo {
		// Nothing to cut, but an epoch entry may start at the log end: a
		// replica that became leader (AssignEpoch) and lost leadership
		// before appending holds an epoch its new leader never had.
		// Left there, it makes the leader's older batches look out of
		// order and the follower stuck (Kafka trims the cache here too).
		if l.epochs.truncateFromEnd(l.leo) {
			l.persistEpochs()
		}
		return nil
	}
	l.truncGen++
	if to < l.lso {
		return l.truncateFully(to)
	}
	i := len(l.segs) - 1
	for i > 0 && l.segs[i].base > to {
		i--
	}
	for _, s := range l.segs[i+1:] {
		if err := s.remove(); err != nil {
			l.fail(err)
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		l.dirtySegs = slices.DeleteFunc(l.dirtySegs, func(d *segment) bool { return d == s })
	}
	l.segs = l.segs[:i+1]
	s := l.active()
	pos, _, found, err := s.locate(to, l.hdrBuf[:])
	if err != nil {
		if err = s.rebuildIndexes(l.cfg.IndexIntervalBytes, l.hdrBuf[:]); err == nil {
			pos, _, found, err = s.locate(to, l.hdrBuf[:])
		}
	}
	if err != nil {
		l.fail(err)
		return fmt.Errorf("%w: truncate segment %d: %w", ErrStorage, s.base, err)
	}
	if found {
		if err := l.cutSegment(s, pos); err != nil {
			return err
		}
	}
	s.dropTxnsFrom(s.next)
	l.leo = s.next
	l.firstDirty = min(l.firstDirty, l.leo)
	if l.flushed.Load() > l.leo {
		l.flushed.Store(l.leo)
	}
	l.lso = min(l.lso, l.leo)
	if l.epochs.truncateFromEnd(l.leo) {
		l.persistEpochs()
	}
	return l.writeCheckpoint()
}

// cutSegment truncates s's file at pos, fsyncs it and re-derives the
// indexes. Caller holds mu.
func (l *Log) cutSegment(s *segment, pos int64) error {
	if err := s.f.Truncate(pos); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: truncate segment %d: %w", ErrStorage, s.base, err)
	}
	if err := s.f.Sync(); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: fsync segment %d: %w", ErrStorage, s.base, err)
	}
	s.size = pos
	if s.size == 0 {
		s.firstAppend = time.Time{}
	}
	if err := s.rebuildIndexes(l.cfg.IndexIntervalBytes, l.hdrBuf[:]); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if err := s.writeIndexes(false); err != nil {
		l.logger.Warn("log: rewriting index files after truncation failed", "segment", s.path(logSuffix), "error", err.Error())
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the empty log
// at offset start, which becomes both log start and log end offset (a
// follower that fell behind the leader's log start offset). Persisted
// before it returns.
func (l *Log) TruncateFullyAndStartAt(start int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if start < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, start)
	}
	l.truncGen++
	return l.truncateFully(start)
}

// truncateFully deletes every segment and restarts the log at offset
// start (Kafka's truncateFullyAndStartAt). Caller holds mu.
func (l *Log) truncateFully(start int64) error {
	for _, s := range l.segs {
		if err := s.remove(); err != nil {
			l.fail(err)
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	l.segs, l.dirtySegs = l.segs[:0], l.dirtySegs[:0]
	s, err := createSegment(l.fs, l.dir, start)
	if err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	l.segs = append(l.segs, s)
	if err := syncDir(l.fs, l.dir); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	l.lso, l.leo = start, start
	l.firstDirty = start
	l.flushed.Store(start)
	l.epochs = epochCache{}
	l.persistEpochs()
	return l.writeCheckpoint()
}
