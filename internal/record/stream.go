package record

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MemoryBudget is what a Decompressor charges for the memory it inflates
// batches into while validating them (package budget's Pool is one).
// Acquire may wait for other validations to finish; they never wait on
// anything else while charged, so the wait always ends.
type MemoryBudget interface {
	TryAcquire(n int64) bool
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// ErrBudget wraps a validation that could not get memory from the node's
// budget in time: the broker is overloaded, the batch is not at fault.
var ErrBudget = errors.New("no memory in the request budget to validate the batch")

// budgetWait bounds how long a validation waits for memory.
const budgetWait = 30 * time.Second

// streamBufSize is the window a compressed batch is validated through:
// records are parsed as the decoder yields them, so a batch claiming a
// gigabyte costs this much and the decoder's own state, never its size.
const streamBufSize = 32 << 10

// Charges for the decoders' own state, on top of streamBufSize. They are
// upper bounds of what each allocates while reading one batch.
const (
	gzipCharge      = 64 << 10  // a 32 KiB window and Huffman tables
	zstdBlockCharge = 256 << 10 // block buffers beside the window
	lz4MaxBlock     = 4 << 20   // the largest block an LZ4 frame may declare
	zstdSmallWindow = 4 << 20   // decoders of this window class are reused
)

// countingReader yields the inflated payload a byte or a skip at a time,
// counting what it yields so each record's fields can be checked against
// its declared length without holding the record.
type countingReader struct {
	br    *bufio.Reader
	n     int64 // bytes yielded so far
	limit int64 // the decompressed-size bound
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if c.n++; c.n > c.limit {
		return 0, errTooBig
	}
	return b, nil
}

// skip consumes n bytes through the buffer.
func (c *countingReader) skip(n int64) error {
	if c.n+n > c.limit {
		return errTooBig
	}
	for n > 0 {
		k, err := c.br.Discard(int(min(n, math.MaxInt32)))
		c.n += int64(k)
		n -= int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

// varint32 reads a zigzag varint that must fit an int32.
func (c *countingReader) varint32() (int32, error) {
	v, err := binary.ReadVarint(c)
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, errors.New("varint out of int32 range")
	}
	return int32(v), nil
}

// field reads a length-prefixed field ending at or before end and skips
// its bytes; it reports whether the field is null (length -1).
func (c *countingReader) field(end int64) (null bool, err error) {
	l, err := c.varint32()
	if err != nil {
		return false, err
	}
	if l < -1 || c.n+int64(l) > end {
		return false, fmt.Errorf("field length %d with %d bytes left in the record", l, end-c.n)
	}
	if l == -1 {
		return true, nil
	}
	return false, c.skip(int64(l))
}

// smallInflate bounds the batches validated in memory: most batches
// inflate to less (producers' batches are 16 KiB to 1 MiB), and inflating
// them whole into a pooled buffer is faster than streaming. A batch that
// inflates past it is validated again, streaming.
const smallInflate = 2 << 20

// inflateCharge is what validating a batch of codec in memory costs beyond
// the inflated bytes: the decoder's state.
func inflateCharge(codec Codec) int64 {
	switch codec {
	case CodecGzip:
		return gzipCharge
	case CodecLZ4:
		return 2 * lz4MaxBlock
	case CodecZstd:
		return smallInflate + zstdBlockCharge // a window up to the bound
	}
	return 0
}

// charge takes n bytes from the budget, waiting up to budgetWait.
func (d *Decompressor) charge(codec Codec, n int64) error {
	if d.budget == nil || d.budget.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), budgetWait)
	defer cancel()
	if err := d.budget.Acquire(ctx, n); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w: %d bytes: %w", ErrBudget, n, err)
		}
		return fmt.Errorf("%w: %s payload needs %d bytes to inflate: %w", ErrCorrupt, codec, n, err)
	}
	return nil
}

func (d *Decompressor) uncharge(n int64) {
	if d.budget != nil {
		d.budget.Release(n)
	}
}

// inflateBatch validates a compressed batch's records: in memory when it
// inflates to at most smallInflate bytes, else as its payload streams
// through a small buffer. Either way its memory is charged to the
// Decompressor's budget first.
func (v *validator) inflateBatch(h Header, codec Codec, payload []byte, s *Summary) error {
	d := v.opts.Decompressor
	if d == nil {
		d = NewDecompressor(0)
	}
	charge := smallInflate + inflateCharge(codec)
	if err := d.charge(codec, charge); err != nil {
		return err
	}
	scratch := d.getScratch()
	limit := min(smallInflate, d.max)
	out, err := d.decompressLimit(*scratch, codec, payload, limit, &d.zstdFast)
	if err == nil && len(out) > limit { // the zstd decoders' bound is smallInflate
		err = errTooBig
	}
	if err == nil {
		err = v.records(h, out, s)
	} else if !errors.Is(err, errTooBig) {
		err = fmt.Errorf("%w: %s payload: %w", ErrCorrupt, codec, err)
	}
	*scratch = out[:0]
	d.putScratch(scratch)
	d.uncharge(charge)
	if errors.Is(err, errTooBig) {
		return v.streamBatch(d, h, codec, payload, s)
	}
	return err
}

// streamBatch validates a compressed batch's records as its payload is
// inflated, with memory charged to the Decompressor's budget.
func (v *validator) streamBatch(d *Decompressor, h Header, codec Codec, payload []byte, s *Summary) error {
	src, charge, done, err := d.open(codec, payload)
	if err != nil {
		return fmt.Errorf("%w: %s payload: %w", ErrCorrupt, codec, err)
	}
	defer done()
	if err := d.charge(codec, charge); err != nil {
		return err
	}
	defer d.uncharge(charge)
	br := d.getReader(src)
	defer d.putReader(br)
	c := countingReader{br: br, limit: int64(d.max)}
	if err := v.streamRecords(h, &c, s); err != nil {
		if errors.Is(err, errTooBig) || errors.Is(err, io.ErrUnexpectedEOF) || !isClassified(err) {
			return fmt.Errorf("%w: %s payload: %w", ErrCorrupt, codec, err)
		}
		return err
	}
	return nil
}

// isClassified reports whether err already carries one of the package's
// sentinels (a record-level finding rather than a decoder failure).
func isClassified(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidRecord) || errors.Is(err, ErrNoKey) ||
		errors.Is(err, ErrInvalidTimestamp) || errors.Is(err, errStopWalk)
}

// streamRecords is records for an inflating stream: the same checks in the
// same order, reading each record's fields and skipping its key, value
// and header bytes.
func (v *validator) streamRecords(h Header, c *countingReader, s *Summary) error {
	batchMax := int64(NoTimestamp)
	for i := int32(0); i < h.NumRecords; i++ {
		start := c.n
		length, err := binary.ReadVarint(c)
		if err == io.EOF && c.n == start {
			return fmt.Errorf("%w: %d records, header says %d", ErrInvalidRecord, i, h.NumRecords)
		}
		if err != nil {
			return fmt.Errorf("%w: record %d: bad record length varint: %w", ErrCorrupt, i, err)
		}
		if length < minRecordBody || length > c.limit {
			return fmt.Errorf("%w: record %d: record length %d", ErrCorrupt, i, length)
		}
		end := c.n + length
		rec, err := c.record(end)
		if err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrCorrupt, i, err)
		}
		if rec.offsetDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, rec.offsetDelta)
		}
		if v.opts.RequireKeys && rec.nullKey {
			return fmt.Errorf("record %d: %w", i, ErrNoKey)
		}
		ts := h.BaseTimestamp + rec.timestampDelta
		if v.visit != nil && !v.visit(rec.offsetDelta, ts) {
			return errStopWalk
		}
		if h.TimestampType() == CreateTime && ts != NoTimestamp && (ts < v.minTS || ts > v.maxTS) {
			return fmt.Errorf("%w: record %d timestamp %d outside [%d, %d]", ErrInvalidTimestamp, i, ts, v.minTS, v.maxTS)
		}
		batchMax = max(batchMax, ts)
		if ts > s.MaxTimestamp {
			s.MaxTimestamp = ts
			s.MaxTimestampIndex = s.Records + int64(i)
		}
	}
	// Reading to the end runs the codec's own checks (gzip's CRC, zstd's
	// checksum) and finds trailing bytes.
	if _, err := c.ReadByte(); err == nil {
		return fmt.Errorf("%w: bytes after the last record", ErrCorrupt)
	} else if err != io.EOF {
		return err
	}
	if h.TimestampType() == CreateTime && batchMax != h.MaxTimestamp {
		s.HeaderMaxTimestampMismatch = true
	}
	return nil
}

// streamedRecord is what validation needs of a record.
type streamedRecord struct {
	timestampDelta int64
	offsetDelta    int32
	nullKey        bool
}

// record reads one record body ending at end, with parseRecord's checks.
func (c *countingReader) record(end int64) (streamedRecord, error) {
	var r streamedRecord
	if _, err := c.ReadByte(); err != nil { // attributes
		return r, err
	}
	var err error
	if r.timestampDelta, err = binary.ReadVarint(c); err != nil {
		return r, fmt.Errorf("bad timestamp delta: %w", err)
	}
	if r.offsetDelta, err = c.varint32(); err != nil {
		return r, fmt.Errorf("bad offset delta: %w", err)
	}
	if c.n > end {
		return r, errors.New("fields past the record's length")
	}
	if r.nullKey, err = c.field(end); err != nil {
		return r, fmt.Errorf("bad key: %w", err)
	}
	if _, err = c.field(end); err != nil {
		return r, fmt.Errorf("bad value: %w", err)
	}
	hc, err := c.varint32()
	// Each header needs at least two bytes (two lengths), which bounds
	// the loop by the record size whatever count is claimed.
	if err != nil || hc < 0 || c.n > end || int64(hc)*2 > end-c.n {
		return r, fmt.Errorf("bad header count %d: %v", hc, err)
	}
	for range hc {
		null, err := c.field(end)
		if err != nil || null {
			return r, fmt.Errorf("bad header key (null %v): %v", null, err)
		}
		if _, err := c.field(end); err != nil {
			return r, fmt.Errorf("bad header value: %w", err)
		}
	}
	if c.n != end {
		return r, fmt.Errorf("record fields end %d bytes from its length", end-c.n)
	}
	return r, nil
}

// open returns a stream inflating payload, the bytes to charge the budget
// for it (the decoder's state and the read buffer) and a function that
// returns the decoder for reuse.
func (d *Decompressor) open(codec Codec, payload []byte) (io.Reader, int64, func(), error) {
	src := &sliceReader{b: payload}
	switch codec {
	case CodecGzip:
		g, _ := d.gzip.Get().(*gzipDecoder)
		if g == nil {
			g = new(gzipDecoder)
		}
		g.src.Reset(payload)
		if err := g.r.Reset(&g.src); err != nil {
			d.gzip.Put(g)
			return nil, 0, nil, err
		}
		return &g.r, streamBufSize + gzipCharge, func() { d.gzip.Put(g) }, nil
	case CodecLZ4:
		l, _ := d.lz4.Get().(*lz4Decoder)
		if l == nil {
			l = &lz4Decoder{r: lz4.NewReader(nil)}
		}
		l.src.Reset(payload)
		l.r.Reset(&l.src)
		// The reader keeps a compressed and an uncompressed block of the
		// frame's block size; later frames of the payload may declare the
		// largest, so that is what is charged.
		return l.r, streamBufSize + 2*lz4MaxBlock, func() { d.lz4.Put(l) }, nil
	case CodecZstd:
		var zh zstd.Header
		if err := zh.Decode(payload); err != nil {
			return nil, 0, nil, err
		}
		window := zh.WindowSize
		if zh.SingleSegment {
			window = zh.FrameContentSize
		}
		// A decoder refuses frames whose window passes its class, so a
		// later frame of the payload cannot outgrow the charge.
		class := uint64(zstdSmallWindow)
		if window > class {
			class = uint64(d.max)
			if d.budget != nil {
				class = min(class, uint64(d.maxCharge()-streamBufSize-zstdBlockCharge))
			}
		}
		z, err := d.zstdStream(class)
		if err != nil {
			return nil, 0, nil, err
		}
		if err := z.Reset(src); err != nil {
			return nil, 0, nil, err
		}
		done := func() {
			_ = z.Reset(nil)
			if class == zstdSmallWindow {
				d.zstdSmall.Put(z)
			} else {
				z.Close()
			}
		}
		return z, streamBufSize + int64(class) + zstdBlockCharge, done, nil
	case CodecSnappy:
		sr, need, err := newSnappyReader(payload, d.max)
		if err != nil {
			return nil, 0, nil, err
		}
		if d.budget != nil && int64(need)+streamBufSize > d.maxCharge() {
			return nil, 0, nil, fmt.Errorf("%w: a %d-byte snappy block", errTooBig, need)
		}
		return sr, streamBufSize + int64(need), func() {}, nil
	}
	return nil, 0, nil, fmt.Errorf("unknown codec %d", int8(codec))
}

// maxCharge bounds one streaming validation's charge by half the budget, so
// a batch needing a large window or block waits only for a few others to
// finish, never for the budget to drain entirely.
func (d *Decompressor) maxCharge() int64 { return d.budgetCap / 2 }

// zstdStream returns a streaming decoder refusing windows above class.
func (d *Decompressor) zstdStream(class uint64) (*zstd.Decoder, error) {
	if class == zstdSmallWindow {
		if z, ok := d.zstdSmall.Get().(*zstd.Decoder); ok {
			return z, nil
		}
	}
	// Concurrency 1 decodes synchronously in the caller: the decoder owns
	// no goroutines.
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(class),
		zstd.WithDecoderMaxMemory(class))
}

// sliceReader reads a byte slice. Unlike bytes.Reader or bytes.Buffer it
// has no Bytes method, so the zstd decoder streams it rather than
// inflating it whole in one call.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// snappyReader yields a snappy payload block by block: a raw payload is
// one block, a xerial-framed one (the Java producer's) a series of them,
// walked in place (nothing is kept per block, so a payload of many tiny
// blocks costs nothing extra). Snappy cannot be inflated in pieces smaller
// than a block, so a block's inflated size is what is charged.
type snappyReader struct {
	rest   []byte // the blocks not yet inflated (xerial) or the raw block
	xerial bool
	buf    []byte
	out    []byte
}

// next returns the next block and steps over it.
func (r *snappyReader) next() (block []byte, err error) {
	if !r.xerial {
		block, r.rest = r.rest, nil
		return block, nil
	}
	if len(r.rest) < 4 {
		return nil, errors.New("xerial: truncated block length")
	}
	n := binary.BigEndian.Uint32(r.rest)
	if uint64(n) > uint64(len(r.rest)-4) {
		return nil, errors.New("xerial: block past the end")
	}
	block, r.rest = r.rest[4:4+n], r.rest[4+n:]
	return block, nil
}

// newSnappyReader checks every block's framing and inflated size (a first
// pass that keeps nothing) and returns the reader and the largest block's
// inflated size.
func newSnappyReader(payload []byte, limit int) (*snappyReader, int, error) {
	r := &snappyReader{rest: payload}
	if len(payload) >= xerialHeaderLen && [8]byte(payload[:8]) == xerialMagic {
		r.rest, r.xerial = payload[xerialHeaderLen:], true
	}
	scan := *r
	need, total := 0, 0
	for !scan.xerial || len(scan.rest) > 0 {
		b, err := scan.next()
		if err != nil {
			return nil, 0, err
		}
		n, err := s2.DecodedLen(b)
		if err != nil {
			return nil, 0, err
		}
		if total += n; total > limit {
			return nil, 0, errTooBig
		}
		need = max(need, n)
		if !scan.xerial {
			break
		}
	}
	return r, need, nil
}

func (r *snappyReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if len(r.rest) == 0 {
			return 0, io.EOF
		}
		block, err := r.next()
		if err != nil {
			return 0, err
		}
		n, _ := s2.DecodedLen(block) // checked in newSnappyReader
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		out, err := s2.Decode(r.buf[:n], block)
		if err != nil {
			return 0, err
		}
		if len(out) != n {
			return 0, errors.New("snappy: decoded length mismatch")
		}
		r.out = out
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// getReader returns a pooled read buffer over src.
func (d *Decompressor) getReader(src io.Reader) *bufio.Reader {
	if br, ok := d.readers.Get().(*bufio.Reader); ok {
		br.Reset(src)
		return br
	}
	return bufio.NewReaderSize(src, streamBufSize)
}

func (d *Decompressor) putReader(br *bufio.Reader) {
	br.Reset(nil)
	d.readers.Put(br)
}
