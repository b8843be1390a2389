package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// leftoverSuffixes mark files of interrupted operations (ours or Kafka's);
// they are deleted on open.
var leftoverSuffixes = []string{tmpSuffix, ".deleted", ".cleaned", ".swap"}

// recover loads the folder into l (Open's work). The steps are:
//  0. complete a committed compaction swap (finishSwap);
//  1. delete leftovers (including uncommitted .cleaned files) and orphan
//     index files;
//  2. read log-checkpoint (recovery point, log start offset);
//  3. per segment, trust the prefix below the recovery point after cheap
//     checks (index sanity, header walk from the last index entry) and
//     CRC-check every batch after it, cutting the log at the first bad one;
//  4. load the leader epoch cache, re-derive it from the batches checked
//     in step 3 (or from every batch if it is unreadable);
//  5. fsync what was recovered and write a fresh checkpoint.
func (l *Log) recover() error {
	l.firstDirty, l.gapsBelow = l.readCleanerCheckpoint()
	if err := l.finishSwap(); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	ck, haveCk := l.readCheckpoint(len(bases) > 0)
	epochsOK := l.readEpochs()
	epochsRead := slices.Clone(l.epochs.entries)
	rp := ck.recoveryPoint
	if !haveCk {
		rp = 0
	}
	for i, base := range bases {
		s, err := openSegment(l.fs, l.dir, base)
		if err != nil {
			return err
		}
		if n := len(l.segs); n > 0 {
			// Segments follow each other, with gaps only below the
			// cleaner checkpoint (compaction), and only the last may be
			// empty.
			if prev := l.segs[n-1]; prev.size == 0 || base < prev.next || (base > prev.next && base > l.gapsBelow) {
				s.close()
				l.dropSegmentsFrom(bases[i:], fmt.Sprintf("segment %d (%d bytes) ends at offset %d, next segment starts at %d", prev.base, prev.size, prev.next, base))
				break
			}
		}
		l.segs = append(l.segs, s)
		scanned, ok := l.recoverSegment(s, rp)
		if !s.loadTxnIndex() {
			l.txnIndexLost = true
			l.logger.Warn("log recovery: unreadable transaction index, to be rebuilt from the log", "segment", s.path(txnIndexSuffix))
		}
		if !ok {
			l.dropSegmentsFrom(bases[i+1:], fmt.Sprintf("segment %d was cut at byte %d", base, scanned))
			break
		}
	}
	if len(l.segs) == 0 {
		start := int64(0)
		if haveCk {
			start = ck.logStartOffset
		}
		s, err := createSegment(l.fs, l.dir, start)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	if haveCk && l.active().next < rp {
		l.logger.Warn("log recovery: log ends below the recovery point, fsynced data is missing",
			"end_offset", l.active().next, "recovery_point", rp)
	}
	if last := l.active(); last.size > 0 {
		last.firstAppend = l.now() // segment.ms counts from this open
	}
	l.leo = l.active().next
	l.lso = l.segs[0].base
	if haveCk {
		l.lso = min(max(ck.logStartOffset, l.lso), l.leo)
	}
	l.finishEpochs(epochsOK, epochsRead)
	clean := haveCk && rp == l.leo && ck.logStartOffset == l.lso &&
		len(l.segs) == len(bases) && !slices.ContainsFunc(l.segs, func(s *segment) bool { return s.indexDirty || s.txnDirty })
	if clean {
		// A clean shutdown left nothing to repair or make durable:
		// skip the fsyncs and the checkpoint rewrite.
		l.flushed.Store(l.leo)
		l.recovery = rp
		return nil
	}
	return l.finishRecovery()
}

// listSegments deletes leftovers and returns the base offsets of the
// segment files, sorted.
func (l *Log) listSegments() ([]int64, error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if slices.ContainsFunc(leftoverSuffixes, func(suf string) bool { return strings.HasSuffix(name, suf) }) {
			l.logger.Warn("log recovery: deleted leftover file", "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		stem, suf, ok := strings.Cut(name, ".")
		base, err := strconv.ParseInt(stem, 10, 64)
		if !ok || err != nil || len(stem) != 20 || base < 0 {
			continue
		}
		switch "." + suf {
		case logSuffix:
			logs[base] = true
		case indexSuffix, timeIndexSuffix, txnIndexSuffix:
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		base, _ := strconv.ParseInt(name[:20], 10, 64)
		if !logs[base] {
			l.logger.Warn("log recovery: deleted index without a segment", "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// readCheckpoint reads log-checkpoint; ok=false if missing or damaged.
func (l *Log) readCheckpoint(haveSegments bool) (checkpoint, bool) {
	data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		if haveSegments {
			l.logger.Info("log recovery: no checkpoint, checking every segment")
		}
		return checkpoint{}, false
	}
	if err == nil {
		var ck checkpoint
		if ck, err = decodeCheckpoint(data); err == nil {
			return ck, true
		}
	}
	l.logger.Warn("log recovery: checkpoint unreadable, checking every segment", "file", checkpointFile, "error", err)
	return checkpoint{}, false
}

// dropSegmentsFrom deletes the segments with these bases (they follow a
// cut), reporting each.
func (l *Log) dropSegmentsFrom(bases []int64, why string) {
	for _, base := range bases {
		s := &segment{fs: l.fs, dir: l.dir, base: base}
		var size int64
		if st, err := l.fs.Stat(s.path(logSuffix)); err == nil {
			size = st.Size()
		}
		l.logger.Warn("log recovery: deleted segment after a cut", "segment", s.path(logSuffix), "bytes_dropped", size, "reason", why)
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			l.fs.Remove(s.path(suf))
		}
	}
}

// recoverSegment loads s: the part below the recovery point rp is trusted
// after cheap checks, the rest is CRC-checked batch by batch. It returns
// the valid size and ok=false if the segment had to be cut.
func (l *Log) recoverSegment(s *segment, rp int64) (int64, bool) {
	fileSize := s.size
	trusted := int64(0) // bytes below the recovery point, checked cheaply
	var idxFile, tidxFile []byte
	if rp > s.base {
		var err error
		if trusted, idxFile, tidxFile, err = l.loadTrusted(s, rp); err != nil {
			l.logger.Warn("log recovery: index or segment inconsistent, checking the whole segment",
				"segment", s.path(logSuffix), "error", err.Error())
			trusted = 0
		}
	}
	if trusted == 0 {
		s.resetIndexes()
	}
	end, why := l.scanValidate(s, trusted, fileSize)
	s.size = end
	if why != nil {
		l.logger.Warn("log recovery: truncated segment at the first bad batch",
			"segment", s.path(logSuffix), "position", end, "bytes_dropped", fileSize-end, "reason", why.Error())
		if err := s.f.Truncate(end); err != nil {
			l.logger.Warn("log recovery: truncating failed", "segment", s.path(logSuffix), "error", err.Error())
		}
		s.indexDirty = true
		return end, false
	}
	idx, tidx := s.encodeIndexes()
	s.indexDirty = trusted < fileSize || !bytes.Equal(idx, idxFile) || !bytes.Equal(tidx, tidxFile)
	return end, true
}

// loadTrusted loads s's index files and walks the batch headers from the
// last index entry below rp up to rp (or the file end if rp is past it),
// returning the byte position of rp and the index files as read. Any
// inconsistency is an error and the caller checks the whole segment.
func (l *Log) loadTrusted(s *segment, rp int64) (pos int64, idxFile, tidxFile []byte, err error) {
	s.resetIndexes()
	relRP := uint32(min(rp-s.base, math.MaxUint32))
	idxFile, err = vfs.ReadFile(l.fs, s.path(indexSuffix))
	if err == nil {
		s.index, err = decodeOffsetIndex(idxFile, s.size)
	}
	if err != nil {
		l.reportIndex(s, indexSuffix, err)
		s.index.entries = nil
	}
	tidxFile, err = vfs.ReadFile(l.fs, s.path(timeIndexSuffix))
	if err == nil {
		// Entries past rp are legitimate (written at a roll after rp)
		// and are dropped below; only the format is checked here.
		s.tindex, err = decodeTimeIndex(tidxFile, math.MaxUint32)
	}
	if err != nil {
		l.reportIndex(s, timeIndexSuffix, err)
		// Without the time index the largest timestamp is unknown: walk
		// every header so that both indexes are recomputed.
		s.tindex.entries = nil
		s.index.entries = nil
	}
	// Walk from the last index entry at or below rp; it must name its
	// batch. Index entries past it are dropped and re-derived.
	e := s.index.lookup(relRP)
	s.index.truncateFrom(e.pos + 1)
	pos, s.next = int64(e.pos), s.base+int64(e.rel)
	for _, te := range s.tindex.entries {
		if s.base+int64(te.rel) < s.next {
			s.maxTS, s.maxTSOffset = te.ts, s.base+int64(te.rel)
		}
	}
	s.tindex.truncateFrom(uint32(s.next - s.base))
	for first := true; pos < s.size && (first || s.next < rp); first = false {
		h, err := s.readHeader(pos, l.hdrBuf[:])
		if err != nil {
			return 0, nil, nil, fmt.Errorf("position %d: %w", pos, err)
		}
		// The batch at an index entry must be the one it names; the
		// next batch follows without a gap, except below the cleaner
		// checkpoint (compaction), and never goes back.
		if (first && pos > 0 || h.BaseOffset >= l.gapsBelow) && h.BaseOffset != s.next || h.BaseOffset < s.next {
			return 0, nil, nil, fmt.Errorf("position %d: offset %d, expected %d", pos, h.BaseOffset, s.next)
		}
		if h.BaseOffset >= rp {
			break // rp is at this batch: checked by the CRC scan
		}
		if first && pos > 0 {
			// The batch at an index entry is not indexed again. An empty
			// batch (the cleaner's) claims no timestamp, as in onBatch.
			if h.MaxTimestamp > s.maxTS && h.NumRecords > 0 {
				s.maxTS, s.maxTSOffset = h.MaxTimestamp, h.BaseOffset
			}
			s.bytesSinceIndex, s.next = h.Size(), h.NextOffset()
		} else {
			s.onBatch(pos, h, l.cfg.IndexIntervalBytes)
		}
		pos += h.Size()
	}
	if s.next > rp {
		return 0, nil, nil, fmt.Errorf("recovery point %d inside the batch ending at %d", rp, s.next-1)
	}
	// The last time entry carries the segment's largest timestamp, which
	// decides whether lookups and retention look at the segment at all:
	// check it names its batch (middle entries are checked when used).
	if te, ok := s.tindex.last(); ok {
		_, h, found, err := s.locate(s.base+int64(te.rel), l.hdrBuf[:])
		if err != nil || !found || h.BaseOffset != s.base+int64(te.rel) || h.MaxTimestamp != te.ts {
			return 0, nil, nil, fmt.Errorf("last time index entry (%d, %d) does not match its batch (offset %d, timestamp %d, %v)",
				te.ts, te.rel, h.BaseOffset, h.MaxTimestamp, err)
		}
	}
	return pos, idxFile, tidxFile, nil
}

// reportIndex logs an index file that must be rebuilt. A missing index of
// a segment too small to have entries is normal.
func (l *Log) reportIndex(s *segment, suffix string, err error) {
	if errors.Is(err, os.ErrNotExist) && s.size <= int64(l.cfg.IndexIntervalBytes) {
		return
	}
	l.logger.Warn("log recovery: rebuilding index", "segment", s.path(logSuffix), "file", s.path(suffix), "reason", err.Error())
}

// scanValidate checks every batch of s from position from to end: framing,
// CRC, record framing (validateStored: record.Validate, or the empty batch
// a clean keeps for a producer), contiguous offsets, leader epochs
// never decreasing. It indexes the good batches and returns the end of the
// last good one, with the reason it stopped early (nil if it reached end).
func (l *Log) scanValidate(s *segment, from, end int64) (int64, error) {
	pos := from
	epoch := int32(-1)
	for pos < end {
		if end-pos < record.HeaderSize {
			return pos, fmt.Errorf("torn header: %d bytes", end-pos)
		}
		s.size = end // let readHeader see the whole file
		h, err := s.readHeader(pos, l.hdrBuf[:])
		if err != nil {
			return pos, err
		}
		if h.BaseOffset < s.next || (h.BaseOffset > s.next && h.BaseOffset >= l.gapsBelow) {
			return pos, fmt.Errorf("offset %d, expected %d", h.BaseOffset, s.next)
		}
		if h.PartitionLeaderEpoch >= 0 && h.PartitionLeaderEpoch < epoch {
			return pos, fmt.Errorf("leader epoch %d after %d", h.PartitionLeaderEpoch, epoch)
		}
		if h.LastOffsetDelta < 0 || pos+h.Size() > math.MaxUint32 || h.LastOffset()-s.base > math.MaxUint32 {
			return pos, fmt.Errorf("batch does not fit the segment's index range")
		}
		if int64(cap(l.scratch)) < h.Size() {
			l.scratch = make([]byte, h.Size())
		}
		b := l.scratch[:h.Size()]
		if err := readFull(s.f, b, pos); err != nil {
			return pos, err
		}
		if err := validateStored(b, l.decomp); err != nil {
			return pos, err
		}
		epoch = max(epoch, h.PartitionLeaderEpoch)
		s.onBatch(pos, h, l.cfg.IndexIntervalBytes)
		// The epoch cache is written when an append starts a new epoch,
		// before the data is fsynced; after a power loss the data may be
		// on disk without the cache update (the page cache wrote it back
		// early). So above the recovery point the batches are the truth,
		// as Kafka's segment recovery has it.
		l.epochs.truncateFromEnd(h.BaseOffset)
		l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		pos += h.Size()
	}
	return pos, nil
}

// readEpochs loads leader-epoch-checkpoint into l.epochs; recovery checks
// batch epochs against it. ok is false when the file is missing or
// damaged (finishEpochs then rebuilds it).
func (l *Log) readEpochs() bool {
	data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, epochCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err == nil {
		if l.epochs, err = decodeEpochCache(data); err == nil {
			return true
		}
	}
	l.epochs = epochCache{}
	l.logger.Warn("log recovery: leader epoch checkpoint unreadable, rebuilding it", "error", err.Error())
	return false
}

// finishEpochs rebuilds the leader epoch cache from the batch headers when
// it could not be read (and there is data), then trims it to [lso, leo),
// and persists it if it differs from what was read.
func (l *Log) finishEpochs(ok bool, read []epochEntry) {
	changed := !ok
	if !ok && l.leo > l.segs[0].base {
		l.epochs = epochCache{}
		for _, s := range l.segs {
			for pos := int64(0); pos < s.size; {
				h, err := s.readHeader(pos, l.hdrBuf[:])
				if err != nil {
					break
				}
				l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
				pos += h.Size()
			}
		}
	}
	l.epochs.truncateFromEnd(l.leo)
	l.epochs.truncateFromStart(l.lso)
	if changed || !slices.Equal(l.epochs.entries, read) {
		l.persistEpochs()
	}
}

// finishRecovery writes rebuilt index files, fsyncs the segments and the
// folder, and records recovery point = log end offset.
func (l *Log) finishRecovery() error {
	for _, s := range l.segs {
		if s.indexDirty {
			if err := s.writeIndexes(false); err != nil {
				return err
			}
		}
		if err := s.writeTxnIndex(); err != nil {
			return err
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("segment %d: fsync: %w", s.base, err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return err
	}
	l.flushed.Store(l.leo)
	return l.writeCheckpoint()
}
