package log

import (
	"context"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
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

// appendAborted writes a producer's transactional batch and its abort
// marker and indexes the aborted transaction; it returns the entry.
func appendAborted(t *testing.T, l *Log, pid int64) AbortedTxn {
	t.Helper()
	data := keyedBatch([]kv{{[]byte("k"), []byte("v")}}, 0, record.BuildOptions{Transactional: true, ProducerID: pid, BaseSequence: 0})
	first := mustAppend(t, l, data, 0).BaseOffset
	last := mustAppend(t, l, record.BuildMarker(record.Marker{}, pid, 0, 0), 0).BaseOffset
	a := AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: last, LastStableOffset: last + 1}
	if err := l.AddAbortedTxn(a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTxnIndex_Log checks the aborted transactions of a log: indexed in
// the segment of their marker, found by range across segments, kept
// through a clean shutdown and a crash after SyncTxnIndexes, cut by
// truncation, deleted with their segment, carried by compaction, and an
// unreadable file reported.
func TestTxnIndex_Log(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	l := e.open()
	var want []AbortedTxn
	for i := range 4 {
		mustAppend(t, l, batch(3, "plain", 0), 0)
		want = append(want, appendAborted(t, l, int64(10+i)))
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.AbortedTxns(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("all: %v, want %v", got, want)
	}
	// A range inside the second transaction's segment.
	if got := l.AbortedTxns(want[1].FirstOffset, want[1].LastOffset); !slices.Equal(got, want[1:2]) {
		t.Fatalf("second: %v", got)
	}
	// Past every marker.
	if got := l.AbortedTxns(want[3].LastOffset+1, l.LogEndOffset()+5); len(got) != 0 {
		t.Fatalf("past the end: %v", got)
	}
	if err := l.AddAbortedTxn(want[0]); err == nil {
		t.Fatal("an entry not past the last one was accepted")
	}
	if err := l.AddAbortedTxn(AbortedTxn{FirstOffset: 0, LastOffset: l.LogEndOffset()}); err == nil {
		t.Fatal("an entry past the log end was accepted")
	}

	// Kept through a clean shutdown.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	if got := l.AbortedTxns(0, l.LogEndOffset()); !slices.Equal(got, want) || l.TxnIndexLost() {
		t.Fatalf("after reopen: %v (lost %v)", got, l.TxnIndexLost())
	}

	// A crash keeps what SyncTxnIndexes wrote, not what came after.
	want = append(want, appendAborted(t, l, 20))
	if err := l.SyncTxnIndexes(); err != nil {
		t.Fatal(err)
	}
	unsynced := appendAborted(t, l, 21)
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = e.open()
	if got := l.AbortedTxns(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("after a crash: %v, want %v", got, want)
	}
	if err := l.AddAbortedTxn(unsynced); err != nil {
		t.Fatalf("re-deriving the lost entry: %v", err)
	}
	want = append(want, unsynced)

	// DropAbortedTxnsFrom and Truncate cut the entries at or past them.
	l.DropAbortedTxnsFrom(unsynced.LastOffset)
	want = want[:len(want)-1]
	if got := l.AbortedTxns(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("after DropAbortedTxnsFrom: %v", got)
	}
	if err := l.Truncate(want[4].LastOffset); err != nil {
		t.Fatal(err)
	}
	want = want[:4]
	if got := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, want) {
		t.Fatalf("after Truncate: %v", got)
	}

	// Retention takes the file with its segment.
	segs := l.Segments()
	first := filepath.Join(e.dir, segmentName(segs[0].BaseOffset)+txnIndexSuffix)
	if _, err := os.Stat(first); err != nil {
		t.Fatalf("the first segment's transaction index: %v", err)
	}
	if err := l.DeleteRecordsBefore(segs[1].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("the deleted segment's transaction index is still there: %v", err)
	}
	want = want[1:]
	if got := l.AbortedTxns(l.LogStartOffset(), math.MaxInt64); !slices.Equal(got, want) {
		t.Fatalf("after retention: %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// An unreadable file is reported, its entries dropped.
	second := filepath.Join(e.dir, segmentName(l.Segments()[0].BaseOffset)+txnIndexSuffix)
	if err := os.WriteFile(second, []byte("garbage that is not an index entry......"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	defer l.Close()
	if !l.TxnIndexLost() {
		t.Fatal("a damaged transaction index was not reported")
	}
	if got := l.AbortedTxns(l.LogStartOffset(), math.MaxInt64); !slices.Equal(got, want[1:]) {
		t.Fatalf("after damage: %v, want %v", got, want[1:])
	}
}

// TestTxnIndex_Compaction checks a clean carries the aborted transactions
// of the segments it merges, through a reopen.
func TestTxnIndex_Compaction(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	var want []AbortedTxn
	for i := range 3 {
		for range 3 {
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("2")}}, 0, record.BuildOptions{}), 0)
		}
		want = append(want, appendAborted(t, l, int64(30+i)))
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	before := len(l.Segments())
	if st := mustClean(t, l, e.clock.Now(), nil); !st.Cleaned {
		t.Fatalf("no clean: %+v", st)
	}
	if after := len(l.Segments()); after >= before {
		t.Fatalf("segments %d -> %d: nothing merged", before, after)
	}
	if got := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, want) {
		t.Fatalf("after clean: %v, want %v", got, want)
	}
	crash(l)
	l = e.open()
	if got := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, want) || l.TxnIndexLost() {
		t.Fatalf("after reopen: %v (lost %v)", got, l.TxnIndexLost())
	}
	// Later cleans, with no producer active, remove the batches kept
	// empty for the producers, then find no batch of the aborted
	// transactions: their entries go, on disk too, although the cleaned
	// segment takes the name of one that had an index file.
	for range 2 {
		mustAppend(t, l, keyedBatch([]kv{{[]byte("z"), []byte("1")}}, 0, record.BuildOptions{}), 0)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		if st, err := l.Clean(context.Background(), CleanOptions{Now: e.clock.Now(), HighWatermark: math.MaxInt64, ActiveProducers: map[int64]int64{}}); err != nil || !st.Cleaned {
			t.Fatalf("no later clean: %+v %v", st, err)
		}
	}
	if got := l.AbortedTxns(0, math.MaxInt64); len(got) != 0 {
		t.Fatalf("after the second clean: %v", got)
	}
	crash(l)
	l = e.open()
	defer l.Close()
	if got := l.AbortedTxns(0, math.MaxInt64); len(got) != 0 || l.TxnIndexLost() {
		t.Fatalf("after the second clean and a reopen: %v (lost %v): a stale index file came back", got, l.TxnIndexLost())
	}
}

// TestTxnIndex_PowerLoss: what SyncTxnIndexes wrote survives a power
// loss (unsynced writes dropped), also for a segment rolled since; an
// empty index file (a torn write) is reported lost, not taken as "no
// aborted transactions".
func TestTxnIndex_PowerLoss(t *testing.T) {
	mem := vfs.NewMem()
	l, err := openOn(mem, testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	a := appendAborted(t, l, 5)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	b := appendAborted(t, l, 6)
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTxnIndexes(); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l2, err := openOn(mem.CrashClone(vfs.CrashOptions{}), testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, []AbortedTxn{a, b}) || l2.TxnIndexLost() {
		t.Fatalf("after the power loss: %v (lost %v)", got, l2.TxnIndexLost())
	}
	crash(l2)

	torn := vfs.NewMem()
	l3, err := openOn(torn, testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	appendAborted(t, l3, 7)
	if err := l3.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(torn, filepath.Join(powerDir, segmentName(0)+txnIndexSuffix), nil, true); err != nil {
		t.Fatal(err)
	}
	l4, err := openOn(torn, testConfig(), newClock(), record.NewDecompressor(0), &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	if !l4.TxnIndexLost() {
		t.Fatal("an empty transaction index file was taken as no aborted transactions")
	}
}
