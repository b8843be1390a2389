package record

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ValidateOptions are the topic and broker settings Validate enforces.
// The zero value checks only the format.
type ValidateOptions struct {
	// MaxBatchBytes is max.message.bytes: the largest batch (12 +
	// batchLength) accepted; 0 means unlimited.
	MaxBatchBytes int32
	// TimestampType is message.timestamp.type. Timestamps are checked
	// only for CreateTime.
	TimestampType TimestampType
	// MaxTimestampBefore is log.message.timestamp.before.max.ms: how far
	// in the past of Now a CreateTime timestamp may be; 0 means unchecked.
	MaxTimestampBefore time.Duration
	// MaxTimestampAfter is log.message.timestamp.after.max.ms: how far in
	// the future of Now a CreateTime timestamp may be; 0 means unchecked.
	MaxTimestampAfter time.Duration
	// MaxTimestampDiff is message.timestamp.difference.max.ms (the key
	// KIP-937 split in two): it bounds both directions where
	// MaxTimestampBefore / MaxTimestampAfter are unset; 0 means unchecked.
	MaxTimestampDiff time.Duration
	// Now is the broker time the timestamp window is centred on.
	Now time.Time
	// RequireKeys refuses records with a null key (compacted topics).
	RequireKeys bool
	// AllowControl accepts control batches (transaction markers). Clients
	// may not send them, so a produce path leaves it false.
	AllowControl bool
	// AllowEmpty accepts a batch of no records, as log compaction leaves
	// for a producer whose records all went (Kafka's empty batch header):
	// it must be exactly a header, uncompressed, with a good CRC. Clients
	// may not send them, so a produce path leaves it false.
	AllowEmpty bool
	// Decompressor inflates compressed batches; nil makes a throwaway one
	// per call, which is correct but slow (share one per broker).
	Decompressor *Decompressor
}

// Summary describes the batches Validate accepted.
type Summary struct {
	// Batches and Records count the batches and records.
	Batches int
	Records int64
	// Bytes is the total size of the batches (len of the input).
	Bytes int
	// MaxTimestamp is the largest record timestamp of all batches, computed
	// from the records (not trusted from the headers); NoTimestamp if none.
	MaxTimestamp int64
	// MaxTimestampIndex is the position (0-based, across all batches) of
	// the first record carrying MaxTimestamp; -1 if none.
	MaxTimestampIndex int64
	// HeaderMaxTimestampMismatch reports that some batch's header
	// maxTimestamp differs from the largest timestamp of its records; a
	// broker may fix it with SetMaxTimestamp as Kafka does.
	HeaderMaxTimestampMismatch bool
	// First and Last are the headers of the first and last batch.
	First, Last Header
	// Compressed reports that at least one batch is compressed.
	Compressed bool
	// ProducerID, ProducerEpoch and BaseSequence are those of the first
	// batch (-1 when the producer is not idempotent).
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// Transactional and Control are the attributes of the first batch.
	Transactional bool
	Control       bool
}

// Validate checks the records of one produce partition: one or more v2
// batches back to back, with no trailing bytes. It checks magic, framing,
// CRC-32C, record count and offset deltas, each record's framing (after
// decompression), the batch size limit, CreateTime timestamps and keys, per
// opts. It never modifies batches and does not allocate for uncompressed
// batches. Errors wrap ErrCorrupt, ErrInvalidRecord, ErrRecordTooLarge,
// ErrUnsupportedMagic, ErrInvalidTimestamp or ErrNoKey.
func Validate(batches []byte, opts ValidateOptions) (Summary, error) {
	s := Summary{Bytes: len(batches), MaxTimestamp: NoTimestamp, MaxTimestampIndex: -1}
	if len(batches) == 0 {
		return s, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	var v validator
	v.opts = opts
	v.minTS, v.maxTS = int64(math.MinInt64), int64(math.MaxInt64)
	if opts.TimestampType == CreateTime {
		now := opts.Now.UnixMilli()
		before, after := opts.MaxTimestampBefore, opts.MaxTimestampAfter
		if before <= 0 {
			before = opts.MaxTimestampDiff
		}
		if after <= 0 {
			after = opts.MaxTimestampDiff
		}
		if before > 0 {
			v.minTS = now - before.Milliseconds()
		}
		if after > 0 {
			v.maxTS = now + after.Milliseconds()
		}
	}
	for pos := 0; pos < len(batches); {
		h, err := v.batch(batches[pos:], &s)
		if err != nil {
			return s, fmt.Errorf("batch %d at byte %d: %w", s.Batches, pos, err)
		}
		if s.Batches == 0 {
			s.First = h
			s.ProducerID, s.ProducerEpoch, s.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
			s.Transactional, s.Control = h.IsTransactional(), h.IsControl()
		}
		s.Last = h
		s.Batches++
		s.Records += int64(h.NumRecords)
		pos += int(h.Size())
	}
	return s, nil
}

type validator struct {
	opts         ValidateOptions
	minTS, maxTS int64
	rec          Record
	// visit, if set, sees each record's offset delta and timestamp as it
	// is checked; returning false stops the walk (errStopWalk).
	visit func(offsetDelta int32, timestamp int64) bool
}

// errStopWalk ends a walk its visitor stopped; never returned to callers.
var errStopWalk = errors.New("walk stopped")

// WalkTimestamps calls fn with the offset delta and timestamp of each
// record of the single stored batch b, in order, until fn returns false.
// It inflates a compressed batch as Validate does, charged to d's budget
// and streaming past 2 MiB, so a lookup by timestamp (which any client may
// ask for) never inflates a large batch whole. It checks the batch as
// Validate does.
func WalkTimestamps(b []byte, d *Decompressor, fn func(offsetDelta int32, timestamp int64) bool) error {
	v := validator{opts: ValidateOptions{AllowControl: true, AllowEmpty: true, Decompressor: d}, minTS: math.MinInt64, maxTS: math.MaxInt64, visit: fn}
	s := Summary{MaxTimestamp: NoTimestamp, MaxTimestampIndex: -1}
	if _, err := v.batch(b, &s); err != nil && !errors.Is(err, errStopWalk) {
		return err
	}
	return nil
}

// batch validates the batch at the start of b and folds it into s.
func (v *validator) batch(b []byte, s *Summary) (Header, error) {
	if len(b) > offMagic && int8(b[offMagic]) != Magic {
		return Header{}, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(b[offMagic]))
	}
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if max := v.opts.MaxBatchBytes; max > 0 && h.Size() > int64(max) {
		return h, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrRecordTooLarge, h.Size(), max)
	}
	b = b[:h.Size()]
	if crc := crcOf(b); crc != h.CRC {
		return h, fmt.Errorf("%w: CRC %08x, computed %08x", ErrCorrupt, h.CRC, crc)
	}
	if h.NumRecords == 0 && v.opts.AllowEmpty {
		switch {
		case h.Size() != HeaderSize:
			return h, fmt.Errorf("%w: empty batch of %d bytes", ErrCorrupt, h.Size())
		case h.Compression() != CodecNone:
			return h, fmt.Errorf("%w: empty batch with codec %v", ErrCorrupt, h.Compression())
		case h.LastOffsetDelta < 0:
			return h, fmt.Errorf("%w: empty batch with last offset delta %d", ErrInvalidRecord, h.LastOffsetDelta)
		}
		return h, nil
	}
	if h.NumRecords < 1 {
		return h, fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	}
	if h.IsControl() && !v.opts.AllowControl {
		return h, fmt.Errorf("%w: control batch", ErrInvalidRecord)
	}
	if h.HasProducerID() && h.BaseSequence < 0 && !h.IsControl() {
		// A transaction marker carries its producer but no sequence.
		return h, fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	codec := h.Compression()
	if !codec.Valid() {
		return h, fmt.Errorf("%w: compression codec %d", ErrCorrupt, int8(codec))
	}
	if codec != CodecNone {
		s.Compressed = true
		return h, v.inflateBatch(h, codec, b[HeaderSize:], s)
	}
	return h, v.records(h, b[HeaderSize:], s)
}

// records walks the record framing of one batch's payload.
func (v *validator) records(h Header, payload []byte, s *Summary) error {
	batchMax := int64(NoTimestamp)
	p := 0
	for i := int32(0); i < h.NumRecords; i++ {
		if p >= len(payload) {
			return fmt.Errorf("%w: %d records, header says %d", ErrInvalidRecord, i, h.NumRecords)
		}
		n, err := parseRecord(payload[p:], &v.rec, false)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		p += n
		r := &v.rec
		if r.OffsetDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.OffsetDelta)
		}
		if v.opts.RequireKeys && r.Key == nil {
			return fmt.Errorf("record %d: %w", i, ErrNoKey)
		}
		ts := h.BaseTimestamp + r.TimestampDelta
		if v.visit != nil && !v.visit(r.OffsetDelta, ts) {
			return errStopWalk
		}
		if h.TimestampType() == CreateTime && ts != NoTimestamp && (ts < v.minTS || ts > v.maxTS) {
			return fmt.Errorf("%w: record %d timestamp %d outside [%d, %d]", ErrInvalidTimestamp, i, ts, v.minTS, v.maxTS)
		}
		if ts > batchMax {
			batchMax = ts
		}
		if ts > s.MaxTimestamp {
			s.MaxTimestamp = ts
			s.MaxTimestampIndex = s.Records + int64(i)
		}
	}
	if p != len(payload) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(payload)-p)
	}
	if h.TimestampType() == CreateTime && batchMax != h.MaxTimestamp {
		s.HeaderMaxTimestampMismatch = true
	}
	return nil
}
