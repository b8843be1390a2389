package log

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// txnLogState is what a test reads back of a log: the data records by
// key (in offset order) and the markers.
type txnLogState struct {
	data    []string // "key=value@offset"
	markers []string // "pid:commit|abort@offset"
}

func readTxnLog(t *testing.T, l *Log) txnLogState {
	t.Helper()
	var st txnLogState
	b, err := l.Read(l.LogStartOffset(), math.MaxInt32, l.LogEndOffset(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		h, recs, err := record.Records(b)
		if err != nil {
			t.Fatal(err)
		}
		batch := b[:h.Size()]
		b = b[h.Size():]
		if h.IsControl() {
			m, err := record.ParseMarker(batch)
			if err != nil {
				t.Fatal(err)
			}
			kind := "abort"
			if m.Commit {
				kind = "commit"
			}
			st.markers = append(st.markers, fmt.Sprintf("%d:%s@%d", h.ProducerID, kind, h.BaseOffset))
			continue
		}
		for _, r := range recs {
			st.data = append(st.data, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, h.BaseOffset+int64(r.OffsetDelta)))
		}
	}
	return st
}

// TestClean_Transactions: a clean removes aborted records and never lets
// them replace a committed value, keeps markers while their transaction
// has batches, then gives them a delete horizon and drops them after it,
// and keeps an aborted transaction's index entry only while it has
// batches left.
func TestClean_Transactions(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	ts := e.clock.Now().UnixMilli()
	put := func(pid int64, seq int32, kvs ...string) int64 {
		var recs []kv
		for i := 0; i < len(kvs); i += 2 {
			recs = append(recs, kv{[]byte(kvs[i]), []byte(kvs[i+1])})
		}
		opts := record.BuildOptions{}
		if pid > 0 {
			opts = record.BuildOptions{Transactional: true, ProducerID: pid, BaseSequence: seq}
		}
		return mustAppend(t, l, keyedBatch(recs, ts, opts), 0).BaseOffset
	}
	end := func(pid int64, commit bool) int64 {
		return mustAppend(t, l, record.BuildMarker(record.Marker{Commit: commit}, pid, 0, ts), 0).BaseOffset
	}
	put(0, 0, "k1", "v1")
	put(1, 0, "k1", "A1", "k2", "A2")
	bFirst := put(2, 0, "k1", "B1", "k3", "B3")
	aCommit := end(1, true)
	bAbort := end(2, false)
	if err := l.AddAbortedTxn(AbortedTxn{ProducerID: 2, FirstOffset: bFirst, LastOffset: bAbort, LastStableOffset: bAbort + 1}); err != nil {
		t.Fatal(err)
	}
	c2 := put(3, 0, "k2", "C2")
	cCommit := end(3, true)
	v4 := put(0, 0, "k4", "v4")
	clean := func(advance time.Duration) CleanStats {
		t.Helper()
		put(0, 0, "k9", fmt.Sprint(e.clock.Now().UnixNano()))
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(advance)
		// No producer is active: nothing is kept empty for one.
		st, err := l.Clean(context.Background(), CleanOptions{Now: e.clock.Now(), HighWatermark: math.MaxInt64, ActiveProducers: map[int64]int64{}})
		if err != nil || !st.Cleaned {
			t.Fatalf("clean: %+v %v", st, err)
		}
		return st
	}

	st := clean(0)
	got := readTxnLog(t, l)
	wantData := []string{"k1=A1@1", fmt.Sprintf("k2=C2@%d", c2), fmt.Sprintf("k4=v4@%d", v4), got.data[len(got.data)-1]}
	if !slices.Equal(got.data, wantData) {
		t.Fatalf("data after the first clean: %v, want %v", got.data, wantData)
	}
	wantMarkers := []string{fmt.Sprintf("1:commit@%d", aCommit), fmt.Sprintf("2:abort@%d", bAbort), fmt.Sprintf("3:commit@%d", cCommit)}
	if !slices.Equal(got.markers, wantMarkers) || st.AbortedRecordsRemoved != 2 {
		t.Fatalf("markers after the first clean: %v (aborted records removed %d)", got.markers, st.AbortedRecordsRemoved)
	}
	if a := l.AbortedTxns(0, math.MaxInt64); len(a) != 1 || a[0].LastOffset != bAbort {
		t.Fatalf("index after the first clean: %v (the aborted batch was there when it ran)", a)
	}

	// The second clean finds no batch of B's: its marker gets a delete
	// horizon and leaves the index; A and C keep theirs (their batches
	// hold k1 and k2's newest values).
	clean(0)
	got = readTxnLog(t, l)
	if !slices.Equal(got.markers, wantMarkers) {
		t.Fatalf("markers after the second clean: %v", got.markers)
	}
	if a := l.AbortedTxns(0, math.MaxInt64); len(a) != 0 {
		t.Fatalf("index after the second clean: %v", a)
	}
	// Past delete.retention.ms, B's marker goes.
	st = clean(compactConfig().DeleteRetention + time.Second)
	got = readTxnLog(t, l)
	if want := []string{wantMarkers[0], wantMarkers[2]}; !slices.Equal(got.markers, want) || st.MarkersRemoved != 1 {
		t.Fatalf("markers past the horizon: %v (removed %d), want %v", got.markers, st.MarkersRemoved, want)
	}
	// A clean reopen agrees (recovery validates every rewritten batch).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	defer l.Close()
	if again := readTxnLog(t, l); !slices.Equal(again.data, got.data) || !slices.Equal(again.markers, got.markers) {
		t.Fatalf("after reopen: %+v, before %+v", again, got)
	}
}
