package log

import (
	"encoding/binary"
	"fmt"

	"github.com/fjordstream/fjord/internal/record"
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
