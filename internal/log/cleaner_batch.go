package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// What a clean keeps of each batch and how it re-encodes it (the rules are
// in cleaner.go). Kafka's counterparts are MemoryRecords.filterTo and the
// RecordFilter of LogCleaner.cleanInto.

// Byte positions in a v2 batch header that a rebuilt batch patches
// (Kafka's DefaultRecordBatch layout).
const (
	hdrBatchLength     = 8
	hdrLeaderEpoch     = 12
	hdrMagic           = 16
	hdrCRC             = 17
	hdrAttributes      = 21
	hdrLastOffsetDelta = 23
	hdrBaseTimestamp   = 27
	hdrMaxTimestamp    = 35
	hdrProducerID      = 43
	hdrProducerEpoch   = 51
	hdrBaseSequence    = 53
	hdrNumRecords      = 57
)

// Attribute bits of a v2 batch the cleaner reads or writes.
const (
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	// attrDeleteHorizon is Kafka's delete horizon flag (KIP-534, Kafka
	// 3.1): the batch's base timestamp holds the delete horizon, the time
	// from which a clean may drop its tombstones, and the record
	// timestamp deltas are relative to it, so base + delta is still each
	// record's own timestamp for every reader.
	attrDeleteHorizon = 0x40
)

// hasDeleteHorizon reports the delete horizon flag of h.
func hasDeleteHorizon(h record.Header) bool { return h.Attributes&attrDeleteHorizon != 0 }

// deleteHorizon returns now + delete.retention.ms in Unix ms, saturating
// instead of overflowing for an "infinite" retention.
func deleteHorizon(now time.Time, retention time.Duration) int64 {
	ms, r := now.UnixMilli(), retention.Milliseconds()
	if r > 0 && ms > math.MaxInt64-r {
		return math.MaxInt64
	}
	return ms + max(r, 0)
}

// isProducerLast reports whether the batch with header h is the one the
// clean keeps (emptied if need be) for its producer's state.
func (c *cleaner) isProducerLast(h record.Header) bool {
	if !h.HasProducerID() {
		return false
	}
	last, ok := c.producerLast[h.ProducerID]
	return ok && last == h.LastOffset()
}

// filter emits what is kept of batch b (see cleaner.go for the rules).
func (c *cleaner) filter(h record.Header, b []byte, emit func([]byte) error) error {
	if h.IsControl() {
		return c.filterMarker(h, b, emit)
	}
	retainEmpty := c.isProducerLast(h)
	if c.txns.onData(h) {
		// An aborted transaction's batch: every record goes.
		c.st.RecordsRead += int64(h.NumRecords)
		c.st.AbortedRecordsRemoved += int64(h.NumRecords)
		if retainEmpty {
			return emit(emptyBatch(h, h.BaseOffset))
		}
		return nil
	}
	if h.NumRecords == 0 {
		// An empty batch an earlier clean kept for its producer: kept
		// while it still is the producer's last batch.
		if retainEmpty {
			return emit(b)
		}
		return nil
	}
	flagged := hasDeleteHorizon(h)
	expired := flagged && c.now >= h.BaseTimestamp
	kept, all, none, tombstones := c.kept[:0], true, true, false
	lastKept := int64(-1)
	err := record.Walk(b, c.l.decomp, func(r *record.Record) bool {
		off := h.BaseOffset + int64(r.OffsetDelta)
		keep := r.Key != nil
		if keep {
			if newest, ok := c.keys[string(r.Key)]; ok && newest > off {
				keep = false
			}
		}
		if keep && r.Value == nil {
			if expired {
				keep = false
				c.st.TombstonesRemoved++
			} else {
				tombstones = true
			}
		}
		c.st.RecordsRead++
		if keep {
			c.st.RecordsKept++
			lastKept = off
		}
		kept = append(kept, keep)
		all, none = all && keep, none && !keep
		return true
	})
	c.kept = kept
	if err != nil {
		return err
	}
	horizon := int64(-1)
	switch {
	case flagged:
		horizon = h.BaseTimestamp
	case tombstones:
		// The first clean to keep a tombstone starts its
		// delete.retention.ms.
		horizon = c.newHorizon
	}
	switch {
	case all && (flagged || !tombstones):
		return emit(b)
	case none:
		if retainEmpty {
			return emit(emptyBatch(h, h.BaseOffset))
		}
		return nil
	}
	_, recs, err := record.Records(b)
	if err != nil {
		return err
	}
	if len(recs) != len(kept) {
		return fmt.Errorf("%w: %d records, walked %d", record.ErrCorrupt, len(recs), len(kept))
	}
	for i := 0; i < len(recs); {
		if !kept[i] {
			i++
			continue
		}
		j := i + 1
		for j < len(recs) && kept[j] && recs[j].OffsetDelta == recs[j-1].OffsetDelta+1 {
			j++
		}
		if err := emit(rebuildRun(h, recs[i:j], horizon)); err != nil {
			return err
		}
		i = j
	}
	if retainEmpty && lastKept < h.LastOffset() {
		// The producer's last sequence sits on a removed record: an
		// empty batch after the kept runs carries it.
		return emit(emptyBatch(h, lastKept+1))
	}
	return nil
}

// shiftSequence is seq advanced by delta offsets, wrapping from MaxInt32
// to 0 as Kafka's sequences do; a batch without sequences stays at -1.
func shiftSequence(seq int32, delta int64) int32 {
	if seq < 0 {
		return seq
	}
	return int32((int64(seq) + delta) % (1 << 31))
}

// rebuildRun encodes records of consecutive offsets taken from the batch
// with header h as one batch based at the first one's offset, keeping h's
// codec, leader epoch, timestamp type, record timestamps and producer
// fields. With horizon >= 0 the batch carries the delete horizon flag and
// base timestamp horizon, and each record's timestamp delta is rebased on
// it (Kafka's MemoryRecordsBuilder with a deleteHorizonMs).
func rebuildRun(h record.Header, run []record.Record, horizon int64) []byte {
	runBase := h.BaseOffset + int64(run[0].OffsetDelta)
	base := h.BaseTimestamp
	if horizon >= 0 {
		base = horizon
	}
	rs := make([]record.Record, len(run))
	for j, r := range run {
		r.OffsetDelta = int32(j)
		r.TimestampDelta = h.BaseTimestamp + r.TimestampDelta - base
		rs[j] = r
	}
	codec := h.Compression()
	b := record.Build(rs, record.BuildOptions{
		BaseOffset:           runBase,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		BaseTimestamp:        base,
		Codec:                codec,
		XerialSnappy:         codec == record.CodecSnappy,
		TimestampType:        h.TimestampType(),
		Transactional:        h.IsTransactional(),
		Control:              h.IsControl(),
	})
	// Build writes -1s for an all-zero producer triple; write the real
	// fields, with the sequence following the offset shift.
	be := binary.BigEndian
	be.PutUint64(b[hdrProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[hdrProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[hdrBaseSequence:], uint32(shiftSequence(h.BaseSequence, int64(run[0].OffsetDelta))))
	if h.TimestampType() == record.LogAppendTime {
		be.PutUint64(b[hdrMaxTimestamp:], uint64(h.MaxTimestamp))
	}
	if horizon >= 0 {
		be.PutUint16(b[hdrAttributes:], be.Uint16(b[hdrAttributes:])|attrDeleteHorizon)
	}
	be.PutUint32(b[hdrCRC:], crc32.Checksum(b[hdrAttributes:], castagnoli))
	return b
}

// emptyBatch is the header-only batch (record count 0) standing for the
// offsets [base, h.LastOffset()] of the batch with header h, as Kafka's
// DefaultRecordBatch.writeEmptyHeader writes it: same producer ID and
// epoch, base sequence shifted to base (so its last sequence is h's),
// leader epoch, timestamp type and maxTimestamp, no codec, base timestamp
// -1, no delete horizon. Producer state rebuilt from the log reads the
// producer's epoch and last sequence from it.
func emptyBatch(h record.Header, base int64) []byte {
	b := make([]byte, record.HeaderSize)
	be := binary.BigEndian
	be.PutUint64(b, uint64(base))
	be.PutUint32(b[hdrBatchLength:], record.HeaderSize-record.LengthOverhead)
	be.PutUint32(b[hdrLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[hdrMagic] = record.Magic
	be.PutUint16(b[hdrAttributes:], uint16(h.Attributes)&(attrTimestampType|attrTransactional|attrControl))
	be.PutUint32(b[hdrLastOffsetDelta:], uint32(h.LastOffset()-base))
	noTS := int64(record.NoTimestamp)
	be.PutUint64(b[hdrBaseTimestamp:], uint64(noTS))
	be.PutUint64(b[hdrMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[hdrProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[hdrProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[hdrBaseSequence:], uint32(shiftSequence(h.BaseSequence, base-h.BaseOffset)))
	be.PutUint32(b[hdrNumRecords:], 0)
	be.PutUint32(b[hdrCRC:], crc32.Checksum(b[hdrAttributes:], castagnoli))
	return b
}

// scanProducers maps each producer ID with a batch in segs to the last
// offset of its last batch there, reading batch headers only. Clean uses
// it when the caller gave no producer state.
func (c *cleaner) scanProducers(segs []*segment) (map[int64]int64, error) {
	last := map[int64]int64{}
	hdr := c.hdr[:]
	for _, s := range segs {
		size := c.sizes[s]
		for pos := int64(0); pos < size; {
			if err := c.ctx.Err(); err != nil {
				return nil, err
			}
			if err := readFull(s.f, hdr, pos); err != nil {
				return nil, fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
			}
			h, err := record.PeekHeader(hdr)
			if err != nil {
				return nil, fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
			}
			if h.HasProducerID() && !h.IsControl() {
				last[h.ProducerID] = h.LastOffset()
			}
			pos += h.Size()
		}
	}
	return last, nil
}

// validateStored checks one stored batch as recovery does: record.Validate
// with control batches and the cleaner's empty batches allowed.
func validateStored(b []byte, d *record.Decompressor) error {
	_, err := record.Validate(b, record.ValidateOptions{AllowControl: true, AllowEmpty: true, Decompressor: d})
	return err
}
