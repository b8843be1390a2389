package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rebatch replaces the records payload of batch b with payload, sets the
// record count and last offset delta to n and n-1, and fixes length and CRC.
func rebatch(b, payload []byte, n int32) []byte {
	out := append(append([]byte(nil), b[:HeaderSize]...), payload...)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(len(out)-LengthOverhead))
	binary.BigEndian.PutUint32(out[offNumRecords:], uint32(n))
	binary.BigEndian.PutUint32(out[offLastOffsetDelta:], uint32(n-1))
	binary.BigEndian.PutUint32(out[offCRC:], crcOf(out))
	return out
}

// patch returns a copy of b with f applied and, if fix, the CRC recomputed.
func patch(b []byte, fix bool, f func(c []byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	if fix {
		binary.BigEndian.PutUint32(c[offCRC:], crcOf(c))
	}
	return c
}

func TestValidate_Errors(t *testing.T) {
	good := Build(testRecords(3, 8), BuildOptions{BaseTimestamp: 1000})
	rec := func(r Record) []byte { return appendRecord(nil, &r) }
	be := binary.BigEndian
	huge := Build(testRecords(10, 200), BuildOptions{})
	tests := []struct {
		name string
		b    []byte
		opts ValidateOptions
		want error
	}{
		{"empty", nil, ValidateOptions{}, ErrInvalidRecord},
		{"short tail", append(append([]byte(nil), good...), good[:30]...), ValidateOptions{}, ErrCorrupt},
		{"torn batch", good[:len(good)-3], ValidateOptions{}, ErrCorrupt},
		{"magic 1", patch(good, false, func(c []byte) { c[offMagic] = 1 }), ValidateOptions{}, ErrUnsupportedMagic},
		{"magic 0 short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0}, ValidateOptions{}, ErrUnsupportedMagic},
		{"bad crc", patch(good, false, func(c []byte) { c[len(c)-1] ^= 1 }), ValidateOptions{}, ErrCorrupt},
		{"negative length", patch(good, false, func(c []byte) { be.PutUint32(c[offBatchLength:], 0xffffffff) }), ValidateOptions{}, ErrCorrupt},
		{"too large", huge, ValidateOptions{MaxBatchBytes: int32(len(huge) - 1)}, ErrRecordTooLarge},
		{"zero records", rebatch(good, nil, 0), ValidateOptions{}, ErrInvalidRecord},
		{"count above records", rebatch(good, good[HeaderSize:], 4), ValidateOptions{}, ErrInvalidRecord},
		{"count below records", rebatch(good, good[HeaderSize:], 2), ValidateOptions{}, ErrCorrupt},
		{"last offset delta", patch(good, true, func(c []byte) { be.PutUint32(c[offLastOffsetDelta:], 5) }), ValidateOptions{}, ErrInvalidRecord},
		{"offset delta gap", rebatch(good, append(rec(Record{OffsetDelta: 0}), rec(Record{OffsetDelta: 2})...), 2), ValidateOptions{}, ErrInvalidRecord},
		{"control from client", Build(testRecords(1, 1), BuildOptions{Control: true}), ValidateOptions{}, ErrInvalidRecord},
		{"producer without sequence", Build(testRecords(1, 1), BuildOptions{ProducerID: 5, BaseSequence: -1}), ValidateOptions{}, ErrInvalidRecord},
		{"codec 7", patch(good, true, func(c []byte) { c[offAttributes+1] |= 7 }), ValidateOptions{}, ErrCorrupt},
		{"garbage gzip", patch(good, true, func(c []byte) { c[offAttributes+1] |= byte(CodecGzip) }), ValidateOptions{}, ErrCorrupt},
		{"garbage zstd", patch(good, true, func(c []byte) { c[offAttributes+1] |= byte(CodecZstd) }), ValidateOptions{}, ErrCorrupt},
		{"garbage lz4", patch(good, true, func(c []byte) { c[offAttributes+1] |= byte(CodecLZ4) }), ValidateOptions{}, ErrCorrupt},
		{"garbage snappy", patch(good, true, func(c []byte) { c[offAttributes+1] |= byte(CodecSnappy) }), ValidateOptions{}, ErrCorrupt},
		{"record length past end", rebatch(good, []byte{100, 0, 0, 0, 1, 1, 0}, 1), ValidateOptions{}, ErrCorrupt},
		{"record fields short of length", rebatch(good, []byte{16, 0, 0, 0, 1, 1, 0, 0, 0}, 1), ValidateOptions{}, ErrCorrupt},
		{"key length past record", rebatch(good, []byte{12, 0, 0, 0, 40, 1, 0}, 1), ValidateOptions{}, ErrCorrupt},
		{"key length -2", rebatch(good, []byte{12, 0, 0, 0, 3, 1, 0}, 1), ValidateOptions{}, ErrCorrupt},
		{"negative header count", rebatch(good, []byte{12, 0, 0, 0, 1, 1, 1}, 1), ValidateOptions{}, ErrCorrupt},
		{"huge header count", rebatch(good, []byte{18, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}, 1), ValidateOptions{}, ErrCorrupt},
		{"null header key", rebatch(good, []byte{16, 0, 0, 0, 1, 1, 2, 1, 1}, 1), ValidateOptions{}, ErrCorrupt},
		{"bad varint", rebatch(good, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1), ValidateOptions{}, ErrCorrupt},
		{"no key", Build([]Record{{Value: []byte("v")}}, BuildOptions{}), ValidateOptions{RequireKeys: true}, ErrNoKey},
		{"too old", good, ValidateOptions{Now: time.UnixMilli(1_000_000), MaxTimestampBefore: time.Second}, ErrInvalidTimestamp},
		{"too new", good, ValidateOptions{Now: time.UnixMilli(0), MaxTimestampAfter: time.Second}, ErrInvalidTimestamp},
		{"diff too old", good, ValidateOptions{Now: time.UnixMilli(1_000_000), MaxTimestampDiff: time.Second}, ErrInvalidTimestamp},
		{"diff too new", good, ValidateOptions{Now: time.UnixMilli(0), MaxTimestampDiff: time.Second}, ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(tt.b, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidate_Accepts(t *testing.T) {
	d := NewDecompressor(0)
	for _, c := range allCodecs {
		t.Run(c.name, func(t *testing.T) {
			b1 := Build(testRecords(16, 100), BuildOptions{Codec: c.codec, XerialSnappy: c.xerial, BaseTimestamp: 5000, ProducerID: 3, ProducerEpoch: 1, BaseSequence: 10})
			b2 := Build(testRecords(2, 10), BuildOptions{Codec: c.codec, XerialSnappy: c.xerial, BaseTimestamp: 9000})
			s := mustValidate(t, append(b1, b2...), ValidateOptions{
				Decompressor: d, RequireKeys: true, MaxBatchBytes: int32(len(b1)),
				Now: time.UnixMilli(6000), MaxTimestampBefore: 2 * time.Second, MaxTimestampAfter: 4 * time.Second,
			})
			if s.Batches != 2 || s.Records != 18 || s.Bytes != len(b1)+len(b2) ||
				s.MaxTimestamp != 9010 || s.MaxTimestampIndex != 17 || s.HeaderMaxTimestampMismatch ||
				s.Compressed != (c.codec != CodecNone) || s.ProducerID != 3 || s.ProducerEpoch != 1 ||
				s.BaseSequence != 10 || s.First.NumRecords != 16 || s.Last.NumRecords != 2 {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}

func TestValidate_ControlAllowedAndNoTimestamp(t *testing.T) {
	b := Build([]Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}},
		BuildOptions{Control: true, Transactional: true, ProducerID: 1, BaseTimestamp: NoTimestamp})
	s := mustValidate(t, b, ValidateOptions{AllowControl: true, Now: time.UnixMilli(1e12), MaxTimestampBefore: time.Second})
	if !s.Control || !s.Transactional {
		t.Fatalf("summary %+v", s)
	}
}

func TestValidate_HeaderMaxTimestampMismatch(t *testing.T) {
	b := Build(testRecords(3, 1), BuildOptions{BaseTimestamp: 100})
	SetMaxTimestamp(b, 50)
	if s := mustValidate(t, b, ValidateOptions{}); !s.HeaderMaxTimestampMismatch || s.MaxTimestamp != 120 {
		t.Fatalf("summary %+v", s)
	}
}

func TestDecompressor_Bound(t *testing.T) {
	recs := []Record{{Value: bytes.Repeat([]byte{'z'}, 1<<20)}}
	for _, c := range allCodecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := Build(recs, BuildOptions{Codec: c.codec, XerialSnappy: c.xerial})
			_, err := Validate(b, ValidateOptions{Decompressor: NewDecompressor(64 << 10)})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bomb accepted: %v", err)
			}
			mustValidate(t, b, ValidateOptions{Decompressor: NewDecompressor(2 << 20)})
		})
	}
}

// TestValidate_FranzGoBatches checks batches encoded and compressed by
// franz-go (kmsg + kgo's compressor), not by our own Build, and that kmsg
// and kgo decode what Build writes.
func TestValidate_FranzGoBatches(t *testing.T) {
	codecs := map[Codec]kgo.CompressionCodec{
		CodecNone: kgo.NoCompression(), CodecGzip: kgo.GzipCompression(), CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4: kgo.Lz4Compression(), CodecZstd: kgo.ZstdCompression(),
	}
	for codec, kc := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			var payload []byte
			for i := range 5 {
				r := kmsg.NewRecord()
				r.OffsetDelta = int32(i)
				r.TimestampDelta64 = int64(i)
				r.Key = []byte("k")
				r.Value = bytes.Repeat([]byte{byte(i)}, 300)
				r.Headers = []kmsg.Header{{Key: "a", Value: []byte("b")}}
				r.Length = int32(len(r.AppendTo(nil)) - 1) // body size: minus the 1-byte varint 0
				payload = r.AppendTo(payload)
			}
			out := payload
			if codec != CodecNone {
				comp, err := kgo.DefaultCompressor(kc)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				var used kgo.CompressionCodecType
				if out, used = comp.Compress(&buf, payload); int8(used) != int8(codec) {
					t.Fatalf("kgo used codec %d", used)
				}
			}
			kb := kmsg.NewRecordBatch()
			kb.Magic, kb.Attributes, kb.LastOffsetDelta, kb.NumRecords = 2, int16(codec), 4, 5
			kb.ProducerID, kb.ProducerEpoch, kb.FirstSequence = -1, -1, -1
			kb.FirstTimestamp, kb.MaxTimestamp = 10, 14
			kb.Records = out
			raw := kb.AppendTo(nil)
			binary.BigEndian.PutUint32(raw[offBatchLength:], uint32(len(raw)-12))
			binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
			if s := mustValidate(t, raw, ValidateOptions{}); s.Records != 5 || s.MaxTimestamp != 14 {
				t.Fatalf("summary %+v", s)
			}

			// And the other way: kgo decodes our batch.
			ours := Build(testRecords(4, 50), BuildOptions{Codec: codec})
			var back kmsg.RecordBatch
			if err := back.ReadFrom(ours); err != nil {
				t.Fatal(err)
			}
			if back.CRC != int32(crc32.Checksum(ours[offAttributes:], crc32.MakeTable(crc32.Castagnoli))) {
				t.Fatal("CRC differs from kmsg's view")
			}
			plain, err := kgo.DefaultDecompressor().Decompress(back.Records, kgo.CompressionCodecType(codec))
			if err != nil {
				t.Fatal(err)
			}
			var kr kmsg.Record
			if err := kr.ReadFrom(plain); err != nil || string(kr.Key) != "key-0" || len(kr.Headers) != 1 {
				t.Fatalf("kmsg record %+v: %v", kr, err)
			}
		})
	}
}

// TestValidate_EmptyBatch: a header-only batch (what log compaction leaves
// for a producer) passes only with AllowEmpty, and only as a bare,
// uncompressed header with a good CRC; a produce never sends one.
func TestValidate_EmptyBatch(t *testing.T) {
	full := Build([]Record{{Key: []byte("k")}}, BuildOptions{})
	empty := append([]byte(nil), full[:HeaderSize]...)
	binary.BigEndian.PutUint32(empty[offBatchLength:], HeaderSize-LengthOverhead)
	binary.BigEndian.PutUint32(empty[offNumRecords:], 0)
	fix := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[offCRC:], crcOf(b))
		return b
	}
	fix(empty)
	if _, err := Validate(empty, ValidateOptions{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("empty batch without AllowEmpty: %v, want ErrInvalidRecord", err)
	}
	if _, err := Validate(empty, ValidateOptions{AllowEmpty: true}); err != nil {
		t.Fatalf("empty batch with AllowEmpty: %v", err)
	}
	gz := append([]byte(nil), empty...)
	gz[offAttributes+1] |= byte(CodecGzip)
	if _, err := Validate(fix(gz), ValidateOptions{AllowEmpty: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("compressed empty batch: %v, want ErrCorrupt", err)
	}
	bad := append([]byte(nil), empty...)
	bad[offMaxTimestamp] ^= 1
	if _, err := Validate(bad, ValidateOptions{AllowEmpty: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty batch with a bad CRC: %v, want ErrCorrupt", err)
	}
}
