package partition

import "testing"

// Two producers' transactions interleaved in one partition: the last
// stable offset waits for the oldest ongoing one, an abort is indexed with
// the last stable offset after it, and a commit is not.
func TestTxnState_LastStableOffsetAndAborts(t *testing.T) {
	s := newTxnState()
	if got := s.lastStable(10); got != 10 {
		t.Fatalf("no transaction: LSO %d", got)
	}
	s.data(1, 10) // producer 1: offsets 10-11
	s.data(1, 11)
	s.data(2, 12) // producer 2: offsets 12-13
	if got := s.lastStable(20); got != 10 {
		t.Fatalf("LSO %d, want 10 (producer 1's first offset)", got)
	}
	if _, ok := s.marker(1, true, 14); ok { // producer 1 commits at 14
		t.Fatal("a commit indexed as an abort")
	}
	// Until the marker is replicated (below the high watermark) it may
	// be truncated: the transaction is not yet stable.
	s.highWatermark(14)
	if got := s.lastStable(20); got != 10 {
		t.Fatalf("LSO %d, want 10 while the commit marker at 14 is not replicated", got)
	}
	s.highWatermark(15)
	if got := s.lastStable(20); got != 12 {
		t.Fatalf("LSO %d, want 12 (producer 2's first offset)", got)
	}
	s.data(1, 15)                   // producer 1's next transaction
	a, ok := s.marker(2, false, 16) // producer 2 aborts at 16
	s.highWatermark(17)
	want := AbortedTxn{ProducerID: 2, FirstOffset: 12, LastOffset: 16, LastStableOffset: 15}
	if !ok || a != want {
		t.Fatalf("abort %+v %v, want %+v", a, ok, want)
	}
	if _, ok := s.marker(2, false, 17); ok {
		t.Fatal("a retried marker with nothing ongoing indexed")
	}
	if got := s.lastStable(20); got != 15 {
		t.Fatalf("LSO %d, want 15", got)
	}
	a2, _ := s.marker(1, false, 18)
	s.highWatermark(19)
	if a2.LastStableOffset != 19 {
		t.Fatalf("with nothing else ongoing the LSO after the abort is its marker's next offset: %+v", a2)
	}
}
