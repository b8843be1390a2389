package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

const demoteTopic = "demote"

// TestChaos_DemotedLeaderDoesNotAcknowledge reproduces, step by step,
// what the pause and isolation nemeses find (bugFalseAck): leader A is
// isolated from the other nodes while a client still reaches it and sends
// it an acks=all produce; A appends the batch and waits for its followers,
// who no longer fetch. A is fenced and B leads in the next epoch, where
// another client writes. When the partition heals, A learns it follows B,
// truncates its unreplicated batch and copies B's records to the same
// offsets; its high watermark, now B's, passes the waiting produce. A must
// answer it with an error (NOT_LEADER_OR_FOLLOWER, as Kafka's delayed
// produce does when the replica stops leading), never with success: the
// acknowledged offsets hold B's records. Each acknowledgement is checked
// against what the partition holds. It reproduces the bug in most runs;
// in the others the waiting produce fails before the heal (the test then
// passes, having shown nothing).
func TestChaos_DemotedLeaderDoesNotAcknowledge(t *testing.T) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("needs a replicated cluster; kfake is a single process")
	}
	t.Parallel()
	c := fjordtest.StartCluster(t, fjordtest.BuildBinary(t), clusterConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	createReplicated(ctx, t, admin, demoteTopic)
	ledger := fjordtest.NewLedger()
	newProducer := func(opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...), kgo.DefaultProduceTopic(demoteTopic),
			kgo.MetadataMinAge(100 * time.Millisecond), kgo.ProducerLinger(50 * time.Millisecond)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	batch := func(what string, n int) []*kgo.Record {
		var rs []*kgo.Record
		for i := range n {
			rs = append(rs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", what, i)})
		}
		return rs
	}
	for _, r := range newProducer().ProduceSync(ctx, batch("committed", 10)...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ledger.Ack(fjordtest.FromKgo(r.Record))
	}
	a, epoch := partitionLeader(ctx, t, c, demoteTopic, -1)

	// The stale client learns that A leads (one committed write) before
	// A is cut off, and has no reason to ask again: its records go to A.
	// A long produce timeout keeps its produce waiting at A until the
	// partition heals. Not idempotent, so no InitProducerID (which A,
	// cut off from the controller, could not answer) is needed.
	stale := newProducer(kgo.SeedBrokers(c.Node(a).Addr), kgo.ProduceRequestTimeout(20*time.Second),
		kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	for _, r := range stale.ProduceSync(ctx, &kgo.Record{Value: []byte("committed-10")}) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ledger.Ack(fjordtest.FromKgo(r.Record))
	}
	// A keeps its clients but loses the other nodes.
	c.Isolate(a, false)
	var wg sync.WaitGroup
	var staleErr error
	var staleAt time.Time
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := stale.ProduceSync(ctx, batch("stale", 5)...)
		staleAt = time.Now()
		for _, r := range res {
			if r.Err == nil {
				ledger.Ack(fjordtest.FromKgo(r.Record))
			}
		}
		staleErr = res.FirstErr()
		if staleErr != nil {
			for e := errors.Unwrap(staleErr); e != nil; e = errors.Unwrap(e) {
				staleErr = fmt.Errorf("%w (%v)", staleErr, e)
			}
		}
	}()
	dirA := fmt.Sprintf("%s/%s-0", c.Node(a).Proc.DataDir(), demoteTopic)
	waitLogEnd(t, dirA, 16)

	b, newEpoch := partitionLeader(ctx, t, c, demoteTopic, a)
	t.Logf("leader %d (epoch %d) appended the stale batch and waits for followers that cannot fetch; %d leads in epoch %d", a, epoch, b, newEpoch)
	// B takes writes at the offsets of A's stale batch (a client whose
	// metadata says B leads; A, cut off, still believes it does).
	fresh := newProducer()
	for _, r := range fresh.ProduceSync(ctx, batch("fresh", 10)...) {
		if r.Err != nil {
			t.Fatalf("produce to the new leader: %v", r.Err)
		}
		ledger.Ack(fjordtest.FromKgo(r.Record))
	}
	c.Heal()
	healed := time.Now()
	wg.Wait()
	t.Logf("the produce waiting at the demoted leader ended %v after the heal with: %v", staleAt.Sub(healed).Round(time.Millisecond), staleErr)
	got := readTopic(t, c.Bootstrap(), demoteTopic)
	ledger.VerifyExactlyOnce(t, got)
}

// createReplicated creates topic with one partition, replication factor
// 3 and min.insync.replicas=2.
func createReplicated(ctx context.Context, t *testing.T, admin *kgo.Client, topic string) {
	t.Helper()
	min := replMinISR
	resp, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &min}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// partitionLeader waits until every running node other than not agrees on
// a leader of partition 0 of topic other than not, returning it and its
// epoch.
func partitionLeader(ctx context.Context, t *testing.T, c *fjordtest.Cluster, topic string, not int32) (int32, int32) {
	t.Helper()
	deadline := time.Now().Add(isrTimeout)
	for {
		leader, epoch, agreed := int32(-1), int32(-1), true
		for _, n := range c.Nodes() {
			if n.ID == not || !n.Proc.Running() {
				continue
			}
			l, e, err := leaderAsSeenBy(ctx, c, n.ID, topic)
			if err != nil || l < 0 || l == not || (leader >= 0 && (l != leader || e != epoch)) {
				agreed = false
				break
			}
			leader, epoch = l, e
		}
		if agreed && leader >= 0 {
			return leader, epoch
		}
		if time.Now().After(deadline) {
			t.Fatalf("no agreed leader of %s/0 other than %d after %v", topic, not, isrTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
}

// waitLogEnd waits until the replica log in dir reaches offset end.
func waitLogEnd(t *testing.T, dir string, end int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		bs, err := fjordtest.ReadPartitionDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) > 0 && bs[len(bs)-1].LastOffset+1 >= end {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: log end below %d after 10s", dir, end)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not an assertion
	}
}
