package fjord_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterConfigs applies IncrementalAlterConfigs to one resource and fails
// the test on any error.
func alterConfigs(t *testing.T, ctx context.Context, adm *kadm.Client, broker bool, name string, ops ...kadm.AlterConfig) {
	t.Helper()
	var resp kadm.AlterConfigsResponses
	var err error
	if broker {
		var ids []int32
		if name != "" {
			var id int32
			fmt.Sscan(name, &id)
			ids = append(ids, id)
		}
		resp, err = adm.AlterBrokerConfigs(ctx, ops, ids...)
	} else {
		resp, err = adm.AlterTopicConfigs(ctx, ops, name)
	}
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%s: %w (%s)", r.Name, r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		t.Fatalf("alter configs of %q: %v", name, err)
	}
}

func set(k, v string) kadm.AlterConfig {
	return kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)}
}

func del(k string) kadm.AlterConfig { return kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k} }

// replicaFetch fetches partition 0 of topic from broker 1 at offset as
// replica (a follower's fetch when replica >= 0, a consumer's at -1) and
// returns the record bytes and high watermark answered.
func replicaFetch(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, replica int32, offset int64) (int, int64) {
	t.Helper()
	// kgo sends the newest version both sides know (v13+ names topics by
	// ID, v15+ carries the replica in ReplicaState): fill in all of them.
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = replica, 100, 1, 1<<20
	req.ReplicaState.ID, req.ReplicaState.Epoch = replica, -1
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, md.Topics[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 64<<10, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(1))
	if err == nil && resp.ErrorCode != 0 {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err == nil && (len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1) {
		err = fmt.Errorf("answer of %d topics", len(resp.Topics))
	}
	if err != nil {
		t.Fatalf("fetch as replica %d: %v", replica, err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("fetch as replica %d: %v", replica, kerr.ErrorForCode(sp.ErrorCode))
	}
	return len(sp.RecordBatches), sp.HighWatermark
}

// produceBytes produces n records of size bytes to topic and waits for them.
func produceBytes(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n, size int) {
	t.Helper()
	for range n {
		val := make([]byte, size) // random: the client compresses batches
		_, _ = rand.Read(val)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// The leader side of the replication throttle: broker 1 leads a partition
// its topic lists in leader.replication.throttled.replicas ("0:1"), and a
// follower outside the ISR (broker 2 is down; the test fetches as it)
// gets records until broker 1's leader.replication.throttled.rate is
// exceeded, then none (no error, the high watermark still answered) while
// a consumer at the same offset is served; the rate falls as the quota's
// samples age out and it is served again; deleting the rate (the dynamic
// config) serves it at once.
func TestCluster_LeaderReplicationThrottle(t *testing.T) {
	c := startCluster(t, 3, "replica.lag.time.max.ms", "1000", "replication.quota.window.num", "2") // 3 voters: one may stop
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Batches of one 10 KB record, so a 64 KB fetch is a few of them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()[0]), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RetryTimeout(30*time.Second), kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createAssigned(t, ctx, cl, "lt", 1, 2)
	alterConfigs(t, ctx, adm, false, "lt", set("min.insync.replicas", "1"), set("leader.replication.throttled.replicas", "0:1"))
	if err := c.Stop(1); err != nil { // broker 2
		t.Fatal(err)
	}
	waitFor(t, ctx, "broker 2 out of the ISR", func() (bool, string) {
		p, err := partitionState(ctx, adm, "lt")
		return err == nil && slices.Equal(p.ISR, []int32{1}), fmt.Sprintf("%+v %v", p, err)
	})
	produceBytes(t, ctx, cl, "lt", 200, 10<<10) // 2 MB
	alterConfigs(t, ctx, adm, true, "1", set("leader.replication.throttled.rate", "102400"))
	// Other broker keys stay static: refused, as Kafka refuses read-only ones.
	if resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "1000")}, 1); err != nil ||
		len(resp) != 1 || resp[0].Err == nil {
		t.Errorf("a static broker key was altered: %v %+v", err, resp)
	}

	// The rate reaches broker 1 through the metadata log; its
	// DescribeConfigs shows it as a dynamic broker config once there.
	waitFor(t, ctx, "the rate on broker 1", func() (bool, string) {
		rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
		if err != nil || len(rcs) != 1 {
			return false, fmt.Sprint(err)
		}
		for _, c := range rcs[0].Configs {
			if c.Key == "leader.replication.throttled.rate" {
				return c.MaybeValue() == "102400" && c.Source == kmsg.ConfigSourceDynamicBrokerConfig, fmt.Sprintf("%+v", c)
			}
		}
		return false, "not described"
	})

	// Fetch as broker 2 until held back. The quota is a rate over 2
	// samples of 1 s, so at 100 KB/s it is exceeded after some 100-200 KB.
	var off int64
	var copied int
	held := func() bool {
		n, hw := replicaFetch(t, ctx, cl, "lt", 2, off)
		if n == 0 && hw > off {
			return true
		}
		copied += n
		off += int64(n / (10 << 10)) // whole 10 KB records; a partial batch is fetched again
		return false
	}
	waitFor(t, ctx, "the leader to hold back the throttled follower", func() (bool, string) {
		return held(), fmt.Sprintf("%d bytes copied", copied)
	})
	t.Logf("held back after %d bytes", copied)
	if copied > 512<<10 {
		t.Errorf("copied %d bytes before being held back at 100 KB/s", copied)
	}
	if n, _ := replicaFetch(t, ctx, cl, "lt", -1, off); n == 0 {
		t.Error("a consumer was held back by the replication throttle")
	}

	// The quota's samples age out: served again, without any change.
	start := time.Now()
	waitFor(t, ctx, "the follower served again", func() (bool, string) {
		n, _ := replicaFetch(t, ctx, cl, "lt", 2, off)
		return n > 0, ""
	})
	t.Logf("served again after %v", time.Since(start).Round(time.Millisecond))

	// Held back again, then the rate deleted: served at once.
	waitFor(t, ctx, "held back again", func() (bool, string) { return held(), "" })
	alterConfigs(t, ctx, adm, true, "1", del("leader.replication.throttled.rate"))
	start = time.Now()
	waitFor(t, ctx, "the follower served without the rate", func() (bool, string) {
		n, _ := replicaFetch(t, ctx, cl, "lt", 2, off)
		return n > 0, ""
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("served %v after the rate was deleted", d)
	}
}

// logBytes sums the sizes of a partition folder's segment files.
func logBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// A reassignment that adds broker 2 to a 10 MB partition under a 1 MB/s
// throttle, once on each side: the leader's (broker 1's
// leader.replication.throttled.rate, the topic listing "0:1" in
// leader.replication.throttled.replicas) and the follower's (the
// cluster-wide follower.replication.throttled.rate, the topic listing
// "0:2" in follower.replication.throttled.replicas). The copy's rate is
// measured and stays within twice the throttle (Kafka's rate lets a
// first window's worth through at once); deleting the rate lets it finish.
func TestCluster_ReassignThrottled(t *testing.T) {
	t.Run("leader", func(t *testing.T) { reassignThrottled(t, "1", "leader.replication.throttled.rate") })
	t.Run("follower", func(t *testing.T) { reassignThrottled(t, "", "follower.replication.throttled.rate") })
}

func reassignThrottled(t *testing.T, broker, key string) {
	c := startCluster(t, 2, "replication.quota.window.num", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RetryTimeout(30*time.Second), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createAssigned(t, ctx, cl, "big", 1)
	alterConfigs(t, ctx, adm, false, "big", set("min.insync.replicas", "1"),
		set("leader.replication.throttled.replicas", "0:1"), set("follower.replication.throttled.replicas", "0:2"))
	produceBytes(t, ctx, cl, "big", 100, 100<<10) // 10 MB
	total := logBytes(filepath.Join(c.DataDirs()[0], "big-0"))
	if total < 10_000_000 {
		t.Fatalf("the partition holds %d bytes, want 10 MB", total)
	}
	const rate = 1 << 20
	alterConfigs(t, ctx, adm, true, broker, set(key, fmt.Sprint(rate)))
	time.Sleep(200 * time.Millisecond) // the config reaches the brokers' metadata

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("big", 0, []int32{1, 2})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resp["big"][0].Err != nil {
		t.Fatalf("reassign: %v %v", err, resp["big"][0].Err)
	}
	start := time.Now()
	dir := filepath.Join(c.DataDirs()[1], "big-0")
	target := total / 2
	waitFor(t, ctx, "half the partition copied", func() (bool, string) {
		n := logBytes(dir)
		return n >= target, fmt.Sprintf("%d of %d bytes", n, total)
	})
	elapsed := time.Since(start)
	copied := logBytes(dir)
	achieved := float64(copied) / elapsed.Seconds()
	t.Logf("throttled copy: %d bytes in %v, %.0f bytes/s (throttle %d)", copied, elapsed.Round(time.Millisecond), achieved, rate)
	if achieved > 2*rate {
		t.Errorf("copied at %.0f bytes/s, above twice the %d bytes/s throttle", achieved, rate)
	}
	if on, _, err := reassigning(ctx, adm, "big"); err != nil || !on {
		t.Fatalf("reassignment done before the throttle was removed: %v", err)
	}

	alterConfigs(t, ctx, adm, true, broker, del(key))
	start = time.Now()
	waitFor(t, ctx, "the reassignment to complete", func() (bool, string) {
		on, state, err := reassigning(ctx, adm, "big")
		return err == nil && !on, fmt.Sprint(state, err)
	})
	t.Logf("unthrottled: the rest copied and the reassignment done in %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, ctx, "an ISR of both", func() (bool, string) {
		p, err := partitionState(ctx, adm, "big")
		return err == nil && slices.Equal(sorted(p.ISR), []int32{1, 2}), fmt.Sprintf("%+v %v", p, err)
	})
	if got := readAll(t, ctx, c, adm, "big"); len(got) != 100 {
		t.Fatalf("read back %d of 100 records", len(got))
	}
}
