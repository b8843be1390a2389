package fjord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// noDiskTrigger turns the balancer's disk trigger off: a test's brokers
// share the host's one file system, so its fill level (past the threshold
// on a full build machine) would only decide whether anything may move.
var noDiskTrigger = [2]string{"balancer.disk.usage.threshold.percent", "100"}

// With balancer.enable, a fourth broker joining a cluster whose topic (6
// partitions, RF 3) lives on brokers 1-3 receives replicas by itself,
// through reassignments the active controller starts (at most two at a
// time), while an idempotent acks=all producer writes; replicas end even
// over the four brokers and every acknowledged record is read back once at
// its offset.
func TestCluster_BalancerSpreadsOntoNewBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("four-node cluster under load")
	}
	c := startCluster(t, 4, "balancer.enable", "true", "balancer.interval.ms", "500", "balancer.max.concurrent.moves", "2", noDiskTrigger[0], noDiskTrigger[1])
	// Broker 4 is "added" later: stopped before anything is created.
	if err := c.Stop(3); err != nil {
		t.Fatal(err)
	}
	addrs := c.Addrs()[:3]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admCl, adm := adminClient(t, addrs)
	const topic = "spread"
	createTopicOn(t, ctx, admCl, topic, onFirstThree...)

	load := startLoad(t, addrs, topic, 512, 128)
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return load.ledger.Len() >= 500, fmt.Sprint(load.ledger.Len()) })
	// Balanced over the three live brokers: the balancer moves nothing.
	time.Sleep(1500 * time.Millisecond)
	if replicas, _, _, err := brokerCounts(ctx, adm, topic); err != nil || replicas[4] != 0 {
		t.Fatalf("replicas before broker 4 is back: %v %v", replicas, err)
	}

	start := time.Now()
	if err := c.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	maxMoving := 0
	waitFor(t, ctx, "replicas even over 4 brokers, no reassignment running", func() (bool, string) {
		s := make(kadm.TopicsSet)
		s.Add(topic, 0, 1, 2, 3, 4, 5)
		ongoing, err := adm.ListPartitionReassignments(ctx, s)
		if err != nil {
			return false, err.Error()
		}
		moving := 0
		ongoing.Each(func(kadm.ListPartitionReassignmentsResponse) { moving++ })
		maxMoving = max(maxMoving, moving)
		replicas, _, _, err := brokerCounts(ctx, adm, topic)
		return err == nil && moving == 0 && replicas[4] > 0 && evenOver(replicas, 4), fmt.Sprint(replicas, moving, err)
	})
	t.Logf("balanced onto broker 4 in %s (at most %d partitions moving at a sample)", time.Since(start).Round(time.Millisecond), maxMoving)
	if maxMoving > 2 {
		t.Errorf("%d partitions moved at once; balancer.max.concurrent.moves is 2", maxMoving)
	}
	n := load.ledger.Len()
	waitFor(t, ctx, "records acknowledged after the moves", func() (bool, string) { return load.ledger.Len() >= n+500, fmt.Sprint(load.ledger.Len()) })
	load.finish(t)
	load.ledger.VerifyExactlyOnce(t, readTopic(t, ctx, c.Addrs(), adm, topic))
	t.Logf("%d records acknowledged and verified", load.ledger.Len())
}

// With balancer.enable, a broker stopped for longer than
// balancer.broker.gone.ms is evacuated by itself: its replicas move to the
// three others, no earlier than the grace period, while an idempotent
// acks=all producer writes, and every acknowledged record is read back
// once at its offset.
func TestCluster_BalancerEvacuatesGoneBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("four-node cluster under load")
	}
	const grace = 4 * time.Second
	c := startCluster(t, 4, "balancer.enable", "true", "balancer.interval.ms", "500", "balancer.broker.gone.ms", fmt.Sprint(grace.Milliseconds()), noDiskTrigger[0], noDiskTrigger[1])
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const topic = "leave"
	createTopicOn(t, ctx, admCl, topic, []int32{1, 2, 3}, []int32{2, 3, 4}, []int32{3, 4, 1}, []int32{4, 1, 2})
	addrs := []string{c.Addrs()[0], c.Addrs()[1], c.Addrs()[3]}
	load := startLoad(t, addrs, topic, 512, 128)
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return load.ledger.Len() >= 500, fmt.Sprint(load.ledger.Len()) })

	if err := c.Stop(2); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var firstMove time.Duration
	waitFor(t, ctx, "broker 3's replicas moved to brokers 1, 2 and 4", func() (bool, string) {
		replicas, _, _, err := brokerCounts(ctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		if firstMove == 0 && replicas[3] < 3 {
			firstMove = time.Since(stopped)
		}
		return replicas[3] == 0 && replicas[1]+replicas[2]+replicas[4] == 12, fmt.Sprint(replicas)
	})
	t.Logf("first replica off broker 3 seen %s after it stopped (grace %s)", firstMove.Round(time.Millisecond), grace)
	if firstMove < grace {
		t.Errorf("broker 3's replicas moved %s after it stopped, before the grace of %s", firstMove, grace)
	}
	waitFor(t, ctx, "full ISRs", func() (bool, string) {
		_, _, isr, err := brokerCounts(ctx, adm, topic)
		for _, n := range isr {
			if n != 3 {
				return false, fmt.Sprint(isr)
			}
		}
		return err == nil, fmt.Sprint(isr, err)
	})
	n := load.ledger.Len()
	waitFor(t, ctx, "records acknowledged after the moves", func() (bool, string) { return load.ledger.Len() >= n+500, fmt.Sprint(load.ledger.Len()) })
	load.finish(t)
	load.ledger.VerifyExactlyOnce(t, readTopic(t, ctx, addrs, adm, topic))
	t.Logf("%d records acknowledged and verified", load.ledger.Len())
}
