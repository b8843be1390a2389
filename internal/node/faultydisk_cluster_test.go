package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/vfs"
)

// In a cluster of three, the disk of the broker leading a partition starts
// failing its writes: that broker reports the failure (Failed), hands its
// leaderships over and leaves every ISR, another replica leads the
// partition, acks=all writes to it are acknowledged again, and every
// record acknowledged, before the failure and after, is read back.
func TestFaultyDisk_ClusterFailsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ports := freePorts(t, 3)
	var broken [3]atomic.Bool
	nodes := make([]*node.Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		fsys := vfs.Inject(vfs.NewMem(), func(op vfs.Op) error {
			if broken[i].Load() && (op.Kind == vfs.OpWrite || op.Kind == vfs.OpSync) && strings.Contains(op.Path, "/t-") {
				return vfs.ErrInjected
			}
			return nil
		})
		wg.Go(func() { nodes[i], errs[i] = startNode(ctx, clusterProps(ports, i, nil), fsys) })
	}
	wg.Wait()
	t.Cleanup(func() { abortAll(nodes) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(p[0])))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(30*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "t"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var acked []string
	produce := func(i int) {
		t.Helper()
		v := fmt.Sprintf("v-%d", i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %s: %v", v, err)
		}
		acked = append(acked, v)
	}
	for i := range 10 {
		produce(i)
	}
	partition0 := func() kadm.PartitionDetail {
		t.Helper()
		md, err := adm.Metadata(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		return md.Topics["t"].Partitions[0]
	}
	leader := partition0().Leader
	failing := nodes[leader-1]
	broken[leader-1].Store(true)
	start := time.Now()
	for i := 10; i < 30; i++ {
		produce(i) // the first one is refused by the failing leader, then retried on the new one
	}
	select {
	case <-failing.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("the broker on the failing disk did not report it")
	}
	t.Logf("failed over in %v", time.Since(start).Round(time.Millisecond))
	if p := partition0(); p.Leader == leader || slices.Contains(p.ISR, leader) {
		t.Fatalf("partition 0: leader %d, ISR %v: broker %d, whose disk failed, still in them", p.Leader, p.ISR, leader)
	}
	var healthy []string
	for i, a := range addrs {
		if int32(i+1) != leader {
			healthy = append(healthy, a)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(healthy...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for len(seen) < len(acked) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for _, v := range acked {
		if !seen[v] {
			t.Errorf("acknowledged record %s lost", v)
		}
	}
}
