package record

import (
	"fmt"
	"testing"
)

// allCodecs lists every codec with a label; snappy appears twice, raw and
// xerial-framed.
var allCodecs = []struct {
	name   string
	codec  Codec
	xerial bool
}{
	{"none", CodecNone, false},
	{"gzip", CodecGzip, false},
	{"snappy", CodecSnappy, false},
	{"snappy-xerial", CodecSnappy, true},
	{"lz4", CodecLZ4, false},
	{"zstd", CodecZstd, false},
}

// testRecords returns n records with keys, values and a header, with
// offset deltas 0..n-1 and increasing timestamp deltas.
func testRecords(n, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i * 10),
			Key:            []byte(fmt.Sprintf("key-%d", i)),
			Value:          v,
			Headers:        []RecordHeader{{Key: "h", Value: []byte("x")}},
		}
	}
	return recs
}

func mustValidate(t testing.TB, b []byte, opts ValidateOptions) Summary {
	t.Helper()
	s, err := Validate(b, opts)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return s
}
