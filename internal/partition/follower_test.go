package partition

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/record"
)

func openAs(t *testing.T, localID int32) *Partition {
	t.Helper()
	p, err := Open(ID{"t", 0}, [16]byte{1}, t.TempDir(), topicConfig(t, nil), localID, 3,
		log.Options{Logger: slog.New(slog.DiscardHandler)}, record.NewDecompressor(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func producerSeqs(ps []ProducerState) map[int64][2]int32 {
	out := map[int64][2]int32{}
	for _, s := range ps {
		out[s.ProducerID] = [2]int32{int32(s.Epoch), s.LastSequence}
	}
	return out
}

// A follower copies the leader's batches byte for byte and keeps the same
// producer state; the leader's high watermark waits for the follower's
// durable offset; a truncated follower rebuilds its producer state, so
// as the next leader it takes the retries of the cut batches as new
// writes and still recognises the retries of the batches it kept.
func TestPartition_FollowerCopiesLeaderAndTruncates(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	leader, follower := openAs(t, 1), openAs(t, 2)
	both := Leadership{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	leader.ApplyLeadership(both, now)
	follower.ApplyLeadership(both, now)
	if follower.Role() != RoleFollower {
		t.Fatalf("follower role %v", follower.Role())
	}
	if _, err := follower.Append(batch(1, now.UnixMilli()), now); err == nil {
		t.Fatal("a follower took a client write")
	}
	for _, b := range [][]byte{idemBatch(7, 0, 0, 3), idemBatch(7, 0, 3, 2), idemBatch(9, 1, 0, 1)} {
		if _, err := leader.Append(b, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.SyncTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("leader high watermark %d before the follower has anything", hw)
	}
	copied, err := leader.log.Read(0, 1<<20, leader.LogEndOffset(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendAsFollower(1, 4, copied, now); err != nil {
		t.Fatal(err)
	}
	if err := follower.SyncTo(ctx, follower.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	again, err := follower.log.Read(0, 1<<20, follower.LogEndOffset(), true, nil)
	if err != nil || string(again) != string(copied) {
		t.Fatalf("follower's log differs from the leader's (%v)", err)
	}
	if err := leader.FollowerFetched(2, 4, follower.LogEndOffset(), 0, now); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 6 {
		t.Fatalf("leader high watermark %d once the follower holds all 6 records", hw)
	}
	follower.FollowerHighWatermark(1, 4, leader.HighWatermark())
	if hw := follower.HighWatermark(); hw != 6 {
		t.Fatalf("follower high watermark %d", hw)
	}
	want := map[int64][2]int32{7: {0, 4}, 9: {1, 0}}
	if got := producerSeqs(follower.ActiveProducers()); len(got) != 2 || got[7] != want[7] || got[9] != want[9] {
		t.Fatalf("follower producer state %v, want %v", got, want)
	}

	// The follower drops the tail from offset 3 (the second batch of 7
	// and the batch of 9).
	if err := follower.TruncateTo(1, 4, 3); err != nil {
		t.Fatal(err)
	}
	if leo, hw := follower.LogEndOffset(), follower.HighWatermark(); leo != 3 || hw != 3 {
		t.Fatalf("after truncation: log end %d, high watermark %d", leo, hw)
	}
	if got := producerSeqs(follower.ActiveProducers()); len(got) != 1 || got[7] != [2]int32{0, 2} {
		t.Fatalf("producer state after truncation %v", got)
	}
	follower.ApplyLeadership(Leadership{Leader: 2, LeaderEpoch: 5, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}}, now)
	retryCut, err := follower.Append(idemBatch(7, 0, 3, 2), now)
	if err != nil || retryCut.Duplicate || retryCut.Info.BaseOffset != 3 {
		t.Fatalf("retry of a cut batch: %+v %v", retryCut, err)
	}
	retryKept, err := follower.Append(idemBatch(7, 0, 0, 3), now)
	if err != nil || !retryKept.Duplicate || retryKept.Info.BaseOffset != 0 {
		t.Fatalf("retry of a kept batch: %+v %v", retryKept, err)
	}
	if err := retryCut.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if hw := follower.HighWatermark(); hw != 5 {
		t.Fatalf("new leader's high watermark %d", hw)
	}
}

// An acks=all write waiting for its followers is answered
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR falls below
// min.insync.replicas, and NOT_LEADER_OR_FOLLOWER when leadership moves,
// instead of waiting out its timeout.
func TestPartition_AcksAllWaitEndsWhenTheISRShrinks(t *testing.T) {
	now := time.Now()
	p, err := Open(ID{"t", 0}, [16]byte{1}, t.TempDir(), topicConfig(t, map[string]string{"min.insync.replicas": "2"}), 1, 3,
		log.Options{Logger: slog.New(slog.DiscardHandler)}, record.NewDecompressor(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	for step, change := range []Leadership{
		{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}},
		{Leader: 2, LeaderEpoch: 5, PartitionEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{2}},
	} {
		if step == 1 {
			p.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
		}
		want := []error{ErrNotEnoughReplicasAfterAppend, ErrNotLeader}[step]
		waitEndsWith(t, p, want, func() { p.ApplyLeadership(change, now) })
	}
}

// A follower can copy a batch and make it durable before the leader's own
// fsync of it completes (it reads the leader's page cache). Its report must
// count once the leader's fsync is done: the acks=all write is answered
// then, not after the follower's next fetch, which waits out
// replica.fetch.wait.max.ms when nothing new arrives (the stall the
// cluster power-loss test and e2e/perf found; the leader's state learns
// its log end at append time).
func TestPartition_FollowerAheadOfLeaderFsyncCounts(t *testing.T) {
	now := time.Now()
	leader := openAs(t, 1)
	leader.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	pend, err := leader.Append(batch(3, now.UnixMilli()), now)
	if err != nil {
		t.Fatal(err)
	}
	// The follower fetched the batch, appended and fsynced it, and fetches
	// again from its end, all before the leader's group commit ran.
	if err := leader.FollowerFetched(2, 4, 3, 0, now); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := pend.Wait(ctx); err != nil {
		t.Fatalf("acks=all wait: %v (high watermark %d)", err, leader.HighWatermark())
	}
}

// KIP-101 with an empty epoch: B is elected leader in epoch 12 and loses
// leadership before appending anything; A, which holds more of epoch 11,
// leads epoch 13. B's divergence check cuts it to its own log end, which
// must drop the empty epoch 12, or every epoch-11 batch A sends is refused
// as out of order and B never rejoins the ISR.
func TestPartition_FollowerDropsEpochItNeverAppendedIn(t *testing.T) {
	now := time.Now()
	a, b := openAs(t, 1), openAs(t, 2)
	e11 := Leadership{Leader: 1, LeaderEpoch: 11, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	a.ApplyLeadership(e11, now)
	b.ApplyLeadership(e11, now)
	for range 2 {
		if _, err := a.Append(batch(2, now.UnixMilli()), now); err != nil {
			t.Fatal(err)
		}
	}
	first, err := a.log.Read(0, 1<<20, 2, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendAsFollower(1, 11, first, now); err != nil {
		t.Fatal(err)
	}
	b.ApplyLeadership(Leadership{Leader: 2, LeaderEpoch: 12, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}}, now)
	if b.LatestEpoch() != 12 {
		t.Fatalf("new leader's latest epoch %d, want 12", b.LatestEpoch())
	}
	e13 := Leadership{Leader: 1, LeaderEpoch: 13, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1}}
	a.ApplyLeadership(e13, now)
	b.ApplyLeadership(e13, now)
	// What the fetcher does: ask the leader where B's latest epoch ends,
	// and cut at the smaller of that and B's own end of the answered epoch.
	ep, end := a.EndOffsetForEpoch(b.LatestEpoch())
	if own, ownEnd := b.EndOffsetForEpoch(ep); own == ep {
		end = min(end, ownEnd)
	}
	if end != b.LogEndOffset() {
		t.Fatalf("divergence at %d, want B's log end %d", end, b.LogEndOffset())
	}
	if err := b.TruncateTo(1, 13, end); err != nil {
		t.Fatal(err)
	}
	rest, err := a.log.Read(2, 1<<20, a.LogEndOffset(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendAsFollower(1, 13, rest, now); err != nil {
		t.Fatalf("B refused the leader's epoch-11 batch after the divergence check: %v", err)
	}
	if b.LogEndOffset() != a.LogEndOffset() {
		t.Fatalf("B ends at %d, A at %d", b.LogEndOffset(), a.LogEndOffset())
	}
}

// A follower reports its durable end to the leader, which counts it
// towards the high watermark: records appended but not yet fsynced are
// not part of it.
func TestPartition_FollowerDurableEndExcludesUnsynced(t *testing.T) {
	now := time.Now()
	a, b := openAs(t, 1), openAs(t, 2)
	l := Leadership{Leader: 1, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	a.ApplyLeadership(l, now)
	b.ApplyLeadership(l, now)
	if _, err := a.Append(batch(3, now.UnixMilli()), now); err != nil {
		t.Fatal(err)
	}
	copied, err := a.log.Read(0, 1<<20, a.LogEndOffset(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendAsFollower(1, 5, copied, now); err != nil {
		t.Fatal(err)
	}
	if b.LogEndOffset() != 3 || b.DurableEnd() != 0 {
		t.Fatalf("before the fsync: log end %d, durable end %d; want 3, 0", b.LogEndOffset(), b.DurableEnd())
	}
	if err := b.SyncTo(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if b.DurableEnd() != 3 {
		t.Fatalf("after the fsync: durable end %d, want 3", b.DurableEnd())
	}
}

// A partition removed from this node (topic deleted, replica moved away)
// ends the acks=all produces waiting on it at once.
func TestManager_RemoveEndsWaitingProduces(t *testing.T) {
	now := time.Now()
	m := NewManager(ManagerConfig{Dir: t.TempDir(), NodeID: 1}, slog.New(slog.DiscardHandler))
	defer m.Close()
	id := ID{"t", 0}
	p, err := m.Create(id, [16]byte{1}, topicConfig(t, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	waitEndsWith(t, p, ErrNotLeader, func() {
		if err := m.Remove(id); err != nil {
			t.Error(err)
		}
	})
}

// waitEndsWith appends a batch to leader p, parks an acks=all wait on it,
// runs event, and checks that the wait ends at once with want.
func waitEndsWith(t *testing.T, p *Partition, want error, event func()) {
	t.Helper()
	now := time.Now()
	pend, err := p.Append(batch(1, now.UnixMilli()), now)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pend.Wait(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // parked (ordering only)
	event()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("the wait ended with %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end")
	}
}

// A follower's report counts only in the leader epoch it was fetched in:
// a leader that has moved to another epoch since (it lost leadership and
// won it back; its log may have been cut and rewritten meanwhile) refuses
// it and moves neither its ISR nor its high watermark.
func TestPartition_FollowerReportCountsOnlyInItsEpoch(t *testing.T) {
	now := time.Now()
	leader := openAs(t, 1)
	leader.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 6, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	if _, err := leader.Append(batch(3, now.UnixMilli()), now); err != nil {
		t.Fatal(err)
	}
	if err := leader.SyncTo(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	err := leader.FollowerFetched(2, 5, 3, 0, now)
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a report fetched in epoch 5 to a leader in epoch 6: %v, want ErrNotLeader", err)
	}
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after a report of another epoch, want 0", hw)
	}
	if err := leader.FollowerFetched(2, 6, 3, 0, now); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after the follower's report in epoch 6, want 3", hw)
	}
}
