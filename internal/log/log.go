package log

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Log is one partition's log. All methods are safe for concurrent use.
type Log struct {
	fs     vfs.FS
	dir    string
	logger *slog.Logger
	now    func() time.Time
	decomp *record.Decompressor

	// mu guards everything below up to syncMu. Held for appends and for
	// locating reads; never across fsync or the bulk read of Read.
	mu       sync.Mutex
	cfg      Config
	segs     []*segment // ordered by base; the last is the active segment
	lso      int64      // log start offset
	leo      int64      // log end offset
	recovery int64      // recovery point last written to log-checkpoint
	epochs   epochCache
	truncGen uint64 // bumped by Truncate: invalidates reads in flight
	// txnIndexLost: a .txnindex file was unreadable at open.
	txnIndexLost bool
	dirtySegs    []*segment // segments with writes not yet fsynced (active last)
	dirDirty     bool       // segment files created since the last folder fsync
	unflushedAt  time.Time  // time of the first append after the last flush
	closed       bool
	failed       error // sticky I/O failure: writes are refused (see fail)
	onFailure    func(error)
	onFsync      func(time.Duration) // Options.OnFsync
	io           *IOStats            // Options.IO
	hdrBuf       [record.HeaderSize]byte
	scratch      []byte // batch-sized scratch for timestamp lookups
	walkBuf      []byte // header window of reads (walkBuffer)

	// flushed is the flushed offset: every offset below it is fsynced.
	// Written under mu, read without it.
	flushed atomic.Int64

	// syncMu guards the group commit state.
	syncMu      sync.Mutex
	syncRunning bool
	syncDone    chan struct{} // closed when the running fsync ends
	syncFiles   []vfs.File    // reused by the goroutine running the fsync

	fsyncs  atomic.Int64
	appends atomic.Int64

	// beforeFsync, if set (tests only, before the log is shared), runs in
	// flushNow before the fsyncs of a group commit round.
	beforeFsync func()

	// cleanMu lets one Clean run at a time (taken before mu).
	cleanMu sync.Mutex
	// firstDirty is the cleaner checkpoint: offsets below it were
	// compacted by the last Clean. Guarded by mu.
	firstDirty int64
	// gapsBelow: offset gaps below it come from compaction (ours or the
	// leader's), not damage; recovery refuses others. Persisted with
	// firstDirty in cleaner-checkpoint (see readCleanerCheckpoint).
	gapsBelow int64
	// cleanHook, if set (tests only), runs at each step of a clean's swap;
	// an error stops the clean there as a crash would.
	cleanHook func(step string) error
}

// Open opens the log in dir, creating the folder if missing, and recovers
// it: leftovers removed, the batches after the recovery point CRC-checked
// and a bad tail cut off, damaged indexes rebuilt. Repairs are logged at
// Warn level.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	l := &Log{fs: opts.FS, dir: dir, logger: opts.Logger, now: opts.Now, decomp: opts.Decompressor, cfg: cfg.normalized(), onFailure: opts.OnFailure, onFsync: opts.OnFsync, io: opts.IO}
	if l.fs == nil {
		l.fs = vfs.OS()
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.logger = l.logger.With("dir", dir)
	if l.now == nil {
		l.now = time.Now
	}
	if l.decomp == nil {
		l.decomp = record.NewDecompressor(0)
	}
	if err := makeDir(l.fs, dir); err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, fmt.Errorf("log %s: recovery: %w", dir, err)
	}
	return l, nil
}

// Dir returns the partition folder.
func (l *Log) Dir() string { return l.dir }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// usable reports why the log cannot take writes, if it cannot. Caller
// holds mu.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: %w", ErrStorage, l.failed)
	}
	return nil
}

// Append writes batches that record.Validate accepted: it assigns offsets
// from the log end offset (rewriting baseOffset in place), sets the
// partition leader epoch, stamps logAppendTime when it is >= 0 (for
// message.timestamp.type=LogAppendTime), rolls first if the active segment
// is full or old, writes the bytes with one write and indexes them. The
// data is durable only after Sync (see DurableOnAppend). leaderEpoch may
// not go below the latest epoch already in the log (recovery relies on
// epochs never decreasing).
func (l *Log) Append(batches []byte, leaderEpoch int32, logAppendTime int64) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return AppendInfo{}, err
	}
	if len(batches) == 0 {
		return AppendInfo{}, fmt.Errorf("%w: no batches", ErrInvalidAppend)
	}
	if latest := l.epochs.latest(); leaderEpoch < latest {
		return AppendInfo{}, fmt.Errorf("%w: leader epoch %d below the log's latest epoch %d", ErrInvalidAppend, leaderEpoch, latest)
	}
	off := l.leo
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err != nil {
			return AppendInfo{}, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidAppend, pos, err)
		}
		b := batches[pos : pos+int(h.Size())]
		record.SetBaseOffset(b, off)
		record.SetPartitionLeaderEpoch(b, leaderEpoch)
		if logAppendTime >= 0 {
			record.SetLogAppendTime(b, logAppendTime)
		}
		off += int64(h.LastOffsetDelta) + 1
		pos += int(h.Size())
	}
	info, err := l.write(batches, off-1)
	if err != nil {
		return info, err
	}
	info.LogAppendTime = -1
	if logAppendTime >= 0 {
		info.LogAppendTime = logAppendTime
	}
	if l.epochs.assign(leaderEpoch, info.BaseOffset) {
		l.persistEpochs()
	}
	return info, nil
}

// AppendAsFollower writes batches that carry their offsets (replication):
// the first must start at the log end offset and the rest follow
// contiguously; their CRCs are checked. A follower whose log end offset is
// below the leader's log start offset first calls TruncateFullyAndStartAt,
// as Kafka does. Leader epochs are taken from the batches and may not
// decrease. When cleanup.policy includes compact, offsets may skip ahead
// (the leader's cleaned segments have gaps) but never go back; the gap is
// recorded in the cleaner checkpoint before the batches are written, so
// that recovery accepts it.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return AppendInfo{}, err
	}
	gaps := l.cfg.CleanupPolicy&PolicyCompact != 0
	gapTop := int64(-1) // base offset of the last batch after a gap
	var first, next int64 = -1, -1
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err == nil && !record.CheckCRC(batches[pos:pos+int(h.Size())]) {
			err = fmt.Errorf("%w: CRC mismatch", record.ErrCorrupt)
		}
		if err != nil {
			return AppendInfo{}, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidAppend, pos, err)
		}
		want := next
		if first < 0 {
			first, want = h.BaseOffset, l.leo
		}
		if h.BaseOffset > want && gaps {
			gapTop = h.BaseOffset
		} else if h.BaseOffset != want {
			return AppendInfo{}, fmt.Errorf("%w: batch at byte %d has offset %d, expected %d", ErrInvalidAppend, pos, h.BaseOffset, want)
		}
		if h.LastOffsetDelta < 0 {
			return AppendInfo{}, fmt.Errorf("%w: batch at byte %d has last offset delta %d", ErrInvalidAppend, pos, h.LastOffsetDelta)
		}
		if latest := l.epochs.latest(); h.PartitionLeaderEpoch < latest {
			return AppendInfo{}, fmt.Errorf("%w: batch at byte %d has leader epoch %d below the latest %d", ErrInvalidAppend, pos, h.PartitionLeaderEpoch, latest)
		}
		next = h.NextOffset()
		pos += int(h.Size())
	}
	if first < 0 {
		return AppendInfo{}, fmt.Errorf("%w: no batches", ErrInvalidAppend)
	}
	if gapTop >= l.gapsBelow {
		l.gapsBelow = gapTop + 1
		if err := l.writeCleanerCheckpoint(); err != nil {
			l.fail(err)
			return AppendInfo{}, fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	info, err := l.write(batches, next-1)
	if err != nil {
		return info, err
	}
	info.BaseOffset = first
	info.LogAppendTime = -1
	changed := false
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:])
		changed = l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) || changed
		pos += int(h.Size())
	}
	if changed {
		l.persistEpochs()
	}
	return info, nil
}

// write appends batches, whose offsets start at l.leo and end at last, to
// the active segment, rolling first if needed. Caller holds mu.
func (l *Log) write(batches []byte, last int64) (AppendInfo, error) {
	info := AppendInfo{BaseOffset: l.leo, LastOffset: last, MaxTimestamp: record.NoTimestamp, OffsetOfMaxTimestamp: -1}
	n := int64(len(batches))
	rolled, err := l.maybeRollFor(n, last, l.now())
	if err != nil {
		return info, err
	}
	info.Rolled = rolled
	s := l.active()
	if !s.fits(n, last) {
		return info, fmt.Errorf("%w: %d bytes up to offset %d do not fit an empty segment", ErrInvalidAppend, n, last)
	}
	start := s.size
	if _, err := s.f.WriteAt(batches, start); err != nil {
		// Cut back whatever part was written (if even that fails the
		// file's contents are unknown). Either way the disk refused a
		// write (ENOSPC, EIO): the log refuses writes from now on, as
		// Kafka takes a log directory offline on any write error.
		if terr := s.f.Truncate(start); terr != nil {
			err = fmt.Errorf("%w; truncate: %w", err, terr)
		}
		l.fail(fmt.Errorf("segment %d: write: %w", s.base, err))
		return info, fmt.Errorf("%w: segment %d: write: %w", ErrStorage, s.base, err)
	}
	now := l.now()
	if s.size == 0 {
		s.firstAppend = now
	}
	for pos := int64(0); pos < n; {
		h, _ := record.ParseHeader(batches[pos:])
		s.onBatch(start+pos, h, l.cfg.IndexIntervalBytes)
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
		}
		info.Batches++
		info.Records += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
	s.size += n
	if len(l.dirtySegs) == 0 || l.dirtySegs[len(l.dirtySegs)-1] != s {
		l.dirtySegs = append(l.dirtySegs, s)
	}
	if l.leo == l.flushed.Load() {
		l.unflushedAt = now
	}
	l.leo = last + 1
	info.Bytes = n
	if l.io != nil {
		l.io.Written.Add(n)
	}
	info.LogStartOffset = l.lso
	l.appends.Add(1)
	return info, nil
}

// Read appends to dst whole batches starting with the batch that holds
// offset, from one segment, stopping before the first batch that reaches
// maxOffset (exclusive: the high watermark) or would take the result past
// maxBytes; with minOneBatch the first batch is returned even if larger
// than maxBytes (KIP-74). offset == LogEndOffset yields nothing; an offset
// outside [LogStartOffset, LogEndOffset] is ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, dst []byte) ([]byte, error) {
	var lastErr error
	for range 3 {
		out, retry, err := l.readOnce(offset, maxBytes, maxOffset, minOneBatch, dst)
		if !retry {
			return out, err
		}
		lastErr = err
	}
	return dst, fmt.Errorf("%w: offset %d: log changed under the read: %w", ErrOffsetOutOfRange, offset, lastErr)
}

// readOnce locates the bytes under mu, reads them without it and checks
// that no truncation overlapped the read (retry=true if one did).
func (l *Log) readOnce(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, dst []byte) ([]byte, bool, error) {
	l.mu.Lock()
	s, pos, want, err := l.startRead(offset, maxBytes, maxOffset, minOneBatch)
	if err != nil || s == nil {
		l.mu.Unlock()
		return dst, false, err
	}
	gen, f := l.truncGen, s.f
	// Pinned, so retention deleting the segment meanwhile cannot close
	// the file under the pread.
	s.ref.acquire()
	l.mu.Unlock()
	defer s.ref.release()

	base := len(dst)
	dst = grow(dst, int(want))
	rerr := readFull(f, dst[base:base+int(want)], pos)
	l.mu.Lock()
	changed := l.truncGen != gen
	l.mu.Unlock()
	if changed {
		return dst[:base], true, errors.New("truncated during read")
	}
	if rerr != nil {
		return dst[:base], false, fmt.Errorf("%w: segment %d: read at %d: %w", ErrStorage, s.base, pos, rerr)
	}
	if l.io != nil {
		l.io.Read.Add(want)
	}
	// Keep whole batches below maxOffset; the bytes are ours, written
	// after validation, so their headers frame correctly.
	got := dst[base : base+int(want)]
	keep := int64(0)
	for keep < int64(len(got)) {
		bh, err := record.PeekHeader(got[keep:])
		if err != nil || keep+bh.Size() > int64(len(got)) || bh.LastOffset() >= maxOffset {
			break
		}
		keep += bh.Size()
	}
	return dst[:base+int(keep)], false, nil
}

// startRead applies the bounds shared by Read and ReadSlices: it checks
// offset against the log, finds the batch holding it and returns its
// segment, its position and how many bytes from there the read may cover
// (at least that batch whole, at most to the segment's visible end). A
// nil segment means nothing is to be read. Caller holds mu.
func (l *Log) startRead(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) (*segment, int64, int64, error) {
	if l.closed {
		return nil, 0, 0, ErrClosed
	}
	if offset < l.lso || offset > l.leo {
		return nil, 0, 0, fmt.Errorf("%w: offset %d, log start %d, log end %d", ErrOffsetOutOfRange, offset, l.lso, l.leo)
	}
	if offset == l.leo || offset >= maxOffset {
		return nil, 0, 0, nil
	}
	s, pos, h, err := l.locate(offset)
	if err != nil || s == nil || h.LastOffset() >= maxOffset {
		return nil, 0, 0, err
	}
	want := int64(max(maxBytes, 0))
	if minOneBatch {
		want = max(want, h.Size())
	}
	want = min(want, s.size-pos)
	if want < h.Size() {
		return nil, 0, 0, nil
	}
	return s, pos, want, nil
}

// grow extends dst by n bytes of capacity and length.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst[:len(dst)+n]
}

// locate finds the segment and batch holding offset (the first batch whose
// last offset is >= offset), repairing a bad index on the way. It returns
// a nil segment if no batch holds offset. Caller holds mu.
func (l *Log) locate(offset int64) (*segment, int64, record.Header, error) {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	for i = max(i, 0); i < len(l.segs); i++ {
		s := l.segs[i]
		pos, h, found, err := s.locate(offset, l.walkBuffer())
		if errors.Is(err, errBadIndex) {
			l.logger.Warn("log: rebuilt index that pointed at the wrong batch", "segment", s.path(logSuffix), "error", err)
			if err = s.rebuildIndexes(l.cfg.IndexIntervalBytes, l.hdrBuf[:]); err == nil {
				if werr := s.writeIndexes(false); werr != nil {
					l.logger.Warn("log: rewriting index files failed", "segment", s.path(logSuffix), "error", werr)
				}
				pos, h, found, err = s.locate(offset, l.walkBuffer())
			}
		}
		if err != nil {
			return nil, 0, h, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if found {
			return s, pos, h, nil
		}
	}
	return nil, 0, record.Header{}, nil
}

// LogStartOffset returns the first offset that may be read.
func (l *Log) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lso
}

// LogEndOffset returns the offset the next append gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leo
}

// FlushedOffset returns the offset below which everything is fsynced.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// DurableOnAppend reports flush.messages == 1: the caller must Sync
// appended offsets before acknowledging them.
func (l *Log) DurableOnAppend() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.FlushMessages == 1
}

// SetConfig applies a topic config change; it takes effect on the next
// append, roll or retention pass.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg.normalized()
}

// Config returns the current config (normalised).
func (l *Log) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Size returns the bytes held by all segments.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Segments describes the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.info()
	}
	return out
}

// Stats returns counters for metrics and tests.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Fsyncs: l.fsyncs.Load(), Appends: l.appends.Load(), RecoveryPoint: l.recovery}
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader epoch
// cache: (UndefinedEpoch, UndefinedEpochOffset) when unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.leo)
}

// AssignEpoch records that leader epoch epoch starts at the log end
// offset, as a new leader does at election (Kafka's assignEpochStartOffset),
// so OffsetForLeaderEpoch for an older epoch ends where this leader's began
// even before it appends. An epoch not above the latest changes nothing.
func (l *Log) AssignEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if epoch <= l.epochs.latest() {
		return nil
	}
	if l.epochs.assign(epoch, l.leo) {
		l.persistEpochs()
	}
	return nil
}

// LatestEpoch returns the latest leader epoch in the cache, or
// UndefinedEpoch.
func (l *Log) LatestEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.latest()
}

// persistEpochs writes the leader epoch checkpoint; a failure is logged
// (the cache is rebuilt from the batches on the next open). Caller holds mu.
func (l *Log) persistEpochs() {
	if err := writeAtomic(l.fs, l.dir, epochCheckpointFile, l.epochs.encode()); err != nil {
		l.fail(fmt.Errorf("leader epoch checkpoint: %w", err))
	}
}

// writeCheckpoint persists the recovery point and log start offset. The
// recovery point promises that data and index files below it are on disk
// and consistent, so it stops at the flushed offset and at the first
// segment whose index files lag its in-memory indexes (usually the active
// one, which recovery then scans). Caller holds mu.
func (l *Log) writeCheckpoint() error {
	rp := min(l.flushed.Load(), l.leo)
	for _, s := range l.segs {
		if s.indexDirty {
			rp = min(rp, s.base)
			break
		}
	}
	if err := writeAtomic(l.fs, l.dir, checkpointFile, checkpoint{recoveryPoint: rp, logStartOffset: l.lso}.encode()); err != nil {
		return fmt.Errorf("log %s: checkpoint: %w", l.dir, err)
	}
	l.recovery = rp
	return nil
}

// Close fsyncs everything, writes the index files and a checkpoint whose
// recovery point is the log end offset (so the next open scans nothing),
// and closes the files. Later calls return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	var errs []error
	if l.failed == nil {
		for _, s := range l.segs {
			if s.indexDirty {
				errs = append(errs, s.writeIndexes(true))
			}
			errs = append(errs, s.writeTxnIndex())
		}
		for _, s := range l.dirtySegs {
			if err := s.f.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("segment %d: fsync: %w", s.base, err))
			}
		}
		errs = append(errs, syncDir(l.fs, l.dir))
		if errors.Join(errs...) == nil {
			l.dirtySegs = l.dirtySegs[:0]
			l.flushed.Store(l.leo)
			errs = append(errs, l.writeCheckpoint())
		}
	}
	for _, s := range l.segs {
		errs = append(errs, s.close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log %s: close: %w", l.dir, err)
	}
	return nil
}

// Delete closes the log and removes its folder.
func (l *Log) Delete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		for _, s := range l.segs {
			s.close()
		}
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("log %s: delete: %w", l.dir, err)
	}
	return nil
}
