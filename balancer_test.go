package fjord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
	c := startCluster(t, 4, "balancer.enable", "true", "balancer.interval.ms", "500", "balancer.max.concurrent.moves", "2")
	// Broker 4 is "added" later: stopped before anything is created.
	if err := c.Stop(3); err != nil {
		t.Fatal(err)
	}
	addrs := c.Addrs()[:3]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const topic = "spread"
	createTopicOn(t, ctx, admCl, topic, []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}, []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2})

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
