package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// AbortedTxn is an aborted transaction, as a segment's transaction index
// (Kafka's .txnindex) keeps it: its producer, its first offset, its last
// offset (the abort marker's) and the last stable offset once it ended.
// A read_committed fetch answers those that overlap its range, and the
// consumer drops their records.
type AbortedTxn struct {
	ProducerID, FirstOffset, LastOffset, LastStableOffset int64
}

// TxnIndexEntrySize is the size of one transaction index entry: Kafka's
// version int16 (0), producer ID, first, last and last stable offsets.
const TxnIndexEntrySize = 2 + 4*8

// AppendTxnIndexEntry appends a's transaction index entry to dst.
func AppendTxnIndexEntry(dst []byte, a AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	for _, v := range []int64{a.ProducerID, a.FirstOffset, a.LastOffset, a.LastStableOffset} {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// ParseTxnIndex decodes a transaction index file. A partial last entry
// (a crash mid-write) is left out and reported by valid, the length of the
// whole entries, so recovery can cut it; an entry of another version, or
// one whose offsets are not ordered, is record.ErrCorrupt.
func ParseTxnIndex(b []byte) (entries []AbortedTxn, valid int, err error) {
	for len(b)-valid >= TxnIndexEntrySize {
		e := b[valid : valid+TxnIndexEntrySize]
		if v := int16(binary.BigEndian.Uint16(e)); v != 0 {
			return entries, valid, fmt.Errorf("%w: transaction index entry %d has version %d", record.ErrCorrupt, len(entries), v)
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(e[26:])),
		}
		if a.FirstOffset < 0 || a.LastOffset < a.FirstOffset {
			return entries, valid, fmt.Errorf("%w: transaction index entry %d spans %d to %d", record.ErrCorrupt, len(entries), a.FirstOffset, a.LastOffset)
		}
		entries = append(entries, a)
		valid += TxnIndexEntrySize
	}
	return entries, valid, nil
}

// txnIndexSuffix names a segment's transaction index file, as Kafka's.
const txnIndexSuffix = ".txnindex"

// A segment's aborted transactions (segment.txns) are those whose abort
// marker it holds, in marker order: what the partition, which alone knows
// a transaction's first offset, hands to AddAbortedTxn. They are kept in
// memory and written whole to <base>.txnindex (only when there are any;
// the file is removed when there are none), always atomically and
// fsynced (temporary file, fsync, rename, folder fsync), so a file on
// disk is never torn nor empty: by SyncTxnIndexes, which the partition
// calls before every producer snapshot, and by Close. A file is loaded
// when its segment is opened; one that cannot be read (or is empty) sets
// TxnIndexLost, and the partition then rebuilds every entry from the
// log's markers.

// loadTxnIndex reads s's transaction index file, keeping the entries
// whose marker is in the segment (recovered first, so its end is known).
// It reports false if the file exists but cannot be trusted (its entries
// are then dropped).
func (s *segment) loadTxnIndex() bool {
	s.txns, s.txnDirty = nil, false
	data, err := vfs.ReadFile(s.fs, s.path(txnIndexSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil || len(data) == 0 {
		s.txnDirty = true
		return false
	}
	entries, valid, err := ParseTxnIndex(data)
	if err != nil || valid != len(data) {
		s.txnDirty = true
		return false
	}
	for i, a := range entries {
		if a.LastOffset < s.base || i > 0 && a.LastOffset <= entries[i-1].LastOffset {
			s.txnDirty = true
			return false
		}
		if a.LastOffset >= s.next {
			// Written before a crash took the segment's tail (the
			// index may be fsynced before the log is, in page-cache
			// mode): those markers are gone.
			entries, s.txnDirty = entries[:i], true
			break
		}
	}
	s.txns = entries
	return true
}

// writeTxnIndex writes s's transaction index from memory, atomically and
// fsynced (removing the file, durably, when there is nothing to keep).
func (s *segment) writeTxnIndex() error {
	if !s.txnDirty {
		return nil
	}
	name := segmentName(s.base) + txnIndexSuffix
	if len(s.txns) == 0 {
		err := s.fs.Remove(s.path(txnIndexSuffix))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return fmt.Errorf("segment %d: %w", s.base, err)
		default:
			if err := syncDir(s.fs, s.dir); err != nil {
				return err
			}
		}
	} else {
		b := make([]byte, 0, len(s.txns)*TxnIndexEntrySize)
		for _, a := range s.txns {
			b = AppendTxnIndexEntry(b, a)
		}
		if err := writeAtomic(s.fs, s.dir, name, b); err != nil {
			return fmt.Errorf("segment %d: %w", s.base, err)
		}
	}
	s.txnDirty = false
	return nil
}

// dropTxnsFrom forgets s's entries whose marker is at or past offset.
func (s *segment) dropTxnsFrom(offset int64) {
	i := sort.Search(len(s.txns), func(i int) bool { return s.txns[i].LastOffset >= offset })
	if i < len(s.txns) {
		s.txns = s.txns[:i]
		s.txnDirty = true
	}
}

// AddAbortedTxn indexes an aborted transaction in the segment holding its
// abort marker (a.LastOffset, which must be in the log and past every
// entry already indexed). It is written to disk by SyncTxnIndexes or
// Close; until then a crash loses it, and the partition re-derives it
// from the markers past its last producer snapshot.
func (l *Log) AddAbortedTxn(a AbortedTxn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if a.FirstOffset < 0 || a.LastOffset < a.FirstOffset || a.LastOffset >= l.leo {
		return fmt.Errorf("aborted transaction %d to %d: not in the log (end %d)", a.FirstOffset, a.LastOffset, l.leo)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > a.LastOffset }) - 1
	if i < 0 {
		return fmt.Errorf("aborted transaction %d to %d: below the log start", a.FirstOffset, a.LastOffset)
	}
	for _, s := range l.segs[i:] {
		if n := len(s.txns); n > 0 && s.txns[n-1].LastOffset >= a.LastOffset {
			return fmt.Errorf("aborted transaction marker %d: not past the last indexed (%d)", a.LastOffset, s.txns[n-1].LastOffset)
		}
	}
	s := l.segs[i]
	s.txns = append(s.txns, a)
	s.txnDirty = true
	return nil
}

// AbortedTxns returns the aborted transactions with records in [from, to),
// oldest marker first: what a read_committed fetch of that range answers
// so the consumer can drop their records. As Kafka's collectAbortedTxns,
// it searches from the segment holding from and stops at the first entry
// whose last stable offset reaches to: every transaction with records
// below to had ended, and was indexed, by then.
func (l *Log) AbortedTxns(from, to int64) []AbortedTxn {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []AbortedTxn
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > from })-1, 0)
	for _, s := range l.segs[i:] {
		j := sort.Search(len(s.txns), func(j int) bool { return s.txns[j].LastOffset >= from })
		for _, a := range s.txns[j:] {
			if a.FirstOffset < to {
				out = append(out, a)
			}
			if a.LastStableOffset >= to {
				return out
			}
		}
	}
	return out
}

// DropAbortedTxnsFrom forgets the aborted transactions whose marker is at
// or past offset: the partition re-derives them when it replays the log
// from a producer snapshot at offset.
func (l *Log) DropAbortedTxnsFrom(offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		s.dropTxnsFrom(offset)
	}
}

// SyncTxnIndexes writes (atomically, fsynced) every transaction index
// that changed: the partition calls it before writing a producer
// snapshot, so the entries below a snapshot's offset are durable when
// the snapshot is.
func (l *Log) SyncTxnIndexes() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	for _, s := range l.segs {
		if err := s.writeTxnIndex(); err != nil {
			return err
		}
	}
	return nil
}

// TxnIndexRebuilt records that the partition rebuilt the index from the
// log and made it durable: TxnIndexLost reports false again.
func (l *Log) TxnIndexRebuilt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.txnIndexLost = false
}

// TxnIndexLost reports whether a transaction index file could not be read
// when the log was opened: its entries are gone and must be rebuilt from
// the log's markers.
func (l *Log) TxnIndexLost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.txnIndexLost
}
