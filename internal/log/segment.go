package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// File name suffixes of a segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// errBadIndex: an index entry does not point at the batch it names. The
// caller rebuilds the segment's indexes.
var errBadIndex = errors.New("index entry does not match the log")

// segment is one <base>.log file with its in-memory indexes. All fields are
// guarded by Log.mu; f itself is safe for concurrent ReadAt. f is closed
// through ref only (close), never directly: reads pinned by ReadSlices may
// still be using it after the segment left the log.
type segment struct {
	fs   vfs.FS
	dir  string
	base int64
	f    vfs.File
	ref  *fileRef // counts the log's hold on f and every pinned read

	size int64 // bytes visible to readers (whole batches only)
	next int64 // offset after the last batch (base when empty)

	index  offsetIndex
	tindex timeIndex

	maxTS       int64 // largest batch maxTimestamp, record.NoTimestamp if none
	maxTSOffset int64 // base offset of the first batch carrying maxTS

	bytesSinceIndex int64     // bytes appended since the last index entry
	firstAppend     time.Time // when this process first appended to it (segment.ms)
	indexDirty      bool      // index files lag the in-memory indexes

	txns     []AbortedTxn // aborted transactions whose marker is here (see txnindex.go)
	txnDirty bool         // the .txnindex file lags txns
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base)+suffix)
}

// createSegment creates an empty segment (replacing stale files of the
// same base).
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	s := &segment{fs: fsys, dir: dir, base: base, next: base, maxTS: record.NoTimestamp, maxTSOffset: -1}
	f, err := fsys.OpenFile(s.path(logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment %d: create: %w", base, err)
	}
	s.f, s.ref = f, newFileRef(f)
	for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := fsys.Remove(s.path(suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.close()
			return nil, fmt.Errorf("segment %d: remove stale %s: %w", base, suf, err)
		}
	}
	return s, nil
}

// openSegment opens an existing segment file; indexes are loaded by
// recovery.
func openSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	s := &segment{fs: fsys, dir: dir, base: base, next: base, maxTS: record.NoTimestamp, maxTSOffset: -1}
	f, err := fsys.OpenFile(s.path(logSuffix), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("segment %d: open: %w", base, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment %d: stat: %w", base, err)
	}
	s.f, s.ref, s.size = f, newFileRef(f), st.Size()
	return s, nil
}

// resetIndexes forgets everything derived from the batches.
func (s *segment) resetIndexes() {
	s.index.entries = s.index.entries[:0]
	s.tindex.entries = s.tindex.entries[:0]
	s.maxTS, s.maxTSOffset = record.NoTimestamp, -1
	s.bytesSinceIndex = 0
	s.next = s.base
	s.indexDirty = true
}

// onBatch folds a batch written at pos into the indexes (Kafka's
// LogSegment.append bookkeeping).
func (s *segment) onBatch(pos int64, h record.Header, interval int32) {
	// An empty batch (a producer's last batch kept by the cleaner) keeps
	// its original maxTimestamp but holds no record with it: time lookups
	// must not land on it.
	if h.MaxTimestamp > s.maxTS && h.NumRecords > 0 {
		s.maxTS, s.maxTSOffset = h.MaxTimestamp, h.BaseOffset
	}
	if s.bytesSinceIndex > int64(interval) {
		s.index.entries = append(s.index.entries, offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		if s.maxTS >= 0 {
			s.tindex.maybeAppend(s.maxTS, uint32(s.maxTSOffset-s.base))
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
	s.next = h.NextOffset()
	s.indexDirty = true
}

// fits reports whether a batch of n bytes ending at offset last can go into
// this segment without overflowing the uint32 fields of the indexes.
func (s *segment) fits(n int64, last int64) bool {
	return s.size+n <= math.MaxUint32 && last-s.base <= math.MaxUint32
}

// indexFull reports whether either index reached segment.index.bytes.
func (s *segment) indexFull(indexBytes int32) bool {
	return int64(len(s.index.entries)+1)*offsetEntrySize > int64(indexBytes) ||
		int64(len(s.tindex.entries)+1)*timeEntrySize > int64(indexBytes)
}

// readHeader reads the batch header at pos into buf (HeaderSize bytes).
func (s *segment) readHeader(pos int64, buf []byte) (record.Header, error) {
	if pos+record.HeaderSize > s.size {
		return record.Header{}, fmt.Errorf("%w: header at %d past segment end %d", record.ErrCorrupt, pos, s.size)
	}
	if err := readFull(s.f, buf[:record.HeaderSize], pos); err != nil {
		return record.Header{}, err
	}
	h, err := record.PeekHeader(buf[:record.HeaderSize])
	if err != nil {
		return h, err
	}
	if pos+h.Size() > s.size {
		return h, fmt.Errorf("%w: batch at %d of %d bytes past segment end %d", record.ErrCorrupt, pos, h.Size(), s.size)
	}
	return h, nil
}

// headerWindow holds a span of a segment file read at once, so walking
// small batches costs one pread per window rather than one per header.
// A window serves one walk of one segment, under Log.mu.
type headerWindow struct {
	buf        []byte // at least record.HeaderSize bytes
	start, len int64  // buf[:len] holds the file from start
}

// headerAt returns the header of the batch at pos, reading a new window
// when pos is not inside the current one. It fails as readHeader does.
func (s *segment) headerAt(pos int64, w *headerWindow) (record.Header, error) {
	if pos < w.start || pos+record.HeaderSize > w.start+w.len {
		w.start, w.len = pos, 0
		n := min(int64(len(w.buf)), s.size-pos)
		if n < record.HeaderSize {
			return record.Header{}, fmt.Errorf("%w: header at %d past segment end %d", record.ErrCorrupt, pos, s.size)
		}
		if err := readFull(s.f, w.buf[:n], pos); err != nil {
			return record.Header{}, err
		}
		w.len = n
	}
	h, err := record.PeekHeader(w.buf[pos-w.start : w.len])
	if err != nil {
		return h, err
	}
	if pos+h.Size() > s.size {
		return h, fmt.Errorf("%w: batch at %d of %d bytes past segment end %d", record.ErrCorrupt, pos, h.Size(), s.size)
	}
	return h, nil
}

// locate finds the first batch whose last offset is >= offset, starting
// from the index entry at or below offset. found is false when no batch of
// the segment reaches offset. A header that does not match its index entry
// yields errBadIndex. buf is the read window (HeaderSize bytes at least).
func (s *segment) locate(offset int64, buf []byte) (pos int64, h record.Header, found bool, err error) {
	rel := max(offset-s.base, 0)
	e := s.index.lookup(uint32(min(rel, math.MaxUint32)))
	pos = int64(e.pos)
	w := headerWindow{buf: buf}
	for first := true; pos < s.size; first = false {
		h, err = s.headerAt(pos, &w)
		if err != nil && first && pos > 0 {
			return pos, h, false, fmt.Errorf("segment %d entry (%d, %d) finds no batch: %w: %w", s.base, e.rel, e.pos, errBadIndex, err)
		}
		if err != nil {
			return pos, h, false, fmt.Errorf("segment %d position %d: %w", s.base, pos, err)
		}
		// An index entry names its batch; the segment start may be
		// followed by a gap (compaction).
		if first && (e.pos > 0 && h.BaseOffset != s.base+int64(e.rel) || h.BaseOffset < s.base) {
			return pos, h, false, fmt.Errorf("segment %d entry (%d, %d) finds offset %d: %w", s.base, e.rel, e.pos, h.BaseOffset, errBadIndex)
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += h.Size()
	}
	return pos, h, false, nil
}

// rebuildIndexes re-derives the indexes from the batch headers (no CRC
// check: the batches were checked when appended or recovered).
func (s *segment) rebuildIndexes(interval int32, buf []byte) error {
	s.resetIndexes()
	for pos := int64(0); pos < s.size; {
		h, err := s.readHeader(pos, buf)
		if err != nil {
			return fmt.Errorf("segment %d position %d: %w", s.base, pos, err)
		}
		if h.BaseOffset < s.next {
			return fmt.Errorf("segment %d position %d: %w: offset %d, expected %d or more", s.base, pos, record.ErrCorrupt, h.BaseOffset, s.next)
		}
		s.onBatch(pos, h, interval)
		pos += h.Size()
	}
	return nil
}

// finalTimeEntry makes the last time index entry carry the segment's
// largest timestamp, as Kafka does when a segment becomes inactive, so the
// largest timestamp survives a reopen.
func (s *segment) finalTimeEntry() {
	if s.maxTS >= 0 {
		s.tindex.maybeAppend(s.maxTS, uint32(s.maxTSOffset-s.base))
	}
}

// encodeIndexes returns the contents the index files should have.
func (s *segment) encodeIndexes() (idx, tidx []byte) {
	s.finalTimeEntry()
	return s.index.encode(), s.tindex.encode()
}

// writeIndexes writes both index files from memory, fsyncing them if sync.
func (s *segment) writeIndexes(sync bool) error {
	idx, tidx := s.encodeIndexes()
	if err := writeFile(s.fs, s.path(indexSuffix), idx, sync); err != nil {
		return fmt.Errorf("segment %d: %w", s.base, err)
	}
	if err := writeFile(s.fs, s.path(timeIndexSuffix), tidx, sync); err != nil {
		return fmt.Errorf("segment %d: %w", s.base, err)
	}
	s.indexDirty = false
	return nil
}

// writeFile replaces the contents of path (in place: index files are
// checked on load, so a torn write is detected and rebuilt).
func writeFile(fsys vfs.FS, path string, data []byte, sync bool) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	return f.Close()
}

// close drops the log's hold on the segment file; the file is closed now,
// or when the last read pinned by ReadSlices is released. Called once per
// segment, when it leaves the log (removal, Close, Delete).
func (s *segment) close() error {
	if err := s.ref.release(); err != nil {
		return fmt.Errorf("segment %d: close: %w", s.base, err)
	}
	return nil
}

// remove closes the segment and deletes its files. A read that pinned the
// file keeps reading the unlinked file until it is released; a segment
// later created with the same name is a new file.
func (s *segment) remove() error {
	s.close()
	var first error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := s.fs.Remove(s.path(suf)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("segment %d: %w", s.base, err)
		}
	}
	return first
}

// readFull reads len(b) bytes at off, treating a short read as an error.
func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (s *segment) info() SegmentInfo {
	return SegmentInfo{BaseOffset: s.base, NextOffset: s.next, Size: s.size, MaxTimestamp: s.maxTS, Path: s.path(logSuffix)}
}
