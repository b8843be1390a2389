package record

import (
	"errors"
	"testing"
)

func TestParseHeader_RoundTrip(t *testing.T) {
	b := Build(testRecords(3, 5), BuildOptions{
		BaseOffset: 42, PartitionLeaderEpoch: 7, BaseTimestamp: 1000,
		Codec: CodecLZ4, Transactional: true,
		ProducerID: 9, ProducerEpoch: 2, BaseSequence: 100,
	})
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 42, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2,
		CRC: h.CRC, Attributes: int16(CodecLZ4) | attrTransactional, LastOffsetDelta: 2,
		BaseTimestamp: 1000, MaxTimestamp: 1020, ProducerID: 9, ProducerEpoch: 2,
		BaseSequence: 100, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Compression() != CodecLZ4 || !h.IsTransactional() || h.IsControl() ||
		h.TimestampType() != CreateTime || h.LastOffset() != 44 || h.Size() != int64(len(b)) ||
		!h.HasProducerID() || h.NextOffset() != 45 {
		t.Fatalf("accessors wrong for %+v", h)
	}
	if !CheckCRC(b) {
		t.Fatal("CRC of a built batch does not check")
	}
}

func TestParseHeader_Errors(t *testing.T) {
	good := Build(testRecords(1, 1), BuildOptions{})
	badMagic := append([]byte(nil), good...)
	badMagic[offMagic] = 1
	shortLen := append([]byte(nil), good...)
	shortLen[offBatchLength+3] = 10
	shortLen[offBatchLength+2] = 0
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"short", good[:60], ErrCorrupt},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"magic", badMagic, ErrUnsupportedMagic},
		{"length below header", shortLen, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseHeader(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMutators_KeepCRC(t *testing.T) {
	b := Build(testRecords(4, 10), BuildOptions{BaseTimestamp: 500})
	SetBaseOffset(b, 1<<40)
	SetPartitionLeaderEpoch(b, 12)
	if !CheckCRC(b) {
		t.Fatal("offset/epoch changed the CRC")
	}
	SetLogAppendTime(b, 999)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 12 || h.MaxTimestamp != 999 || h.TimestampType() != LogAppendTime {
		t.Fatalf("mutators not applied: %+v", h)
	}
	if !CheckCRC(b) {
		t.Fatal("SetLogAppendTime left a bad CRC")
	}
	SetMaxTimestamp(b, 5)
	if h, _ = ParseHeader(b); h.MaxTimestamp != 5 || !CheckCRC(b) {
		t.Fatalf("SetMaxTimestamp: %+v crc ok %v", h, CheckCRC(b))
	}
	mustValidate(t, b, ValidateOptions{})
	// Short buffers are left alone instead of panicking.
	for _, short := range [][]byte{nil, b[:10], b[:61], b[:len(b)-1]} {
		SetBaseOffset(short, 1)
		SetPartitionLeaderEpoch(short, 1)
		SetLogAppendTime(short, 1)
		SetMaxTimestamp(short, 1)
	}
}

func TestRecords_RoundTrip(t *testing.T) {
	want := testRecords(5, 20)
	want[2].Key = nil
	want[3].Value = nil
	want[4].Headers = nil
	for _, c := range allCodecs {
		t.Run(c.name, func(t *testing.T) {
			b := Build(want, BuildOptions{Codec: c.codec, XerialSnappy: c.xerial})
			h, got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != c.codec || len(got) != len(want) {
				t.Fatalf("codec %v, %d records", h.Compression(), len(got))
			}
			for i := range want {
				if !recordEqual(got[i], want[i]) {
					t.Fatalf("record %d\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			n := 0
			err = Walk(b, NewDecompressor(0), func(r *Record) bool {
				if string(r.Value) != string(want[n].Value) || r.OffsetDelta != int32(n) {
					t.Errorf("walk record %d differs", n)
				}
				n++
				return n < 3
			})
			if err != nil || n != 3 {
				t.Fatalf("walk: %v after %d", err, n)
			}
		})
	}
}

func recordEqual(a, b Record) bool {
	if a.Attributes != b.Attributes || a.OffsetDelta != b.OffsetDelta || a.TimestampDelta != b.TimestampDelta ||
		(a.Key == nil) != (b.Key == nil) || string(a.Key) != string(b.Key) ||
		(a.Value == nil) != (b.Value == nil) || string(a.Value) != string(b.Value) ||
		len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || string(a.Headers[i].Value) != string(b.Headers[i].Value) {
			return false
		}
	}
	return true
}
