package log

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

// Entries written and read back are the same; a torn last entry is left
// out and reported; a bad version is corruption.
func TestTxnIndex_RoundTrip(t *testing.T) {
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 10, LastOffset: 16, LastStableOffset: 15}, {ProducerID: 9, FirstOffset: 12, LastOffset: 40, LastStableOffset: 41}}
	var b []byte
	for _, a := range want {
		b = AppendTxnIndexEntry(b, a)
	}
	if len(b) != 2*TxnIndexEntrySize {
		t.Fatalf("%d bytes", len(b))
	}
	// Kafka's layout: version 0, then producer ID, first, last and last
	// stable offsets, big-endian.
	golden := "0000" + "0000000000000007" + "000000000000000a" + "0000000000000010" + "000000000000000f"
	if got := hex.EncodeToString(b[:TxnIndexEntrySize]); got != golden {
		t.Fatalf("entry %s, want %s", got, golden)
	}
	got, valid, err := ParseTxnIndex(append(b, 0, 0, 1)) // a torn third entry
	if err != nil || valid != len(b) || !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed %+v, valid %d, %v", got, valid, err)
	}
	b[TxnIndexEntrySize+1] = 1 // the second entry's version
	if got, valid, err := ParseTxnIndex(b); !errors.Is(err, record.ErrCorrupt) || valid != TxnIndexEntrySize || len(got) != 1 {
		t.Fatalf("bad version: %+v %d %v", got, valid, err)
	}
}

// ParseTxnIndex takes any bytes without panicking; what it reads, written
// back, is the valid prefix.
func FuzzParseTxnIndex(f *testing.F) {
	f.Add(AppendTxnIndexEntry(nil, AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, valid, _ := ParseTxnIndex(b)
		var again []byte
		for _, a := range got {
			again = AppendTxnIndexEntry(again, a)
		}
		if valid > len(b) || string(again) != string(b[:valid]) {
			t.Fatalf("valid %d of %d bytes; written back %x, was %x", valid, len(b), again, b[:min(valid, len(b))])
		}
	})
}
