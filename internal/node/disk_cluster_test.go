package node_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/vfs"
)

// fixedDisk reports a 100 GiB log dir used to a fixed percentage.
type fixedDisk struct{ percent int64 }

func (d fixedDisk) DiskReport() (controller.DiskReport, error) {
	const total = int64(100) << 30
	return controller.DiskReport{Dirs: []controller.LogDirUsage{{Dir: "/data", TotalBytes: total, UsedBytes: total / 100 * d.percent}}}, nil
}

// With balancer.enable, a broker whose (injected) disk usage is past
// balancer.disk.usage.threshold.percent sheds every replica onto the
// brokers below it, by reassignments the active controller starts by
// itself, at most two at a time; nothing moves onto it, and the
// replication factor stays.
func TestCluster_BalancerDiskTrigger(t *testing.T) {
	if testing.Short() {
		t.Skip("four-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ports := freePorts(t, 4)
	extra := map[string]string{"balancer.enable": "true", "balancer.interval.ms": "200",
		"balancer.max.concurrent.moves": "2", "balancer.disk.usage.threshold.percent": "80",
		"offsets.topic.num.partitions": "1"}
	usage := []int64{90, 10, 20, 30}
	nodes := make([]*node.Node, len(ports))
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			props := clusterProps(ports, i, extra)
			props["http.listeners"] = "" // three nodes in one process: no fixed metrics port
			b, _, err := config.LoadBroker(props)
			if err != nil {
				errs[i] = err
				return
			}
			n, err := node.New(node.Config{Broker: b, Props: props, Logger: testLogger(i + 1), FS: vfs.NewMem(), DiskUsage: fixedDisk{usage[i]}})
			if err == nil {
				if err = n.Start(ctx); err != nil {
					_ = n.Close()
				}
			}
			nodes[i], errs[i] = n, err
		})
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "d", -1, -1
	for i, rs := range [][]int32{{1, 2}, {1, 3}, {1, 4}, {2, 3}} {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create: error code %d", code)
	}
	onBroker1 := 3
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := adm.Metadata(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		counts := map[int32]int{}
		rf := len(md.Topics["d"].Partitions) == 4
		for _, p := range md.Topics["d"].Partitions {
			rf = rf && len(p.Replicas) == 2
			for _, id := range p.Replicas {
				counts[id]++
			}
		}
		if rf && counts[1] > onBroker1 {
			t.Fatalf("replicas moved onto broker 1, past the disk threshold: %v", counts)
		}
		if rf {
			onBroker1 = counts[1]
		}
		ongoing, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"d": {0: {}, 1: {}, 2: {}, 3: {}}})
		if err != nil {
			t.Fatal(err)
		}
		moving := 0
		ongoing.Each(func(kadm.ListPartitionReassignmentsResponse) { moving++ })
		if moving > 2 {
			t.Fatalf("%d partitions moving at once; balancer.max.concurrent.moves is 2", moving)
		}
		if counts[1] == 0 && moving == 0 && rf {
			t.Logf("broker 1 emptied: %v", counts)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 1 not emptied: counts %v, moving %d, every partition there with RF 2: %v", counts, moving, rf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
