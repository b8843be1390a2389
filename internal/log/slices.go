package log

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/fjordstream/fjord/internal/vfs"
)

// ErrReleased: a FileSlices was used after Release.
var ErrReleased = errors.New("log: file slices already released")

// fileRef counts the holders of a segment's open file: the log, while the
// segment is in its list, and every read pinned by ReadSlices (or in the
// middle of Read). The last release closes the file, so a segment deleted
// by retention, DeleteRecordsBefore, Truncate, Delete or Close stays
// readable, unlinked, for as long as a response is being sent from it; a
// new segment with the same name is a new file and cannot be confused with
// it.
type fileRef struct {
	f    vfs.File
	refs atomic.Int64
}

func newFileRef(f vfs.File) *fileRef {
	r := &fileRef{f: f}
	r.refs.Store(1) // the log's reference
	return r
}

// acquire adds a reference. The caller already holds one (the log's, with
// Log.mu held and the segment still in the list), so the count cannot be
// at zero here.
func (r *fileRef) acquire() { r.refs.Add(1) }

// release drops a reference and closes the file after the last one.
func (r *fileRef) release() error {
	if r.refs.Add(-1) == 0 {
		return r.f.Close()
	}
	return nil
}

// FileSlice is a region of a segment file holding whole record batches,
// exactly as they will go on the wire.
type FileSlice struct {
	// File is the segment file. Read it with ReadAt (or, when
	// vfs.OSFile gives an *os.File, sendfile with an explicit offset);
	// never Close it or move its offset: it is shared.
	File vfs.File
	// Pos is the region's start in File and Len its length in bytes.
	Pos, Len int64
}

// FileSlices is the result of ReadSlices: regions of segment files whose
// files stay open (pinned) until Release, even if the log deletes the
// segments meanwhile. A nil *FileSlices is an empty result; its methods
// work on nil.
type FileSlices struct {
	slices   []FileSlice
	refs     []*fileRef
	size     int64
	records  int64 // the batches' offset span
	next     int64 // the offset after the last batch
	released atomic.Bool
}

// Records returns the offset span of the batches: the records they hold,
// counted from the first batch's base offset (a read from inside a batch
// gets all of it). On a compacted log it may count offsets compaction
// removed: those inside the span, and at most those up to the next
// batch's base when the read stops before an index entry.
func (fs *FileSlices) Records() int64 {
	if fs == nil {
		return 0
	}
	return fs.records
}

// NextOffset returns the offset after the last batch (0 for none): a
// read_committed fetch answers the aborted transactions below it.
func (fs *FileSlices) NextOffset() int64 {
	if fs == nil {
		return 0
	}
	return fs.next
}

// Slices returns the regions in log order. They are valid until Release.
func (fs *FileSlices) Slices() []FileSlice {
	if fs == nil {
		return nil
	}
	return fs.slices
}

// Size returns the total length of the regions in bytes.
func (fs *FileSlices) Size() int64 {
	if fs == nil {
		return 0
	}
	return fs.size
}

// AppendTo reads the regions with pread and appends their bytes to dst
// (for transports that cannot send from files). A file cut shorter by a
// truncation since ReadSlices yields io.ErrUnexpectedEOF.
func (fs *FileSlices) AppendTo(dst []byte) ([]byte, error) {
	if fs == nil {
		return dst, nil
	}
	if fs.released.Load() {
		return dst, ErrReleased
	}
	for _, s := range fs.slices {
		base := len(dst)
		dst = grow(dst, int(s.Len))
		if err := readFull(s.File, dst[base:], s.Pos); err != nil {
			return dst[:base], fmt.Errorf("%w: read %d bytes at %d: %w", ErrStorage, s.Len, s.Pos, err)
		}
	}
	return dst, nil
}

// Release unpins the files. It must be called once the regions are no
// longer needed; later calls do nothing.
func (fs *FileSlices) Release() {
	if fs == nil || fs.released.Swap(true) {
		return
	}
	for _, r := range fs.refs {
		// A close error on a read-only use of an unlinked file has no
		// one to report to and loses no data.
		_ = r.release()
	}
}

// ReadSlices is Read without the copy: it returns the file regions Read
// would have copied (whole batches from the batch holding offset, one
// segment, below maxOffset, within maxBytes unless minOneBatch lets the
// first batch through whole, nothing at the log end offset,
// ErrOffsetOutOfRange outside [LogStartOffset, LogEndOffset]), pinned until
// Release. The lengths are fixed now: data appended later is not included.
// A nil result with a nil error means no batches.
//
// The batch boundaries are found from batch headers read under Log.mu,
// starting at the index entry nearest to where the read must stop, so the
// walk is bounded by index.interval.bytes rather than by maxBytes.
//
// A Truncate after ReadSlices returns cuts the file in place: sending the
// regions then finds the file short (the sender must give up the
// connection) or, if new batches were appended at the same positions,
// sends those. Kafka's FileRecords behaves the same; truncation happens on
// followers, which consumers do not read from.
func (l *Log) ReadSlices(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) (*FileSlices, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, pos, want, err := l.startRead(offset, maxBytes, maxOffset, minOneBatch)
	if err != nil || s == nil {
		return nil, err
	}
	end, first, last, err := l.sliceEnd(s, pos, pos+want, maxOffset)
	if err != nil {
		return nil, err
	}
	s.ref.acquire()
	if l.io != nil {
		l.io.Read.Add(end - pos)
	}
	return &FileSlices{
		slices:  []FileSlice{{File: s.f, Pos: pos, Len: end - pos}},
		refs:    []*fileRef{s.ref},
		size:    end - pos,
		records: max(last-first+1, 0),
		next:    last + 1,
	}, nil
}

// walkWindow is how much a read's header walk reads at once: small
// batches are walked with one pread per window, not one per header.
const walkWindow = 4 << 10

// walkBuffer returns the header window buffer of reads, allocated on the
// first read so that partitions nobody reads do not carry it. Caller
// holds mu.
func (l *Log) walkBuffer() []byte {
	if l.walkBuf == nil {
		l.walkBuf = make([]byte, walkWindow)
	}
	return l.walkBuf
}

// sliceEnd returns the end of the last whole batch of s that starts at or
// after pos, ends by limit and lies below maxOffset, with the base offset
// of the batch at pos and the last offset of that last batch. The batch
// at pos is known to qualify (startRead checked it). Caller holds mu.
func (l *Log) sliceEnd(s *segment, pos, limit, maxOffset int64) (end, firstOffset, lastOffset int64, err error) {
	first, err := s.readHeader(pos, l.hdrBuf[:])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	firstOffset = first.BaseOffset
	from := pos + first.Size()
	// Every batch before an index entry at or below limit ends by limit;
	// every batch before an entry at or below maxOffset lies below it.
	// Start the walk at the entry nearest the stop that is both, if it is
	// past from; walkBatches checks that it points at the batch it names.
	e := s.index.atOrBeforePos(uint32(min(limit, math.MaxUint32)))
	if s.base+int64(e.rel) > maxOffset {
		e = s.index.lookup(uint32(min(max(maxOffset-s.base, 0), math.MaxUint32)))
	}
	if int64(e.pos) > from && int64(e.pos) <= limit && s.base+int64(e.rel) <= maxOffset {
		end, last, err := s.walkBatches(int64(e.pos), s.base+int64(e.rel), limit, maxOffset, l.walkBuffer())
		if err == nil {
			if last < 0 {
				last = s.base + int64(e.rel) - 1 // the batch before the entry's
			}
			return end, firstOffset, last, nil
		}
		if !errors.Is(err, errBadIndex) {
			return 0, 0, 0, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		// A stale entry: walk from the first batch instead (locate
		// repairs indexes; this read only needs to be right).
	}
	end, last, err := s.walkBatches(from, -1, limit, maxOffset, l.walkBuffer())
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if last < 0 {
		last = first.LastOffset()
	}
	return end, firstOffset, last, nil
}

// walkBatches reads batch headers from pos and returns the position of the
// first batch that would end past limit or reach maxOffset (or limit, the
// visible end at most). wantBase >= 0 is the base offset the batch at pos
// must have because pos came from the index: a mismatch or an unreadable
// header there is errBadIndex. buf is the read window.
func (s *segment) walkBatches(pos, wantBase, limit, maxOffset int64, buf []byte) (end, lastOffset int64, err error) {
	limit = min(limit, s.size)
	w := headerWindow{buf: buf}
	lastOffset = -1
	for first := true; pos < limit; first = false {
		h, err := s.headerAt(pos, &w)
		atEntry := first && wantBase >= 0
		if err == nil && atEntry && h.BaseOffset != wantBase {
			err = fmt.Errorf("holds offset %d, not %d", h.BaseOffset, wantBase)
		}
		if err != nil && atEntry {
			return 0, 0, fmt.Errorf("segment %d index entry at position %d: %w: %w", s.base, pos, errBadIndex, err)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("segment %d position %d: %w", s.base, pos, err)
		}
		if pos+h.Size() > limit || h.LastOffset() >= maxOffset {
			break
		}
		pos += h.Size()
		lastOffset = h.LastOffset()
	}
	return pos, lastOffset, nil
}
