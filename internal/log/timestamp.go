package log

import (
	"errors"
	"fmt"

	"github.com/fjordstream/fjord/internal/record"
)

// OffsetForTimestamp finds the earliest record at or after the log start
// offset whose timestamp is >= ts, as ListOffsets does for a timestamp: it
// picks the first segment whose largest timestamp reaches ts, starts from
// the time index entry below ts and scans batches, then records.
// LogAppendTime batches give every record the batch's maxTimestamp.
// ok is false when no record qualifies.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, false, ErrClosed
	}
	for _, s := range l.segs {
		if s.maxTS < ts || s.next <= l.lso {
			continue
		}
		off, t, found, err := l.findInSegment(s, ts)
		if errors.Is(err, errBadIndex) {
			l.logger.Warn("log: rebuilt indexes that pointed at the wrong batch", "segment", s.path(logSuffix), "error", err.Error())
			if err = s.rebuildIndexes(l.cfg.IndexIntervalBytes, l.hdrBuf[:]); err == nil {
				if werr := s.writeIndexes(false); werr != nil {
					l.logger.Warn("log: rewriting index files failed", "segment", s.path(logSuffix), "error", werr.Error())
				}
				off, t, found, err = l.findInSegment(s, ts)
			}
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: segment %d: %w", ErrStorage, s.base, err)
		}
		if found {
			return off, t, true, nil
		}
	}
	return 0, 0, false, nil
}

// findInSegment scans s for the first record with timestamp >= ts at or
// after the log start offset. Caller holds mu.
func (l *Log) findInSegment(s *segment, ts int64) (int64, int64, bool, error) {
	start := max(l.lso, s.base)
	if e, ok := s.tindex.lastBelow(ts); ok {
		// Every batch up to and including the one at e has timestamps
		// below ts, so the answer lies after it.
		start = max(start, s.base+int64(e.rel))
		pos, h, found, err := s.locate(s.base+int64(e.rel), l.hdrBuf[:])
		if err != nil {
			return 0, 0, false, err
		}
		if !found || h.BaseOffset != s.base+int64(e.rel) || h.MaxTimestamp != e.ts {
			return 0, 0, false, fmt.Errorf("time index entry (%d, %d) finds batch %d with timestamp %d at %d: %w",
				e.ts, e.rel, h.BaseOffset, h.MaxTimestamp, pos, errBadIndex)
		}
	}
	pos, _, found, err := s.locate(start, l.hdrBuf[:])
	if err != nil || !found {
		return 0, 0, false, err
	}
	for pos < s.size {
		h, err := s.readHeader(pos, l.hdrBuf[:])
		if err != nil {
			return 0, 0, false, err
		}
		// An empty batch (a producer's last batch kept by the cleaner)
		// holds no record to answer with, as Kafka skips it.
		if h.MaxTimestamp >= ts && h.NumRecords > 0 {
			if h.TimestampType() == record.LogAppendTime {
				return max(h.BaseOffset, l.lso), h.MaxTimestamp, true, nil
			}
			off, t, ok, err := l.firstRecordAtOrAfter(s, pos, h, ts)
			if err != nil || ok {
				return off, t, ok, err
			}
		}
		pos += h.Size()
	}
	return 0, 0, false, nil
}

// firstRecordAtOrAfter walks the records of the batch at pos for the first
// one at or after the log start offset with timestamp >= ts.
func (l *Log) firstRecordAtOrAfter(s *segment, pos int64, h record.Header, ts int64) (int64, int64, bool, error) {
	if int64(cap(l.scratch)) < h.Size() {
		l.scratch = make([]byte, h.Size())
	}
	b := l.scratch[:h.Size()]
	if err := readFull(s.f, b, pos); err != nil {
		return 0, 0, false, err
	}
	var off, t int64
	found := false
	// Any client can ask for this: the batch is inflated within the
	// decompression budget, streaming when large, never whole.
	err := record.WalkTimestamps(b, l.decomp, func(od int32, rt int64) bool {
		o := h.BaseOffset + int64(od)
		if o >= l.lso && rt >= ts {
			off, t, found = o, rt, true
			return false
		}
		return true
	})
	return off, t, found, err
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets MAX_TIMESTAMP), or (-1, -1)
// for a log without timestamps.
func (l *Log) MaxTimestamp() (timestamp int64, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return record.NoTimestamp, -1
	}
	var best *segment
	for _, s := range l.segs {
		if s.maxTS >= 0 && s.next > l.lso && (best == nil || s.maxTS > best.maxTS) {
			best = s
		}
	}
	if best == nil {
		return record.NoTimestamp, -1
	}
	off, ts := best.maxTSOffset, best.maxTS
	pos, h, found, err := best.locate(off, l.hdrBuf[:])
	if err != nil || !found || h.BaseOffset != off || h.TimestampType() == record.LogAppendTime {
		return ts, max(off, l.lso)
	}
	if o, t, ok, err := l.firstRecordAtOrAfter(best, pos, h, ts); err == nil && ok && t == ts {
		return ts, o
	}
	return ts, max(off, l.lso)
}
