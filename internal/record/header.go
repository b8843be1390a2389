package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them; the protocol layer maps them to Kafka error codes.
var (
	// ErrCorrupt: the bytes are not a well-formed batch (bad CRC, torn batch,
	// broken record framing, undecodable compressed payload).
	// Kafka: CORRUPT_MESSAGE.
	ErrCorrupt = errors.New("record: corrupt batch")
	// ErrInvalidRecord: well-formed bytes that break a rule (record count,
	// offset deltas, control batch from a client, ...). Kafka: INVALID_RECORD.
	ErrInvalidRecord = errors.New("record: invalid record")
	// ErrRecordTooLarge: a batch is larger than max.message.bytes.
	// Kafka: MESSAGE_TOO_LARGE.
	ErrRecordTooLarge = errors.New("record: batch too large")
	// ErrUnsupportedMagic: a batch is not magic v2.
	// Kafka: UNSUPPORTED_FOR_MESSAGE_FORMAT.
	ErrUnsupportedMagic = errors.New("record: unsupported magic")
	// ErrInvalidTimestamp: a CreateTime timestamp is outside the allowed
	// window. Kafka: INVALID_TIMESTAMP.
	ErrInvalidTimestamp = errors.New("record: invalid timestamp")
	// ErrNoKey: a record without a key was sent to a topic that requires
	// keys (cleanup.policy=compact). Kafka: INVALID_RECORD.
	ErrNoKey = errors.New("record: record has no key")
	// ErrOutOfOrderSequence: an idempotent batch's first sequence does not
	// follow the producer's last one (the broker's producer state decides).
	ErrOutOfOrderSequence = errors.New("record: out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent batch's producer epoch is
	// older than the producer's current one.
	ErrInvalidProducerEpoch = errors.New("record: invalid producer epoch")
)

// Offsets of the v2 header fields.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// HeaderSize is the size of the v2 batch header, records start after it.
const HeaderSize = 61

// LengthOverhead is the number of bytes before and including batchLength
// (baseOffset + batchLength): a batch occupies LengthOverhead+BatchLength bytes.
const LengthOverhead = 12

// Magic is the only batch format version Fjord accepts.
const Magic = 2

// NoTimestamp is Kafka's "no timestamp" value (-1).
const NoTimestamp = -1

// Attribute bits of the v2 header.
const (
	attrCodecMask     = 0x07
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Codec is the compression codec of a batch (attributes bits 0-2).
type Codec int8

// The codecs Kafka defines; 5-7 are invalid.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns Kafka's compression.type name of the codec.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Valid reports whether c is one of the five defined codecs.
func (c Codec) Valid() bool { return c >= CodecNone && c <= CodecZstd }

// TimestampType is message.timestamp.type: who set the timestamps of a batch.
type TimestampType int8

const (
	// CreateTime: timestamps were set by the producer.
	CreateTime TimestampType = 0
	// LogAppendTime: the broker stamped the batch when appending it.
	LogAppendTime TimestampType = 1
)

// String returns Kafka's message.timestamp.type name.
func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Header is a decoded copy of the 61-byte v2 batch header.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ParseHeader decodes the batch header at the start of b. It checks only what
// is needed to frame the batch: magic 2 (ErrUnsupportedMagic), a batch length
// of at least a header (ErrCorrupt) and that b holds the whole batch
// (ErrCorrupt). It does not check the CRC; see Validate and CheckCRC.
func ParseHeader(b []byte) (Header, error) {
	h, err := PeekHeader(b)
	if err != nil {
		return h, err
	}
	if int64(len(b)) < h.Size() {
		return h, fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorrupt, h.Size(), len(b))
	}
	return h, nil
}

// legacyRecordOverhead is the smallest batch length of any magic: a magic v0
// record with no key and no value (Kafka's LegacyRecord.RECORD_OVERHEAD_V0).
const legacyRecordOverhead = 14

// PeekBatch frames the batch at the start of b whatever its magic (0, 1 or
// 2), as Kafka's ByteBufferLogInputStream does before reading a produce
// request's batches, so that Produce refuses legacy batches with Kafka's
// codes rather than by failing to parse them as v2. ok is false when b does
// not hold a whole batch (Kafka sees no batch there). A batch length below
// the smallest legacy record, or a magic outside 0-2, wraps ErrCorrupt.
func PeekBatch(b []byte) (size int64, magic int8, ok bool, err error) {
	if len(b) < LengthOverhead {
		return 0, 0, false, nil
	}
	length := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if length < legacyRecordOverhead {
		return 0, 0, false, fmt.Errorf("%w: record size %d is less than the minimum record overhead (%d)", ErrCorrupt, length, legacyRecordOverhead)
	}
	if len(b) <= offMagic {
		return 0, 0, false, nil
	}
	magic = int8(b[offMagic])
	if magic < 0 || magic > Magic {
		return 0, magic, false, fmt.Errorf("%w: invalid magic %d", ErrCorrupt, magic)
	}
	size = int64(length) + LengthOverhead
	return size, magic, int64(len(b)) >= size, nil
}

// PeekHeader decodes the 61-byte batch header at the start of b without
// requiring the rest of the batch: it checks magic 2 and a batch length of
// at least a header. Storage uses it to step over stored batches.
func PeekHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, need a %d-byte header", ErrCorrupt, len(b), HeaderSize)
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offNumRecords:])),
	}
	if h.Magic != Magic {
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	if h.BatchLength < HeaderSize-LengthOverhead {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.BatchLength)
	}
	return h, nil
}

// Compression returns the codec from the attributes.
func (h Header) Compression() Codec { return Codec(h.Attributes & attrCodecMask) }

// TimestampType returns who set the batch's timestamps.
func (h Header) TimestampType() TimestampType {
	if h.Attributes&attrTimestampType != 0 {
		return LogAppendTime
	}
	return CreateTime
}

// IsTransactional reports the transactional attribute bit.
func (h Header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control attribute bit (transaction markers).
func (h Header) IsControl() bool { return h.Attributes&attrControl != 0 }

// LastOffset is the offset of the last record: BaseOffset + LastOffsetDelta.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch, LastOffset()+1.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Size is the number of bytes the batch occupies: 12 + BatchLength.
func (h Header) Size() int64 { return LengthOverhead + int64(h.BatchLength) }

// HasProducerID reports whether the batch carries a producer id (idempotent
// or transactional producer).
func (h Header) HasProducerID() bool { return h.ProducerID >= 0 }

// BatchSize returns the size a batch at the start of b claims (12 +
// batchLength) without further checks, or -1 when b is shorter than the
// first 12 bytes. Scanners use it to step from batch to batch.
func BatchSize(b []byte) int64 {
	if len(b) < LengthOverhead {
		return -1
	}
	return LengthOverhead + int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
}

// crcOf computes the CRC-32C Kafka stores for batch b (bytes 21..end).
// crc32.MakeTable returns a shared, lazily built table for Castagnoli, so
// this does not allocate.
func crcOf(b []byte) uint32 {
	return crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli))
}

// CheckCRC reports whether the stored CRC of the whole batch b matches its
// contents. b must be exactly one batch with at least a full header;
// otherwise CheckCRC returns false.
func CheckCRC(b []byte) bool {
	if len(b) < HeaderSize {
		return false
	}
	return binary.BigEndian.Uint32(b[offCRC:]) == crcOf(b)
}

// SetBaseOffset overwrites the base offset of the batch at the start of b.
// baseOffset is outside the CRC, so the CRC stays valid. It is a no-op when b
// is shorter than a header.
func SetBaseOffset(b []byte, off int64) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the partition leader epoch (outside the
// CRC). It is a no-op when b is shorter than a header.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch at the start of b as LogAppendTime and
// sets its maxTimestamp to ts, as Kafka does for
// message.timestamp.type=LogAppendTime (readers then use maxTimestamp for
// every record), and recomputes the CRC over the batch. b must hold the
// whole batch (see Header.Size); otherwise it is a no-op.
func SetLogAppendTime(b []byte, ts int64) {
	n := BatchSize(b)
	if len(b) < HeaderSize || n < HeaderSize || n > int64(len(b)) {
		return
	}
	b = b[:n]
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrTimestampType
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crcOf(b))
}

// SetMaxTimestamp overwrites maxTimestamp of the batch at the start of b and
// recomputes the CRC; it leaves the timestamp type alone. A broker can use it
// to correct a producer's wrong maxTimestamp (Kafka does so for CreateTime).
// b must hold the whole batch; otherwise it is a no-op.
func SetMaxTimestamp(b []byte, ts int64) {
	n := BatchSize(b)
	if len(b) < HeaderSize || n < HeaderSize || n > int64(len(b)) {
		return
	}
	b = b[:n]
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crcOf(b))
}
