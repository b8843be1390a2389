package fjord_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/fjordstream/fjord"
)

// servedBy records which broker served each fetched batch (franz-go's
// HookFetchBatchRead names the broker the batch came from).
type servedBy struct {
	mu      sync.Mutex
	batches map[int32]int
}

func (s *servedBy) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches[meta.NodeID]++
}

// Rack-aware reads (KIP-392): three brokers in racks a, b and c with
// Kafka's RackAwareReplicaSelector. A consumer in rack-b reads every
// record of an RF=3 topic written with acks=all, once and in order, and
// every batch comes from broker 2 (rack-b), whichever broker leads: the
// other leaders answer with PreferredReadReplica 2 and no records, and
// broker 2 serves the fetches as a follower.
func TestCluster_RackAwareReads(t *testing.T) {
	opts := []fjord.Option{
		fjord.WithConfig("replica.selector.class", "org.apache.kafka.common.replica.RackAwareReplicaSelector"),
		fjord.WithConfig("min.insync.replicas", "2"),
		fjord.WithNodeConfig(func(i int) map[string]string {
			return map[string]string{"broker.rack": fmt.Sprintf("rack-%c", 'a'+i)}
		}),
	}
	if os.Getenv("FJORD_TEST_LOG") != "" {
		opts = append(opts, fjord.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	c, err := fjord.NewCluster(3, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	const topic, partitions, records = "racked", 3, 300
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	want := make([][]string, partitions) // values by partition, in offset order
	for i := range records {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil { // acks=all
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Offset != int64(len(want[r.Partition])) {
			t.Fatalf("record %d at %d/%d, want offset %d", i, r.Partition, r.Offset, len(want[r.Partition]))
		}
		want[r.Partition] = append(want[r.Partition], string(r.Value))
	}
	// Broker 2 must be in every ISR to be offered; and some partition
	// must be led elsewhere for the redirect to be exercised.
	var leaders []int32
	waitFor(t, ctx, "full ISRs", func() (bool, string) {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		leaders = leaders[:0]
		for p := range int32(partitions) {
			pd := md.Topics[topic].Partitions[p]
			if len(pd.ISR) != 3 {
				return false, fmt.Sprintf("partition %d ISR %v", p, pd.ISR)
			}
			leaders = append(leaders, pd.Leader)
		}
		return true, ""
	})
	redirected := int32(-1)
	for p, l := range leaders {
		if l != 2 {
			redirected = int32(p)
		}
	}
	if redirected < 0 {
		t.Fatalf("every partition is led by broker 2 (leaders %v): nothing to redirect", leaders)
	}

	// The protocol, raw: the leader redirects a Fetch v11 from rack-b.
	v11, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MaxVersions(kversion.V2_3_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer v11.Close()
	fetch := func(cl *kgo.Client, broker int32, p int32, offset int64, rack string) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.Rack, req.SessionEpoch = -1, 1<<20, rack, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, offset, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(broker)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch from %d: %+v", broker, resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	n := int64(len(want[redirected]))
	if sp := fetch(v11, leaders[redirected], redirected, 0, "rack-b"); sp.ErrorCode != 0 || sp.PreferredReadReplica != 2 || len(sp.RecordBatches) != 0 {
		t.Fatalf("leader %d, rack-b: error %d, preferred replica %d, %d bytes of records; want replica 2 and none",
			leaders[redirected], sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches))
	}
	if sp := fetch(v11, leaders[redirected], redirected, 0, "rack-z"); sp.ErrorCode != 0 || sp.PreferredReadReplica != -1 || len(sp.RecordBatches) == 0 {
		t.Fatalf("leader %d, rack-z: error %d, preferred replica %d, %d bytes; want records from the leader",
			leaders[redirected], sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches))
	}
	if sp := fetch(v11, 2, redirected, n+1, "rack-b"); sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("follower past its log end: error %d, want OFFSET_OUT_OF_RANGE", sp.ErrorCode)
	}
	v10, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MaxVersions(kversion.V2_2_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer v10.Close()
	if sp := fetch(v10, 2, redirected, 0, ""); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower, Fetch v10: error %d, want NOT_LEADER_OR_FOLLOWER", sp.ErrorCode)
	}

	// A franz-go consumer in rack-b.
	hook := &servedBy{batches: map[int32]int{}}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.Rack("rack-b"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := make([][]string, partitions)
	total := 0
	for total < records && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got[r.Partition])) {
				t.Fatalf("partition %d: offset %d after %d records", r.Partition, r.Offset, len(got[r.Partition]))
			}
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			total++
		})
	}
	for p := range want {
		if fmt.Sprint(got[p]) != fmt.Sprint(want[p]) {
			t.Fatalf("partition %d: read %d records %v, want %d %v", p, len(got[p]), got[p], len(want[p]), want[p])
		}
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.batches) != 1 || hook.batches[2] == 0 {
		t.Fatalf("batches by serving broker %v, want all from broker 2 (rack-b); leaders %v", hook.batches, leaders)
	}
}
