package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes bounds the decompressed size of one batch when
// NewDecompressor is given 0. A batch that inflates beyond the bound is
// refused as corrupt instead of exhausting memory (a "zip bomb").
const DefaultMaxDecompressedBytes = 64 << 20

// maxPooledBuffer is the largest scratch buffer kept for reuse: rare huge
// batches should not pin their memory forever.
const maxPooledBuffer = 4 << 20

// Decompressor inflates compressed batch payloads with pooled decoders and
// scratch buffers. One Decompressor is meant to be shared by a whole broker
// (it is safe for concurrent use); pools live in it rather than in package
// variables so that several brokers in one process stay independent.
type Decompressor struct {
	max     int
	gzip    sync.Pool // *gzipDecoder
	lz4     sync.Pool // *lz4Decoder
	zstd    sync.Pool // *zstd.Decoder, for DecodeAll
	scratch sync.Pool // *[]byte

	// Validation streams compressed batches (see stream.go).
	zstdSmall sync.Pool // *zstd.Decoder streaming windows up to zstdSmallWindow
	zstdFast  sync.Pool // *zstd.Decoder for DecodeAll bounded at smallInflate
	readers   sync.Pool // *bufio.Reader of streamBufSize
	// budget, if set, is charged for each streaming validation's memory;
	// budgetCap is its capacity, which bounds the largest zstd window and
	// snappy block a batch may use.
	budget    MemoryBudget
	budgetCap int64
}

type gzipDecoder struct {
	r   gzip.Reader
	src bytes.Reader
}

type lz4Decoder struct {
	r   *lz4.Reader
	src bytes.Reader
}

// NewDecompressor returns a Decompressor refusing batches that inflate to
// more than maxBytes (0 means DefaultMaxDecompressedBytes).
func NewDecompressor(maxBytes int) *Decompressor {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDecompressedBytes
	}
	return &Decompressor{max: maxBytes}
}

// NewBudgetedDecompressor is NewDecompressor whose validations charge
// their memory to b, a budget of capacity bytes (at least 16 MiB; less is
// raised to it). A batch whose inflating needs more than the whole budget
// (a zstd window or a snappy block that large) is refused as corrupt.
func NewBudgetedDecompressor(maxBytes int, b MemoryBudget, capacity int64) *Decompressor {
	d := NewDecompressor(maxBytes)
	d.budget, d.budgetCap = b, max(capacity, MinBudget)
	return d
}

// MinBudget is the smallest decompression budget: it must hold the
// largest LZ4 frame's buffers and a small zstd window at once.
const MinBudget = 16 << 20

// MaxBytes returns the decompressed-size bound.
func (d *Decompressor) MaxBytes() int { return d.max }

// errTooBig is wrapped into ErrCorrupt when a payload inflates past the bound.
var errTooBig = errors.New("decompressed size over the limit")

// Decompress appends the decompressed form of src, compressed with codec,
// to dst and returns the extended slice. Errors wrap ErrCorrupt. For
// CodecNone it appends src unchanged.
func (d *Decompressor) Decompress(dst []byte, codec Codec, src []byte) ([]byte, error) {
	out, err := d.decompress(dst, codec, src)
	if err != nil {
		return dst, fmt.Errorf("%w: %s payload: %w", ErrCorrupt, codec, err)
	}
	return out, nil
}

func (d *Decompressor) decompress(dst []byte, codec Codec, src []byte) ([]byte, error) {
	return d.decompressLimit(dst, codec, src, d.max, &d.zstd)
}

// decompressLimit is decompress bounded at max bytes appended, with zstd
// decoders from zpool (whose decoders must be bounded at max too).
func (d *Decompressor) decompressLimit(dst []byte, codec Codec, src []byte, max int, zpool *sync.Pool) ([]byte, error) {
	limit := len(dst) + max
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		g, _ := d.gzip.Get().(*gzipDecoder)
		if g == nil {
			g = new(gzipDecoder)
		}
		defer d.gzip.Put(g)
		g.src.Reset(src)
		if err := g.r.Reset(&g.src); err != nil {
			return dst, err
		}
		return readBounded(dst, &g.r, limit)
	case CodecSnappy:
		return decodeSnappy(dst, src, limit)
	case CodecLZ4:
		l, _ := d.lz4.Get().(*lz4Decoder)
		if l == nil {
			l = &lz4Decoder{r: lz4.NewReader(nil)}
		}
		defer d.lz4.Put(l)
		l.src.Reset(src)
		l.r.Reset(&l.src)
		return readBounded(dst, l.r, limit)
	case CodecZstd:
		z, _ := zpool.Get().(*zstd.Decoder)
		if z == nil {
			var err error
			// Concurrency 1 keeps DecodeAll synchronous: the decoder
			// owns no goroutines, so dropping it from the pool leaks
			// nothing.
			z, err = zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(max)))
			if err != nil {
				return dst, err
			}
		}
		defer zpool.Put(z)
		out, err := z.DecodeAll(src, dst)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			err = errTooBig
		}
		return out, err
	}
	return dst, fmt.Errorf("unknown codec %d", int8(codec))
}

// readBounded appends everything r yields to dst, failing once dst would
// grow past limit bytes.
func readBounded(dst []byte, r io.Reader, limit int) ([]byte, error) {
	stalls := 0
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return dst, errTooBig
			}
			grow := max(cap(dst), 4096)
			grow = min(grow, limit+1-len(dst))
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errTooBig
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		if n == 0 {
			if stalls++; stalls > 100 {
				return dst, io.ErrNoProgress
			}
		} else {
			stalls = 0
		}
	}
}

// xerialMagic starts snappy payloads framed by the Java xerial
// snappy-java stream (used by the Java producer): 8 magic bytes, two int32
// versions, then blocks of (int32 length, raw snappy block).
var xerialMagic = [8]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

func decodeSnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) >= xerialHeaderLen && [8]byte(src[:8]) == xerialMagic {
		src = src[xerialHeaderLen:]
		for len(src) > 0 {
			if len(src) < 4 {
				return dst, errors.New("xerial: truncated block length")
			}
			n := binary.BigEndian.Uint32(src)
			src = src[4:]
			if uint64(n) > uint64(len(src)) {
				return dst, errors.New("xerial: block past the end")
			}
			var err error
			if dst, err = decodeSnappyBlock(dst, src[:n], limit); err != nil {
				return dst, err
			}
			src = src[n:]
		}
		return dst, nil
	}
	return decodeSnappyBlock(dst, src, limit)
}

// decodeSnappyBlock appends one raw snappy block to dst.
func decodeSnappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n > limit-len(dst) {
		return dst, errTooBig
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	out, err := s2.Decode(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return dst, err
	}
	if len(out) != n {
		return dst, errors.New("snappy: decoded length mismatch")
	}
	return dst[:len(dst)+n], nil
}

// getScratch returns a pooled scratch buffer of length 0.
func (d *Decompressor) getScratch() *[]byte {
	if p, ok := d.scratch.Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (d *Decompressor) putScratch(p *[]byte) {
	if cap(*p) > maxPooledBuffer {
		return
	}
	d.scratch.Put(p)
}

// compress compresses src with codec; Build uses it, so it favours
// simplicity over speed (no pooling). xerial frames snappy as the Java
// producer does.
func compress(codec Codec, src []byte, xerial bool) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		if !xerial {
			return s2.EncodeSnappy(nil, src), nil
		}
		out := append([]byte{}, xerialMagic[:]...)
		out = binary.BigEndian.AppendUint32(out, 1)
		out = binary.BigEndian.AppendUint32(out, 1)
		for len(src) > 0 {
			n := min(len(src), 32<<10)
			block := s2.EncodeSnappy(nil, src[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			src = src[n:]
		}
		return out, nil
	case CodecLZ4:
		// 64 KiB blocks as the Java producer writes (the library's
		// default of 4 MiB makes every reader allocate 4 MiB).
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecZstd:
		w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		out := w.EncodeAll(src, nil)
		return out, w.Close()
	}
	return nil, fmt.Errorf("unknown codec %d", int8(codec))
}
