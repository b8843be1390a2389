package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Producer state snapshots sit beside the segments, named as Kafka names
// them: <20-digit offset>.snapshot, holding the idempotence state of every
// producer and the open transactions as of that offset (every batch below
// it applied, none at or above it). The format is Fjord's own, big endian:
//
//	 0: magic "FJPS"
//	 4: version uint8 (2; 1 is still read: no coordinator epoch, no
//	    transactions)
//	 5: crc uint32: CRC-32C of bytes 9..end
//	 9: offset int64 (must match the file name)
//	17: producer count uint32
//	21: producers, by ascending ID:
//	    producerId int64, epoch int16, lastTimestamp int64,
//	    coordinatorEpoch int32 (v2), batch count uint8 (0-5),
//	    then per batch, oldest first:
//	    firstSeq int32, lastSeq int32, firstOffset int64, offsetDelta int32, appendTime int64
//	v2, then: ongoing transaction count uint32 and, by ascending producer
//	    ID, producerId int64, firstOffset int64 (Kafka's
//	    CurrentTxnFirstOffset); then the count of ended transactions whose
//	    marker was not yet replicated, uint32, and, in marker order,
//	    firstOffset int64, markerOffset int64.
//
// Files are written atomically (temp file, fsync, rename, folder fsync),
// after the log's transaction indexes are fsynced, so the aborted
// transactions below a snapshot's offset survive with it. Unlike Kafka,
// which keeps only each producer's last batch, all five are kept, so a
// retry of any in-flight batch is still recognised after a restart.
const (
	snapshotSuffix  = ".snapshot"
	snapshotMagic   = "FJPS"
	snapshotVersion = 2
	snapshotHeader  = 21
	snapshotEntryV1 = 8 + 2 + 8 + 1
	snapshotEntry   = 8 + 2 + 8 + 4 + 1
	snapshotBatch   = 4 + 4 + 8 + 4 + 8
	snapshotTxn     = 8 + 8
	// snapshotsKept is how many snapshot files are kept: the newest, and
	// one older in case the newest turns out unreadable.
	snapshotsKept = 2
	// scanWindow is the read size of the header walk that rebuilds state
	// from the log: one pread covers every header inside it.
	scanWindow = 8 << 10
	// maxMarkerBatch bounds a transaction marker's batch (about 80
	// bytes), well inside scanWindow.
	maxMarkerBatch = 1 << 10
)

// errBadSnapshot marks a snapshot file that cannot be trusted.
var errBadSnapshot = errors.New("bad producer state snapshot")

func snapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotSuffix) }

// encodeProducerSnapshot serialises s and t as of offset.
func encodeProducerSnapshot(offset int64, s *producerStates, t *txnState) []byte {
	size := snapshotHeader + 8 + (len(t.ongoing)+len(t.unreplicated))*snapshotTxn
	for _, e := range s.m {
		size += snapshotEntry + len(e.batches)*snapshotBatch
	}
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.m)))
	for _, id := range s.sortedIDs() {
		e := s.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint32(b, uint32(m.offsetDelta))
			b = binary.BigEndian.AppendUint64(b, uint64(m.appendTime))
		}
	}
	ids := make([]int64, 0, len(t.ongoing))
	for id := range t.ongoing {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint64(b, uint64(t.ongoing[id]))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(t.unreplicated)))
	for _, e := range t.unreplicated {
		b = binary.BigEndian.AppendUint64(b, uint64(e.first))
		b = binary.BigEndian.AppendUint64(b, uint64(e.marker))
	}
	binary.BigEndian.PutUint32(b[5:], crc32.Checksum(b[9:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// decodeProducerSnapshot parses a snapshot (version 1 or 2). It never
// panics; any damage (wrong magic or version, CRC mismatch, counts that do
// not fit the bytes, a repeated producer ID, negative offsets, trailing
// bytes) is an error wrapping errBadSnapshot.
func decodeProducerSnapshot(b []byte) (int64, producerStates, txnState, error) {
	bad := func(format string, args ...any) (int64, producerStates, txnState, error) {
		return 0, producerStates{}, txnState{}, fmt.Errorf("%w: "+format, append([]any{errBadSnapshot}, args...)...)
	}
	if len(b) < snapshotHeader {
		return bad("%d bytes, shorter than the header", len(b))
	}
	version := b[4]
	if string(b[:4]) != snapshotMagic || version != 1 && version != snapshotVersion {
		return bad("magic %q version %d", b[:4], b[4])
	}
	if want, got := binary.BigEndian.Uint32(b[5:]), crc32.Checksum(b[9:], crc32.MakeTable(crc32.Castagnoli)); want != got {
		return bad("CRC %08x, computed %08x", want, got)
	}
	entry := snapshotEntry
	if version == 1 {
		entry = snapshotEntryV1
	}
	offset := int64(binary.BigEndian.Uint64(b[9:]))
	count := int64(binary.BigEndian.Uint32(b[17:]))
	if offset < 0 {
		return bad("offset %d", offset)
	}
	rest := b[snapshotHeader:]
	if count > int64(len(rest))/int64(entry) {
		return bad("%d producers in %d bytes", count, len(rest))
	}
	s := producerStates{m: make(map[int64]*producerEntry, count)}
	for i := int64(0); i < count; i++ {
		if len(rest) < entry {
			return bad("producer %d truncated", i)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{
			epoch:            int16(binary.BigEndian.Uint16(rest[8:])),
			lastTimestamp:    int64(binary.BigEndian.Uint64(rest[10:])),
			coordinatorEpoch: -1,
		}
		if version >= 2 {
			e.coordinatorEpoch = int32(binary.BigEndian.Uint32(rest[18:]))
		}
		n := int(rest[entry-1])
		rest = rest[entry:]
		if n > producerBatchesKept || len(rest) < n*snapshotBatch {
			return bad("producer %d has %d batches in %d bytes", id, n, len(rest))
		}
		if _, dup := s.m[id]; dup || id < 0 {
			return bad("producer id %d repeated or negative", id)
		}
		e.batches = make([]batchMetadata, n, producerBatchesKept)
		for j := range e.batches {
			m := batchMetadata{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				offsetDelta: int32(binary.BigEndian.Uint32(rest[16:])),
				appendTime:  int64(binary.BigEndian.Uint64(rest[20:])),
			}
			if m.firstOffset < 0 || m.offsetDelta < 0 || m.firstOffset > math.MaxInt64-int64(m.offsetDelta) {
				return bad("producer %d batch %d at offset %d+%d", id, j, m.firstOffset, m.offsetDelta)
			}
			e.batches[j] = m
			rest = rest[snapshotBatch:]
		}
		s.m[id] = e
	}
	t := newTxnState()
	if version >= 2 {
		var err error
		if rest, err = decodeSnapshotTxns(rest, offset, &t); err != nil {
			return bad("%v", err)
		}
	}
	if len(rest) != 0 {
		return bad("%d trailing bytes", len(rest))
	}
	return offset, s, t, nil
}

// decodeSnapshotTxns reads a v2 snapshot's transaction section into t and
// returns the bytes after it. Every offset is below the snapshot's.
func decodeSnapshotTxns(rest []byte, offset int64, t *txnState) ([]byte, error) {
	pair := func() (int64, int64) {
		a, b := int64(binary.BigEndian.Uint64(rest)), int64(binary.BigEndian.Uint64(rest[8:]))
		rest = rest[snapshotTxn:]
		return a, b
	}
	count := func(what string) (int, error) {
		if len(rest) < 4 {
			return 0, fmt.Errorf("%s count truncated", what)
		}
		n := int64(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if n > int64(len(rest))/snapshotTxn {
			return 0, fmt.Errorf("%d %s in %d bytes", n, what, len(rest))
		}
		return int(n), nil
	}
	n, err := count("ongoing transactions")
	if err != nil {
		return nil, err
	}
	last := int64(-1)
	for range n {
		id, first := pair()
		if id <= last || first < 0 || first >= offset {
			return nil, fmt.Errorf("ongoing transaction of producer %d at %d (previous producer %d, snapshot at %d)", id, first, last, offset)
		}
		t.ongoing[id], last = first, id
	}
	if n, err = count("unreplicated transactions"); err != nil {
		return nil, err
	}
	last = -1
	for range n {
		first, marker := pair()
		if first < 0 || marker < first || marker <= last || marker >= offset {
			return nil, fmt.Errorf("ended transaction %d to %d (previous marker %d, snapshot at %d)", first, marker, last, offset)
		}
		t.unreplicated, last = append(t.unreplicated, endedTxn{first, marker}), marker
	}
	return rest, nil
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(fsys vfs.FS, dir string) ([]int64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		if !ok || e.IsDir() || len(stem) != 20 {
			continue
		}
		if off, err := strconv.ParseInt(stem, 10, 64); err == nil && off >= 0 {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out, nil
}

// loadProducers rebuilds the producer state when the partition opens: it
// deletes snapshots above the log end offset (written before a crash took
// the tail they describe; a later tail could differ) or below the log start
// offset (the batches between them and the log start are gone, so their
// state could not be brought forward), loads the newest snapshot that
// decodes, and replays the batch headers from its offset (or, with none,
// from the log start offset) to the log end offset. Only headers are read.
func (p *Partition) loadProducers() error {
	dir := p.log.Dir()
	lso, leo := p.log.LogStartOffset(), p.log.LogEndOffset()
	offsets, err := listSnapshots(p.fs, dir)
	if err != nil {
		return fmt.Errorf("producer snapshots: %w", err)
	}
	removed := false
	var usable []int64
	for _, off := range offsets {
		if off >= lso && off <= leo {
			usable = append(usable, off)
			continue
		}
		p.logger.Warn("deleting producer snapshot outside the log", "snapshot", snapshotName(off), "log_start_offset", lso, "log_end_offset", leo)
		if err := p.fs.Remove(filepath.Join(dir, snapshotName(off))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("producer snapshot %d: %w", off, err)
		}
		removed = true
	}
	if removed {
		// The deletion must be durable before new appends can carry the
		// log end offset past a deleted snapshot again.
		if err := metadata.SyncDir(p.fs, dir); err != nil {
			return err
		}
	}
	p.producers, p.snapOffset = newProducerStates(), -1
	txns := newTxnState()
	from := lso
	lost := p.log.TxnIndexLost()
	if lost {
		// Every aborted transaction is re-derived from the markers.
		p.logger.Warn("a transaction index was unreadable: rebuilding producer and transaction state from the whole log")
		usable = nil
	}
	for i := len(usable) - 1; i >= 0; i-- {
		off := usable[i]
		data, err := vfs.ReadFile(p.fs, filepath.Join(dir, snapshotName(off)))
		if err == nil {
			var got int64
			var s producerStates
			var t txnState
			got, s, t, err = decodeProducerSnapshot(data)
			if err == nil && got != off {
				err = fmt.Errorf("%w: holds offset %d", errBadSnapshot, got)
			}
			if err == nil {
				p.producers, txns, p.snapOffset, from = s, t, off, off
				break
			}
		}
		p.logger.Warn("ignoring unreadable producer snapshot", "snapshot", snapshotName(off), "err", err)
	}
	p.txnMu.Lock()
	p.txns = txns
	p.txnMu.Unlock()
	clear(p.guards) // verifications in flight are retried
	// The aborted transactions past the snapshot may be missing from the
	// index (written after its last sync) or belong to a cut tail: the
	// replay indexes them again.
	p.log.DropAbortedTxnsFrom(from)
	if err := p.replayProducers(from, leo); err != nil {
		return err
	}
	if lost {
		// The rebuilt index and a snapshot past it are made durable at
		// once: the damaged file is gone, so a crash before the next
		// snapshot would otherwise trust an older one over an index
		// that lacks its entries.
		if err := p.writeSnapshotLocked(leo); err != nil {
			return fmt.Errorf("producer state after rebuilding the transaction index: %w", err)
		}
		p.log.TxnIndexRebuilt()
		return nil
	}
	p.dirty = from != leo
	return nil
}

// replayProducers applies the producer fields of the batch headers in
// [from, to) to p.producers, reading headers only.
func (p *Partition) replayProducers(from, to int64) error {
	buf := make([]byte, scanWindow)
	for off := from; off < to; {
		fs, err := p.log.ReadSlices(off, math.MaxInt32, to, true)
		if err != nil {
			return fmt.Errorf("producer state: reading from offset %d: %w", off, err)
		}
		next := off
		for _, sl := range fs.Slices() {
			if next, err = p.replayRegion(sl.File, sl.Pos, sl.Len, buf); err != nil {
				break
			}
		}
		fs.Release()
		if err != nil {
			return fmt.Errorf("producer state: replay from offset %d: %w", off, err)
		}
		if next <= off {
			// Nothing at off although it is below the log end: the state
			// stays partial (producers missing from it are accepted as
			// unknown, as after expiry).
			p.logger.Warn("producer state replay found no batch", "offset", off, "log_end_offset", to)
			break
		}
		off = next
	}
	return nil
}

// replayRegion walks the batch headers of a file region holding whole
// batches and returns the offset after the last one.
func (p *Partition) replayRegion(f interface {
	ReadAt([]byte, int64) (int, error)
}, pos, n int64, buf []byte) (int64, error) {
	end := pos + n
	winStart, winLen := int64(0), int64(0)
	next := int64(-1)
	for pos < end {
		if pos+record.HeaderSize > end {
			return next, fmt.Errorf("%d stray bytes at position %d", end-pos, pos)
		}
		if pos < winStart || pos+record.HeaderSize > winStart+winLen {
			want := min(int64(len(buf)), end-pos)
			if _, err := f.ReadAt(buf[:want], pos); err != nil {
				return next, fmt.Errorf("read at %d: %w", pos, err)
			}
			winStart, winLen = pos, want
		}
		h, err := record.PeekHeader(buf[pos-winStart : winLen])
		if err != nil {
			return next, fmt.Errorf("batch at position %d: %w", pos, err)
		}
		var batch []byte
		if h.HasProducerID() && h.IsControl() {
			// A marker: its record says commit or abort.
			if h.Size() > maxMarkerBatch {
				return next, fmt.Errorf("control batch of %d bytes at position %d", h.Size(), pos)
			}
			if pos+h.Size() > winStart+winLen {
				want := min(int64(len(buf)), end-pos)
				if _, err := f.ReadAt(buf[:want], pos); err != nil {
					return next, fmt.Errorf("read at %d: %w", pos, err)
				}
				winStart, winLen = pos, want
			}
			batch = buf[pos-winStart : min(pos-winStart+h.Size(), winLen)]
		}
		p.observeBatch(h, batch, h.MaxTimestamp)
		next = h.NextOffset()
		pos += h.Size()
	}
	return next, nil
}

// snapshotLocked writes the producer state as of the log end offset, which
// under produceMu it matches: idempotent appends update the state under
// produceMu, and other batches do not change it. Older snapshots beyond
// snapshotsKept are deleted. Caller holds produceMu.
func (p *Partition) snapshotLocked() error {
	if p.closed {
		return nil
	}
	return p.writeSnapshotLocked(p.log.LogEndOffset())
}

// writeSnapshotLocked writes the state as of offset. Caller holds
// produceMu.
func (p *Partition) writeSnapshotLocked(offset int64) error {
	dir := p.log.Dir()
	if !p.closed {
		// A closed log synced its indexes as it closed.
		if err := p.log.SyncTxnIndexes(); err != nil {
			return fmt.Errorf("producer snapshot %d: %w", offset, err)
		}
	}
	p.txnMu.Lock()
	data := encodeProducerSnapshot(offset, &p.producers, &p.txns)
	p.txnMu.Unlock()
	if err := metadata.WriteFileAtomic(p.fs, filepath.Join(dir, snapshotName(offset)), data); err != nil {
		return fmt.Errorf("producer snapshot %d: %w", offset, err)
	}
	p.snapOffset, p.dirty = offset, false
	offsets, err := listSnapshots(p.fs, dir)
	if err != nil {
		return fmt.Errorf("producer snapshots: %w", err)
	}
	var errs []error
	for _, off := range offsets[:max(len(offsets)-snapshotsKept, 0)] {
		// An old snapshot surviving a crash is harmless: only the newest
		// usable one is loaded.
		if err := p.fs.Remove(filepath.Join(dir, snapshotName(off))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
