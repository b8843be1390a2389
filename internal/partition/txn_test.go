package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// txnBatch builds a transactional batch of n records from producer pid.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("txn")}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: true})
}

// mustAppendTxn appends a transactional batch as a verified write (the
// coordinator's check is the server's, KIP-890).
func mustAppendTxn(t *testing.T, p *Partition, b []byte) Pending {
	t.Helper()
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	allow(t, p, h.ProducerID, h.ProducerEpoch)
	return mustAppend(t, p, b)
}

// allow verifies producerID's next transaction at epoch, as the server
// does with the coordinator's answer.
func allow(t *testing.T, p *Partition, producerID int64, epoch int16) {
	t.Helper()
	if !p.AllowTransaction(producerID, epoch, p.VerificationGuard(producerID, epoch, false)) {
		t.Fatal("a fresh verification guard was refused")
	}
}

func mustMarker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool, coordinatorEpoch int32) int64 {
	t.Helper()
	pend, err := p.WriteMarker(pid, epoch, commit, coordinatorEpoch, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pend.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return pend.Info.BaseOffset
}

func checkLSO(t *testing.T, p *Partition, want int64) {
	t.Helper()
	if got := p.LastStableOffset(); got != want {
		t.Fatalf("last stable offset %d, want %d (high watermark %d)", got, want, p.HighWatermark())
	}
}

// TestPartition_Transactions: transactional batches hold the last stable
// offset at their transaction's first offset until its marker; an abort
// is answered to read_committed fetches of its range, a commit is not;
// a producer in a transaction cannot write outside it; markers from an
// older producer epoch or coordinator epoch are refused, and one with a
// newer epoch starts the producer's sequences again (KIP-890).
func TestPartition_Transactions(t *testing.T) {
	p := openTest(t, nil)
	mustAppend(t, p, batch(2, time.Now().UnixMilli()))              // 0-1
	a1 := mustAppendTxn(t, p, txnBatch(7, 0, 0, 3)).Info.BaseOffset // 2-4
	checkLSO(t, p, a1)
	mustAppendTxn(t, p, txnBatch(9, 0, 0, 2)) // 5-6
	mustAppendTxn(t, p, txnBatch(7, 0, 3, 1)) // 7
	if _, err := p.Append(idemBatch(7, 0, 4, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("a non-transactional batch inside a transaction: %v", err)
	}
	checkLSO(t, p, a1)
	abort := mustMarker(t, p, 7, 0, false, 1) // 8
	checkLSO(t, p, 5)
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 2, LastOffset: abort, LastStableOffset: 5}}
	if got := p.AbortedTxns(0, p.LastStableOffset()); !slices.Equal(got, want) {
		t.Fatalf("aborted %v, want %v", got, want)
	}
	commit := mustMarker(t, p, 9, 0, true, 1) // 9
	checkLSO(t, p, commit+1)
	if got := p.AbortedTxns(0, commit+1); !slices.Equal(got, want) {
		t.Fatalf("after the commit: aborted %v, want %v", got, want)
	}
	if got := p.AbortedTxns(abort+1, commit+1); len(got) != 0 {
		t.Fatalf("a range past the abort: %v", got)
	}
	// A retried marker with nothing open is written, and changes nothing.
	mustMarker(t, p, 9, 0, true, 1)
	checkLSO(t, p, p.HighWatermark())

	if _, err := p.WriteMarker(9, 0, true, 0, time.Now()); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("a marker from an older coordinator: %v", err)
	}
	// KIP-890 part 2: the coordinator bumps the epoch as it ends the
	// transaction; the producer then starts again at sequence 0.
	mustAppendTxn(t, p, txnBatch(9, 0, 2, 1))
	mustMarker(t, p, 9, 1, true, 1)
	if _, err := p.WriteMarker(9, 0, false, 1, time.Now()); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a marker at the old epoch: %v", err)
	}
	if _, err := p.Append(txnBatch(9, 0, 3, 1), time.Now()); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a batch at the old epoch: %v", err)
	}
	mustAppendTxn(t, p, txnBatch(9, 1, 0, 1))
	ps := p.ActiveProducers()
	i := slices.IndexFunc(ps, func(s ProducerState) bool { return s.ProducerID == 9 })
	if i < 0 || ps[i].Epoch != 1 || ps[i].CoordinatorEpoch != 1 || ps[i].CurrentTxnStartOffset != p.LogEndOffset()-1 {
		t.Fatalf("producer 9: %+v", ps)
	}
}

// TestPartition_TransactionsSurviveRestart: the open transactions and the
// aborted ones come back after a clean close, and after crashes that lose
// the transaction index past the last snapshot or the whole index.
func TestPartition_TransactionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, map[string]string{"segment.bytes": "1000"}) // rolls, so snapshots mid-way
	var aborted []AbortedTxn
	seq := map[int64]int32{}
	for i := range 30 {
		pid := int64(100 + i%4)
		first := mustAppendTxn(t, p, txnBatch(pid, 0, seq[pid], 2)).Info.BaseOffset
		seq[pid] += 2
		if i%4 == 3 {
			continue // producer 103 never ends its transactions: one stays open
		}
		mustAppend(t, p, batch(1, time.Now().UnixMilli()))
		if i%3 == 0 {
			lso := p.LastStableOffset()
			off := mustMarker(t, p, pid, 0, false, 0)
			aborted = append(aborted, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: off, LastStableOffset: min(lso, off+1)})
		} else {
			mustMarker(t, p, pid, 0, true, 0)
		}
	}
	// One more abort, past the newest snapshot: a crash loses it from
	// the index, and the replay of the log after the snapshot finds it.
	first := mustAppendTxn(t, p, txnBatch(200, 0, 0, 1)).Info.BaseOffset
	lso := p.LastStableOffset()
	off := mustMarker(t, p, 200, 0, false, 0)
	aborted = append(aborted, AbortedTxn{ProducerID: 200, FirstOffset: first, LastOffset: off, LastStableOffset: min(lso, off+1)})
	if snaps := snapshotsIn(t, dir); len(snaps) == 0 || snaps[len(snaps)-1] > first {
		t.Fatalf("snapshots %v: none, or one past offset %d", snaps, first)
	}
	open103 := p.ActiveProducers()[3].CurrentTxnStartOffset
	if open103 < 0 {
		t.Fatal("producer 103 has no open transaction")
	}
	check := func(t *testing.T, p *Partition) {
		t.Helper()
		checkLSO(t, p, open103)
		got := p.AbortedTxns(0, p.LogEndOffset())
		// The last stable offsets recorded with each entry depend on
		// what was open; compare the transactions themselves.
		same := len(got) == len(aborted)
		for i := 0; same && i < len(got); i++ {
			same = got[i].ProducerID == aborted[i].ProducerID && got[i].FirstOffset == aborted[i].FirstOffset && got[i].LastOffset == aborted[i].LastOffset
		}
		if !same {
			t.Fatalf("aborted %v, want %v", got, aborted)
		}
		if _, err := p.Append(idemBatch(103, 0, seq[103], 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
			t.Fatalf("producer 103's transaction is not open: %v", err)
		}
	}
	check(t, p)
	crashed := crashCopy(t, dir)
	lostIndex := crashCopy(t, dir)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("clean close", func(t *testing.T) { check(t, openAt(t, dir, nil)) })
	t.Run("crash", func(t *testing.T) {
		// The copy holds the index as last synced (before the newest
		// snapshot): the entries after it come back from the markers.
		check(t, openAt(t, crashed, nil))
	})
	t.Run("index lost", func(t *testing.T) {
		ents, _ := os.ReadDir(lostIndex)
		damaged := 0
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".txnindex" {
				if err := os.WriteFile(filepath.Join(lostIndex, e.Name()), []byte("damaged"), 0o644); err != nil {
					t.Fatal(err)
				}
				damaged++
			}
		}
		if damaged == 0 {
			t.Fatal("no transaction index file to damage")
		}
		check(t, openAt(t, lostIndex, nil))
	})
}

// TestPartition_FollowerTransactions: a follower tracks the leader's
// transactions from the batches it copies, and a truncation that cuts a
// marker opens its transaction again.
func TestPartition_FollowerTransactions(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	leader, follower := openAs(t, 1), openAs(t, 2)
	both := Leadership{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	leader.ApplyLeadership(both, now)
	follower.ApplyLeadership(both, now)
	allow(t, leader, 7, 0)
	for _, b := range [][]byte{txnBatch(7, 0, 0, 2), batch(1, now.UnixMilli())} {
		if _, err := leader.Append(b, now); err != nil {
			t.Fatal(err)
		}
	}
	pend, err := leader.WriteMarker(7, 0, false, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	marker := pend.Info.BaseOffset
	data, err := leader.log.Read(0, 1<<20, leader.LogEndOffset(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendAsFollower(1, 4, data, now); err != nil {
		t.Fatal(err)
	}
	if err := follower.SyncTo(ctx, follower.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: marker, LastStableOffset: marker + 1}}
	if got := follower.AbortedTxns(0, marker+1); !slices.Equal(got, want) {
		t.Fatalf("follower's aborted %v, want %v", got, want)
	}
	if err := follower.TruncateTo(1, 4, marker); err != nil {
		t.Fatal(err)
	}
	if got := follower.AbortedTxns(0, marker+1); len(got) != 0 {
		t.Fatalf("the cut marker's transaction is still indexed: %v", got)
	}
	ps := follower.ActiveProducers()
	if len(ps) != 1 || ps[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("after the cut, producer 7's transaction is not open again: %+v", ps)
	}
}

// TestPartition_OpenTransactionBoundsDeletion: DeleteRecords stops at the
// first offset of an open transaction (answering where the log starts),
// and so does retention; once the transaction ends both go on.
func TestPartition_OpenTransactionBoundsDeletion(t *testing.T) {
	p := openTest(t, map[string]string{"segment.bytes": "1000", "retention.ms": "60000"})
	old := time.Now().Add(-time.Hour).UnixMilli()
	for range 10 {
		mustAppend(t, p, batch(3, old))
	}
	recs := []record.Record{{Key: []byte("k"), Value: []byte("open")}}
	first := mustAppendTxn(t, p, record.Build(recs, record.BuildOptions{BaseTimestamp: old, ProducerID: 5, BaseSequence: 0, Transactional: true})).Info.BaseOffset
	for range 20 {
		mustAppend(t, p, batch(3, old))
	}
	if err := p.Maintain(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if start := p.LogStartOffset(); start > first || start == 0 {
		t.Fatalf("retention moved the log start to %d (open transaction at %d)", start, first)
	}
	if start, err := p.DeleteRecordsBefore(-1); err != nil || start != first {
		t.Fatalf("DeleteRecords to the high watermark: start %d %v, want %d", start, err, first)
	}
	mustMarker(t, p, 5, 0, true, 0)
	if err := p.Maintain(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if start, hw := p.LogStartOffset(), p.HighWatermark(); start <= first {
		t.Fatalf("after the commit retention kept the log from %d (high watermark %d)", start, hw)
	}
	if start, err := p.DeleteRecordsBefore(-1); err != nil || start != p.HighWatermark() {
		t.Fatalf("DeleteRecords after the commit: start %d %v", start, err)
	}
}

// TestPartition_TransactionNeedsVerification: a transactional batch opens
// a transaction only after the coordinator verified it (KIP-890): with the
// guard taken before asking (VerificationGuard) still in place when the
// answer comes (AllowTransaction), at that epoch; a marker in between
// withdraws the guard, before or after the answer.
func TestPartition_TransactionNeedsVerification(t *testing.T) {
	p := openTest(t, nil)
	if _, err := p.Append(txnBatch(7, 0, 0, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("unverified: %v", err)
	}
	allow(t, p, 7, 1)
	if _, err := p.Append(txnBatch(7, 0, 0, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("verified at another epoch: %v", err)
	}
	// The marker lands while the coordinator is being asked.
	tok := p.VerificationGuard(7, 0, false)
	mustMarker(t, p, 7, 0, false, 0)
	if p.AllowTransaction(7, 0, tok) {
		t.Fatal("a guard a marker withdrew was honoured")
	}
	if _, err := p.Append(txnBatch(7, 0, 0, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("verified before a marker: %v", err)
	}
	// The marker lands after the answer, before the write.
	allow(t, p, 7, 0)
	mustMarker(t, p, 7, 0, false, 0)
	if _, err := p.Append(txnBatch(7, 0, 0, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("verified, then a marker: %v", err)
	}
	allow(t, p, 7, 0)
	mustAppend(t, p, txnBatch(7, 0, 0, 1))
	mustAppend(t, p, txnBatch(7, 0, 1, 1)) // the open transaction goes on unverified
	mustMarker(t, p, 7, 0, true, 0)
	if _, err := p.Append(txnBatch(7, 0, 2, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("the next transaction, unverified: %v", err)
	}
}

// TestPartition_TV2GuardSurvivesTheEndOfThePreviousTransaction: under
// KIP-890 part 2 the markers of a transaction carry the epoch the next one
// writes with; a verification of the next transaction's write (at that
// epoch) is not withdrawn by them, one of part 1 is; and a write at the
// ended transaction's epoch is refused as an older epoch.
func TestPartition_TV2GuardSurvivesTheEndOfThePreviousTransaction(t *testing.T) {
	p := openTest(t, nil)
	allow(t, p, 7, 0)
	mustAppend(t, p, txnBatch(7, 0, 0, 1))
	tok := p.VerificationGuard(7, 1, true) // the next transaction's first write, at epoch 1
	mustMarker(t, p, 7, 1, true, 0)        // the first transaction's commit, bumped to 1
	if !p.AllowTransaction(7, 1, tok) {
		t.Fatal("the next transaction's verification was withdrawn by the previous one's marker")
	}
	mustAppend(t, p, txnBatch(7, 1, 0, 1))
	if _, err := p.Append(txnBatch(7, 0, 1, 1), time.Now()); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a late write of the ended transaction: %v, want an older epoch", err)
	}
	// The next transaction's write arriving before this one's marker does
	// not join it.
	if _, err := p.Append(txnBatch(7, 2, 0, 1), time.Now()); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("a newer epoch's write into the open transaction: %v, want refused", err)
	}
	// Part 1 (tv2 false): the same marker withdraws it.
	mustMarker(t, p, 7, 1, true, 0)
	tok = p.VerificationGuard(7, 1, false)
	mustMarker(t, p, 7, 1, false, 0)
	if p.AllowTransaction(7, 1, tok) {
		t.Fatal("a part 1 verification survived a marker")
	}
}
