package record

import (
	"encoding/binary"
)

// BuildOptions shape the batch Build produces.
type BuildOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// BaseTimestamp is the timestamp records' TimestampDelta is relative to.
	BaseTimestamp int64
	Codec         Codec
	// XerialSnappy frames snappy payloads as the Java producer does.
	XerialSnappy  bool
	TimestampType TimestampType
	Transactional bool
	Control       bool
	// ProducerID, ProducerEpoch and BaseSequence are written as given,
	// except that all three zero (the zero value) writes -1s: no producer.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// Build encodes records as one v2 batch. Record offset deltas and timestamp
// deltas are written as given (use 0..n-1 for a valid batch); maxTimestamp
// is BaseTimestamp plus the largest delta. Build is meant for tests,
// benchmarks and tools: it allocates freely. It panics only if the
// compression library fails, which cannot happen for in-memory buffers.
func Build(records []Record, opts BuildOptions) []byte {
	var payload []byte
	maxDelta := int64(0)
	for i, r := range records {
		payload = appendRecord(payload, &r)
		if i == 0 || r.TimestampDelta > maxDelta {
			maxDelta = r.TimestampDelta
		}
	}
	if opts.Codec != CodecNone {
		c, err := compress(opts.Codec, payload, opts.XerialSnappy)
		if err != nil {
			panic("record: compressing in memory: " + err.Error())
		}
		payload = c
	}
	pid, epoch, seq := opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence
	if pid == 0 && epoch == 0 && seq == 0 {
		pid, epoch, seq = -1, -1, -1
	}
	attrs := uint16(opts.Codec) & attrCodecMask
	if opts.TimestampType == LogAppendTime {
		attrs |= attrTimestampType
	}
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(opts.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(HeaderSize-LengthOverhead+len(payload)))
	be.PutUint32(b[offLeaderEpoch:], uint32(opts.PartitionLeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offLastOffsetDelta:], uint32(int32(len(records)-1)))
	be.PutUint64(b[offBaseTimestamp:], uint64(opts.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(opts.BaseTimestamp+maxDelta))
	be.PutUint64(b[offProducerID:], uint64(pid))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], uint32(seq))
	be.PutUint32(b[offNumRecords:], uint32(len(records)))
	b = append(b, payload...)
	be.PutUint32(b[offCRC:], crcOf(b))
	return b
}

// appendRecord appends the wire form of r (length-prefixed) to dst.
func appendRecord(dst []byte, r *Record) []byte {
	var body []byte
	body = append(body, byte(r.Attributes))
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(r.OffsetDelta))
	body = appendBytesField(body, r.Key)
	body = appendBytesField(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendBytesField(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
