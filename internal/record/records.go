package record

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one record of a batch. Key, Value and header values alias the
// batch bytes (or the decompressed payload); nil means null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// RecordHeader is one record header. Kafka header keys are non-null strings;
// values may be null (nil).
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordBody is the smallest record body: attributes, timestampDelta,
// offsetDelta, key length, value length and header count, one byte each.
const minRecordBody = 6

// varint32 decodes a zigzag varint that must fit in an int32.
func varint32(b []byte) (int32, int, bool) {
	v, n := binary.Varint(b)
	if n <= 0 || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, 0, false
	}
	return int32(v), n, true
}

// bytesField decodes a varint length followed by that many bytes; length
// -1 is null (nil). It returns the field and the bytes consumed.
func bytesField(b []byte) ([]byte, int, bool) {
	l, n, ok := varint32(b)
	if !ok || l < -1 || int64(l) > int64(len(b)-n) {
		return nil, 0, false
	}
	if l == -1 {
		return nil, n, true
	}
	return b[n : n+int(l) : n+int(l)], n + int(l), true
}

// parseRecord decodes the record at the start of b into rec and returns the
// number of bytes it occupies. Headers are collected only when withHeaders
// is set, so that validation does not allocate; they are still checked.
func parseRecord(b []byte, rec *Record, withHeaders bool) (int, error) {
	length, n := binary.Varint(b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad record length varint", ErrCorrupt)
	}
	if length < minRecordBody || length > int64(len(b)-n) {
		return 0, fmt.Errorf("%w: record length %d with %d bytes left", ErrCorrupt, length, len(b)-n)
	}
	body := b[n : n+int(length)]
	rec.Attributes = int8(body[0])
	p := 1
	ts, k := binary.Varint(body[p:])
	if k <= 0 {
		return 0, fmt.Errorf("%w: bad timestamp delta", ErrCorrupt)
	}
	rec.TimestampDelta = ts
	p += k
	od, k, ok := varint32(body[p:])
	if !ok {
		return 0, fmt.Errorf("%w: bad offset delta", ErrCorrupt)
	}
	rec.OffsetDelta = od
	p += k
	if rec.Key, k, ok = bytesField(body[p:]); !ok {
		return 0, fmt.Errorf("%w: bad key length", ErrCorrupt)
	}
	p += k
	if rec.Value, k, ok = bytesField(body[p:]); !ok {
		return 0, fmt.Errorf("%w: bad value length", ErrCorrupt)
	}
	p += k
	hc, k, ok := varint32(body[p:])
	// Each header needs at least two bytes (two lengths), which bounds
	// the loop by the record size whatever count is claimed.
	if !ok || hc < 0 || int64(hc)*2 > int64(len(body)-p-k) {
		return 0, fmt.Errorf("%w: bad header count", ErrCorrupt)
	}
	p += k
	rec.Headers = rec.Headers[:0]
	for range hc {
		key, k, ok := bytesField(body[p:])
		if !ok || key == nil {
			return 0, fmt.Errorf("%w: bad header key", ErrCorrupt)
		}
		p += k
		val, k, ok := bytesField(body[p:])
		if !ok {
			return 0, fmt.Errorf("%w: bad header value", ErrCorrupt)
		}
		p += k
		if withHeaders {
			rec.Headers = append(rec.Headers, RecordHeader{Key: string(key), Value: val})
		}
	}
	if p != len(body) {
		return 0, fmt.Errorf("%w: record length %d but fields end at %d", ErrCorrupt, length, p)
	}
	return n + int(length), nil
}

// Records decodes every record of the single batch b (decompressing it if
// needed, into memory owned by the result). It checks the CRC and framing
// as Validate does. Intended for tooling and tests; the broker uses Validate
// and Walk.
func Records(batch []byte) (Header, []Record, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return h, nil, err
	}
	batch = batch[:h.Size()]
	if !CheckCRC(batch) {
		return h, nil, fmt.Errorf("%w: CRC mismatch", ErrCorrupt)
	}
	payload := batch[HeaderSize:]
	if c := h.Compression(); c != CodecNone {
		payload, err = NewDecompressor(0).Decompress(nil, c, payload)
		if err != nil {
			return h, nil, err
		}
	}
	var out []Record
	if h.NumRecords > 0 {
		out = make([]Record, 0, min(int(h.NumRecords), len(payload)/(minRecordBody+1)))
	}
	for p := 0; p < len(payload); {
		var rec Record
		n, err := parseRecord(payload[p:], &rec, true)
		if err != nil {
			return h, nil, fmt.Errorf("record %d: %w", len(out), err)
		}
		out = append(out, rec)
		p += n
	}
	if len(out) != int(h.NumRecords) {
		return h, nil, fmt.Errorf("%w: %d records, header says %d", ErrInvalidRecord, len(out), h.NumRecords)
	}
	return h, out, nil
}

// Walk calls fn for each record of the single batch b, in order, stopping
// early when fn returns false. The Record passed to fn (and the bytes it
// aliases) is valid only during the call. Headers are not collected. d is
// used for compressed batches (nil makes a throwaway Decompressor). Walk
// does not check the CRC: it is meant for batches already stored.
func Walk(batch []byte, d *Decompressor, fn func(r *Record) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	payload := batch[HeaderSize:h.Size()]
	if c := h.Compression(); c != CodecNone {
		if d == nil {
			d = NewDecompressor(0)
		}
		scratch := d.getScratch()
		defer d.putScratch(scratch)
		if *scratch, err = d.Decompress(*scratch, c, payload); err != nil {
			return err
		}
		payload = *scratch
	}
	var rec Record
	for p, i := 0, int32(0); p < len(payload) && i < h.NumRecords; i++ {
		n, err := parseRecord(payload[p:], &rec, false)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if !fn(&rec) {
			return nil
		}
		p += n
	}
	return nil
}
