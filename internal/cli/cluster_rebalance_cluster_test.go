package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterRebalance_Cluster: topics on brokers 1-3 of a four-node
// cluster; `cluster rebalance` shows a plan; --execute --throttle moves under
// a replication throttle and removes it after; --execute evens replicas and
// leaders onto broker 4 with every record still readable, a second plan is
// empty; `cluster decommission 4 --execute` empties broker 4; decommission
// is refused when the others cannot hold a partition's replicas.
func TestClusterRebalance_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-node cluster")
	}
	c := startFjordCluster(t, 4)
	bootstrap := strings.Join(c.Addrs(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	fj := func(t *testing.T, args ...string) result {
		t.Helper()
		if args[0] != "-" {
			args = append(args, "--topic", "wide,narrow")
		} else {
			args = args[1:]
		}
		return runFjord(t, "", append([]string{"-b", bootstrap, "--timeout", "20s", "cluster"}, args...)...)
	}
	ok := func(t *testing.T, args ...string) string {
		t.Helper()
		r := fj(t, args...)
		if r.code != ExitOK {
			t.Fatalf("fjord cluster %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	create := func(topic string, assignment ...[]int32) {
		createOn(t, cl, topic, assignment...)
		waitUntil(t, "broker 4 to know "+topic, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Broker(4).Request(ctx, req)
			if err != nil {
				return false, err.Error()
			}
			mt := resp.(*kmsg.MetadataResponse).Topics[0]
			return mt.ErrorCode == 0 && len(mt.Partitions) == len(assignment), fmt.Sprint(mt.ErrorCode)
		})
	}
	// per broker: replicas, preferred leaders, actual leaders.
	state := func(t *testing.T) (replicas, preferred, leaders map[int32]int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, "wide", "narrow")
		if err != nil {
			t.Fatal(err)
		}
		replicas, preferred, leaders = map[int32]int{}, map[int32]int{}, map[int32]int{}
		for _, td := range md.Topics {
			for _, pd := range td.Partitions {
				for _, id := range pd.Replicas {
					replicas[id]++
				}
				preferred[pd.Replicas[0]]++
				leaders[pd.Leader]++
			}
		}
		return replicas, preferred, leaders
	}
	even := func(m map[int32]int) bool {
		lo, hi := 1<<30, -1
		for id := int32(1); id <= 4; id++ {
			lo, hi = min(lo, m[id]), max(hi, m[id])
		}
		return hi-lo <= 1
	}

	create("wide", []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}, []int32{1, 2, 3})
	create("narrow", []int32{1, 2}, []int32{2, 3}, []int32{3, 1}, []int32{1, 3}, []int32{2, 1}, []int32{3, 2}, []int32{1, 2}, []int32{2, 3})
	// Records in every partition, to read back after the moves.
	var produced int
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	for _, topic := range []string{"wide", "narrow"} {
		for i := range 120 {
			r := &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: []byte(strings.Repeat("x", 512) + fmt.Sprint(i))}
			if topic == "narrow" {
				r.Partition = int32(i % 8)
			}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			produced++
		}
	}
	cancel()

	t.Run("dry run", func(t *testing.T) {
		before, _, _ := state(t)
		out := ok(t, "rebalance")
		mustContain(t, "rebalance", out, "Plan: ", "PARTITION", "BROKER", "This is a dry run")
		r := fj(t, "-o", "json", "rebalance")
		var res balanceJSON
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != ExitOK {
			t.Fatalf("json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		if len(res.Moves) == 0 || res.Executed {
			t.Fatalf("json plan: %+v", res)
		}
		for _, b := range res.Brokers {
			if b.Broker == 4 && (b.Before.Replicas != 0 || b.After.Replicas == 0) {
				t.Errorf("broker 4: %+v", b)
			}
		}
		if after, _, _ := state(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("dry run moved replicas: %v -> %v", before, after)
		}
	})

	t.Run("throttle", func(t *testing.T) {
		r := fj(t, "rebalance", "--execute", "--throttle", "10485760", "--progress-interval", "200ms")
		t.Logf("throttled rebalance: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		if r.code != ExitOK {
			t.Fatalf("throttled rebalance: exit %d: %s", r.code, r.stderr)
		}
		mustContain(t, "throttled rebalance", r.stdout, "Done: ")
		// The throttle is removed once the moves are done: no broker rate
		// and no topic's throttled replica list is left set.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		brokers, err := adm.DescribeBrokerConfigs(ctx, 1, 2, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range brokers {
			for _, c := range b.Configs {
				if strings.HasSuffix(c.Key, "replication.throttled.rate") && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
					t.Errorf("broker %s: %s=%v left set", b.Name, c.Key, c.MaybeValue())
				}
			}
		}
		topics, err := adm.DescribeTopicConfigs(ctx, "wide", "narrow")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range topics {
			for _, c := range tc.Configs {
				if strings.HasSuffix(c.Key, "replication.throttled.replicas") && c.MaybeValue() != "" {
					t.Errorf("topic %s: %s=%q left set", tc.Name, c.Key, c.MaybeValue())
				}
			}
		}
	})

	t.Run("execute", func(t *testing.T) {
		out := ok(t, "rebalance", "--execute", "--progress-interval", "200ms")
		t.Log(out)
		if !strings.Contains(out, "nothing to move") { // unless a throttled run did it
			mustContain(t, "rebalance --execute", out, "Started ", "partitions moved", "Done: ")
		}
		replicas, preferred, _ := state(t)
		if !even(replicas) || !even(preferred) || replicas[4] == 0 {
			t.Errorf("after rebalance: replicas %v, preferred leaders %v", replicas, preferred)
		}
		waitUntil(t, "leaders even", func() (bool, string) {
			_, _, leaders := state(t)
			return even(leaders), fmt.Sprint(leaders)
		})
		mustContain(t, "second plan", ok(t, "rebalance"), "nothing to move")
		consumeAll(t, c.Addrs(), produced)
	})

	t.Run("decommission", func(t *testing.T) {
		out := ok(t, "decommission", "4")
		mustContain(t, "decommission dry run", out, "This is a dry run")
		out = ok(t, "decommission", "4", "--execute", "--progress-interval", "200ms")
		mustContain(t, "decommission --execute", out, "Broker 4 cordoned", "Done: ")
		replicas, _, _ := state(t)
		if replicas[4] != 0 {
			t.Errorf("broker 4 still holds %d replicas: %v", replicas[4], replicas)
		}
		mustContain(t, "decommission again", ok(t, "decommission", "4"), "nothing to move")
		consumeAll(t, c.Addrs(), produced)

		// Broker 4 is cordoned: a rebalance puts nothing back on it, a new
		// topic is placed on the others; --cancel uncordons it.
		cordon := func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rcs, err := adm.DescribeBrokerConfigs(ctx, 4)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rcs.On("4", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, cf := range c.Configs {
				if cf.Key == "cordoned.log.dirs" {
					return cf.MaybeValue()
				}
			}
			t.Fatal("cordoned.log.dirs not described")
			return ""
		}
		if v := cordon(); v != "*" {
			t.Fatalf("after decommission --execute: cordoned.log.dirs=%q, want *", v)
		}
		mustContain(t, "rebalance after decommission", ok(t, "rebalance"), "Cordoned (cordoned.log.dirs; no new replicas): 4")
		var plan balanceJSON
		if err := json.Unmarshal([]byte(ok(t, "-o", "json", "rebalance")), &plan); err != nil || !slices.Equal(plan.Cordoned, []int32{4}) {
			t.Fatalf("rebalance -o json after decommission: %v %+v", err, plan)
		}
		for _, m := range plan.Moves {
			if slices.Contains(m.To, 4) {
				t.Errorf("rebalance moves %s onto cordoned broker 4: %v", m.Name(), m.To)
			}
		}
		if r := fj(t, "rebalance", "--brokers", "1,2,3,4"); r.code != ExitError || !strings.Contains(r.stderr, "broker 4 is cordoned") {
			t.Errorf("rebalance onto cordoned broker 4: exit %d: %s", r.code, r.stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := adm.CreateTopic(ctx, 8, 2, nil, "fresh"); err != nil {
			t.Fatal(err)
		}
		md, err := adm.Metadata(ctx, "fresh")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range md.Topics["fresh"].Partitions {
			if slices.Contains(p.Replicas, 4) {
				t.Errorf("new partition fresh-%d placed on cordoned broker 4: %v", p.Partition, p.Replicas)
			}
		}
		r := fj(t, "-", "decommission", "4", "--cancel")
		if r.code != ExitOK || !strings.Contains(r.stdout, "Broker 4 uncordoned") {
			t.Fatalf("decommission --cancel: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if v := cordon(); v != "" {
			t.Errorf("after --cancel: cordoned.log.dirs=%q", v)
		}
	})

	t.Run("refused", func(t *testing.T) {
		create("all4", []int32{1, 2, 3, 4})
		r := fj(t, "-", "decommission", "2")
		if r.code != ExitError {
			t.Fatalf("decommission with rf 4 on 4 brokers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		mustContain(t, "refusal", r.stderr, "all4-0 has 4 replicas but only 3 brokers would hold them")
		if r := fj(t, "-", "decommission", "2", "--throttle", "5"); r.code != ExitUsage {
			t.Errorf("--throttle without --execute: exit %d", r.code)
		}
		if r := fj(t, "-", "decommission", "9"); r.code != ExitError || !strings.Contains(r.stderr, "Unknown broker id 9") {
			t.Errorf("unknown broker: exit %d: %s", r.code, r.stderr)
		}
	})
}

// consumeAll reads wide and narrow from the start and checks that want
// records come back.
func consumeAll(t *testing.T, addrs []string, want int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("wide", "narrow"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := 0
	for got < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(*kgo.Record) { got++ })
	}
	if got != want {
		t.Errorf("read %d records back, want %d", got, want)
	}
}
