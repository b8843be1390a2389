package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// rackOf is the rack of node id in the stretched cluster: a, b, c.
func rackOf(id int32) string { return string(rune('a' + id - 1)) }

// batchesBy counts fetched batches per broker that served them.
type batchesBy struct {
	mu sync.Mutex
	n  map[int32]int
}

func (b *batchesBy) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n[meta.NodeID]++
}

// A stretched cluster: three nodes in racks a, b and c (broker.rack), the
// replicated workload (6 partitions, RF 3, min.insync.replicas 2,
// idempotent acks=all producers), Kafka's RackAwareReplicaSelector. Each
// rack in turn loses its node to SIGKILL: every partition takes
// acknowledged writes again within progressTimeout while the rack is down,
// then the node restarts and the test waits for full ISRs before the next
// rack. At the end nothing acknowledged is lost (the workload's checks),
// and a consumer with client.rack=b reads every acknowledged record, all
// of it served by broker 2, rack b's replica.
func TestChaos_StretchedClusterLosesEachRack(t *testing.T) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("needs a replicated cluster; kfake is a single process")
	}
	t.Parallel()
	start := time.Now()
	cfg := clusterConfig(false)
	cfg.Overrides = append(slices.Clone(cfg.Overrides),
		"replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector")
	cfg.NodeOverrides = func(id int32) []string { return []string{"broker.rack=" + rackOf(id)} }
	c := fjordtest.StartCluster(t, fjordtest.BuildBinary(t), cfg)
	w := startWorkload(t, c)
	if _, stuck := w.waitProgress(time.Now()); stuck != nil {
		t.Fatalf("partitions %v take no writes before any fault", stuck)
	}
	for _, n := range c.Nodes() {
		n.Proc.Kill()
		killed := time.Now()
		took, stuck := w.waitProgress(killed)
		if stuck != nil {
			t.Fatalf("rack %s down: partitions %v took no acknowledged write for %v; the nodes' views:\n  %s",
				rackOf(n.ID), stuck, progressTimeout, w.views())
		}
		t.Logf("rack %s (node %d) killed: every partition writing again %v after", rackOf(n.ID), n.ID, took.Round(time.Millisecond))
		time.Sleep(time.Second) // writes with the rack down
		n.Proc.Restart(t)
		w.waitInSync(t, fmt.Sprintf("after rack %s restarted", rackOf(n.ID)))
		t.Logf("rack %s back, ISRs full, %v after the kill", rackOf(n.ID), time.Since(killed).Round(time.Millisecond))
	}
	w.verify(t)
	gapPart, gap := w.worstGap()
	t.Logf("%d acknowledged records; longest a partition went without an acknowledged write: %v (partition %d)",
		w.ledger.Len(), gap.Round(time.Millisecond), gapPart)

	// A consumer in rack b reads everything, from broker 2.
	served := &batchesBy{n: map[int32]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.Rack(rackOf(2)), kgo.WithHooks(served),
		kgo.ConsumeTopics(replTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, replTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	var got []fjordtest.Record
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("rack-b read: %v; still to read up to %v", ctx.Err(), remaining)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("rack-b fetch %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, fjordtest.FromKgo(r))
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	w.ledger.VerifyExactlyOnce(t, got)
	served.mu.Lock()
	by := maps.Clone(served.n)
	served.mu.Unlock()
	t.Logf("rack-b consumer: %d records, batches by broker %v; test took %v", len(got), by, time.Since(start).Round(time.Millisecond))
	for id, n := range by {
		if id != 2 && n > 0 {
			t.Errorf("broker %d (rack %s) served %d batches to a rack-b consumer; want all from broker 2: %v", id, rackOf(id), n, by)
		}
	}
}
