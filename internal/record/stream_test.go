package record

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rawBatch wraps payload, the records' bytes before compression, in a v2
// batch of codec claiming numRecords records, whatever the payload holds.
func rawBatch(t testing.TB, codec Codec, xerial bool, payload []byte, numRecords int32) []byte {
	t.Helper()
	body, err := compress(codec, payload, xerial)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(HeaderSize-LengthOverhead+len(body)))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(codec))
	be.PutUint32(b[offLastOffsetDelta:], uint32(numRecords-1))
	be.PutUint64(b[offBaseTimestamp:], 1000)
	be.PutUint64(b[offMaxTimestamp:], 1000)
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offNumRecords:], uint32(numRecords))
	b = append(b, body...)
	be.PutUint32(b[offCRC:], crcOf(b))
	return b
}

// inMemory validates the records of a compressed batch the way Validate did
// before it streamed: inflate whole, then walk the records.
func inMemory(b []byte, opts ValidateOptions) (Summary, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Summary{}, err
	}
	payload, err := NewDecompressor(0).Decompress(nil, h.Compression(), b[HeaderSize:h.Size()])
	if err != nil {
		return Summary{}, err
	}
	s := Summary{MaxTimestamp: NoTimestamp, MaxTimestampIndex: -1}
	v := validator{opts: opts, minTS: -1 << 63, maxTS: 1<<63 - 1}
	err = v.records(h, payload, &s)
	return s, err
}

// streamed validates the records of a compressed batch as inflateBatch
// does for one that inflates past smallInflate: streaming.
func streamed(b []byte, opts ValidateOptions) (Summary, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{MaxTimestamp: NoTimestamp, MaxTimestampIndex: -1}
	v := validator{opts: opts, minTS: -1 << 63, maxTS: 1<<63 - 1}
	err = v.streamBatch(opts.Decompressor, h, h.Compression(), b[HeaderSize:h.Size()], &s)
	return s, err
}

// FuzzStreamMatchesInMemory: validating a compressed batch as it inflates
// accepts exactly what inflating it whole accepts, with the same findings,
// whatever the records' bytes are.
func FuzzStreamMatchesInMemory(f *testing.F) {
	for _, c := range allCodecs {
		var payload []byte
		for _, r := range testRecords(3, 8) {
			payload = appendRecord(payload, &r)
		}
		f.Add(payload, uint8(c.codec), c.xerial, int32(3), false)
		f.Add(payload[:len(payload)-1], uint8(c.codec), c.xerial, int32(3), true)
		f.Add(append(payload, 0), uint8(c.codec), c.xerial, int32(3), false)
	}
	d := NewDecompressor(1 << 20)
	f.Fuzz(func(t *testing.T, payload []byte, codec uint8, xerial bool, n int32, keys bool) {
		c := Codec(codec%4 + 1)
		if n < 1 || n > 1000 {
			n = 1
		}
		b := rawBatch(t, c, xerial, payload, n)
		opts := ValidateOptions{Decompressor: d, RequireKeys: keys}
		got, gerr := streamed(b, opts)
		want, werr := inMemory(b, opts)
		if vs, verr := Validate(b, opts); (verr == nil) != (werr == nil) || vs.MaxTimestamp != want.MaxTimestamp {
			t.Fatalf("%s: Validate %v, in memory %v", c, verr, werr)
		}
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: streaming %v, in memory %v", c, gerr, werr)
		}
		if gerr != nil {
			if !isSentinel(gerr) {
				t.Fatalf("error wraps no sentinel: %v", gerr)
			}
			return
		}
		if got.MaxTimestamp != want.MaxTimestamp || got.MaxTimestampIndex != want.MaxTimestampIndex ||
			got.HeaderMaxTimestampMismatch != want.HeaderMaxTimestampMismatch {
			t.Fatalf("%s: streaming %+v, in memory %+v", c, got, want)
		}
	})
}

// bomb is a compressed batch of one record claiming a value of size bytes
// of zeros: tiny on the wire, huge inflated.
func bomb(t testing.TB, codec Codec, size int) []byte {
	t.Helper()
	rec := Record{Key: []byte("k"), Value: make([]byte, size)}
	return rawBatch(t, codec, false, appendRecord(nil, &rec), 1)
}

// A bomb is refused without inflating it into memory: the bytes allocated
// while validating stay a small fraction of its claimed size.
func TestValidate_BombsCostLittleMemory(t *testing.T) {
	const claimed = 200 << 20
	for _, c := range []Codec{CodecGzip, CodecLZ4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			b := bomb(t, c, claimed)
			d := NewDecompressor(64 << 20)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Validate(b, ValidateOptions{Decompressor: d})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a %d-byte bomb claiming %d bytes: %v, want ErrCorrupt", len(b), claimed, err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("validating a %d-byte bomb allocated %d bytes", len(b), alloc)
			}
		})
	}
}

// A large value inside the limit is accepted by streaming it: the bytes
// allocated are far below its size.
func TestValidate_LargeRecordStreams(t *testing.T) {
	const size = 40 << 20
	for _, c := range []Codec{CodecGzip, CodecLZ4, CodecZstd} {
		b := bomb(t, c, size)
		d := NewDecompressor(64 << 20)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := Validate(b, ValidateOptions{Decompressor: d})
		runtime.ReadMemStats(&after)
		if err != nil || s.Records != 1 {
			t.Fatalf("%s: %+v, %v", c, s, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
			t.Fatalf("%s: validating a %d-byte record allocated %d bytes", c, size, alloc)
		}
	}
}

// countingBudget records the most charged at once.
type countingBudget struct {
	mu        sync.Mutex
	used, top int64
}

func (b *countingBudget) TryAcquire(n int64) bool { return b.Acquire(context.Background(), n) == nil }

func (b *countingBudget) Acquire(_ context.Context, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.top = max(b.top, b.used)
	return nil
}

func (b *countingBudget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// Every streaming validation charges the budget and gives the charge back,
// whether the batch is accepted or refused.
func TestValidate_ChargesTheBudget(t *testing.T) {
	var bud countingBudget
	d := NewBudgetedDecompressor(0, &bud, 64<<20)
	for _, c := range allCodecs {
		good := Build(testRecords(4, 16), BuildOptions{Codec: c.codec, XerialSnappy: c.xerial, BaseTimestamp: 1000})
		if _, err := Validate(good, ValidateOptions{Decompressor: d}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.codec != CodecNone && bud.top == 0 {
			t.Fatalf("%s: validation charged nothing", c.name)
		}
		bud.top = 0
	}
	if _, err := Validate(bomb(t, CodecZstd, 100<<20), ValidateOptions{Decompressor: d}); err == nil {
		t.Fatal("a bomb was accepted")
	}
	if bud.used != 0 {
		t.Fatalf("%d bytes still charged after every validation ended", bud.used)
	}
}

// A zstd frame declaring a window larger than the whole budget is refused
// as corrupt, never charged past the budget.
func TestValidate_ZstdWindowOverBudget(t *testing.T) {
	var bud countingBudget
	d := NewBudgetedDecompressor(0, &bud, 16<<20)
	payload := appendRecord(nil, &Record{Key: []byte("k"), Value: make([]byte, 20<<20)})
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	body := enc.EncodeAll(payload, nil)
	b := rawBatch(t, CodecNone, false, nil, 1)[:HeaderSize]
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LengthOverhead))
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(CodecZstd))
	binary.BigEndian.PutUint32(b[offCRC:], crcOf(b))
	if _, err := Validate(b, ValidateOptions{Decompressor: d}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a 20 MiB single-segment frame with a 16 MiB budget: %v, want ErrCorrupt", err)
	}
	if bud.top > 16<<20 {
		t.Fatalf("charged %d bytes of a 16 MiB budget", bud.top)
	}
}

// WalkTimestamps sees every record's offset delta and timestamp, in
// memory and streaming alike, and stops when told.
func TestWalkTimestamps(t *testing.T) {
	for _, size := range []int{16, 1 << 20} { // 4 MiB of records streams
		recs := testRecords(4, size)
		for i := range recs {
			recs[i].TimestampDelta = int64(10 * i)
		}
		for _, c := range allCodecs {
			b := Build(recs, BuildOptions{Codec: c.codec, XerialSnappy: c.xerial, BaseTimestamp: 1000})
			var got []int64
			err := WalkTimestamps(b, NewDecompressor(0), func(od int32, ts int64) bool {
				got = append(got, int64(od), ts)
				return od < 2
			})
			if err != nil || len(got) != 6 || got[4] != 2 || got[5] != 1020 {
				t.Fatalf("%s, %d-byte values: walked %v, %v", c.name, size, got, err)
			}
		}
	}
}
