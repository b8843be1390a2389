package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFilter_Matches(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true}
	healthy := partitionJSON{Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}
	shrunk := partitionJSON{Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}
	alone := partitionJSON{Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}}
	leaderless := partitionJSON{Leader: -1, Replicas: []int32{1, 2, 3}, ISR: []int32{}, ELR: []int32{2}}
	deadLeader := partitionJSON{Leader: 4, Replicas: []int32{4, 1}, ISR: []int32{4, 1}}
	tests := []struct {
		name   string
		f      partitionFilter
		p      partitionJSON
		minISR int
		want   bool
	}{
		{"under-replicated: healthy", partitionFilter{underReplicated: true}, healthy, 2, false},
		{"under-replicated: ISR shrunk", partitionFilter{underReplicated: true}, shrunk, 2, true},
		{"under-replicated: no leader", partitionFilter{underReplicated: true}, leaderless, 2, true},
		{"under-min-isr: at min", partitionFilter{underMinISR: true}, shrunk, 2, false},
		{"under-min-isr: below min", partitionFilter{underMinISR: true}, alone, 2, true},
		{"under-min-isr: no leader", partitionFilter{underMinISR: true}, leaderless, 1, true},
		{"under-min-isr: min unknown", partitionFilter{underMinISR: true}, alone, 0, false},
		{"at-min-isr: at min", partitionFilter{atMinISR: true}, shrunk, 2, true},
		{"at-min-isr: above min", partitionFilter{atMinISR: true}, healthy, 2, false},
		{"at-min-isr: min unknown", partitionFilter{atMinISR: true}, shrunk, 0, false},
		{"unavailable: healthy", partitionFilter{unavailable: true}, healthy, 2, false},
		{"unavailable: no leader", partitionFilter{unavailable: true}, leaderless, 2, true},
		{"unavailable: leader not live", partitionFilter{unavailable: true}, deadLeader, 2, true},
		{"no filter", partitionFilter{}, leaderless, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.matches(tt.p, tt.minISR, live); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartitionFilter_ApplyAndPrint(t *testing.T) {
	topics := []topicDescribeJSON{
		{Name: "a", MinISR: 2, Partitions: []partitionJSON{
			{Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, ELR: []int32{}, LastKnownELR: []int32{}},
			{Partition: 1, Leader: -1, LeaderEpoch: 4, Replicas: []int32{1, 2, 3}, ISR: []int32{}, ELR: []int32{2, 3}, LastKnownELR: []int32{1}, OfflineReplicas: []int32{1}},
		}},
		{Name: "b", MinISR: 2, Partitions: []partitionJSON{{Partition: 0, Leader: 2, Replicas: []int32{2}, ISR: []int32{2}}}},
		{Name: "gone", Error: "UNKNOWN_TOPIC_OR_PARTITION"},
	}
	out := partitionFilter{underMinISR: true}.apply(topics, map[int32]bool{1: true, 2: true})
	if len(out) != 2 || out[0].Name != "a" || len(out[0].Partitions) != 1 || out[0].Partitions[0].Partition != 1 || out[1].Name != "b" {
		t.Fatalf("under-min-isr kept %+v: want a-1 and b-0", out)
	}
	var b bytes.Buffer
	if err := printFilteredPartitions(&b, &globals{output: outputTable}, out, true); err != nil {
		t.Fatal(err)
	}
	want := `TOPIC  PARTITION  LEADER  EPOCH  REPLICAS  ISR  ELR  LAST-KNOWN-ELR  OFFLINE
a      1          none    4      1,2,3     -    2,3  1               1
b      0          2       0      2         2    -    -               -
`
	mustEqual(t, "filtered table", want, b.String())

	b.Reset()
	if err := printFilteredPartitions(&b, &globals{output: outputTable}, partitionFilter{unavailable: true}.apply(topics[1:2], map[int32]bool{2: true}), false); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Errorf("nothing matches, yet printed:\n%s", b.String())
	}
}

func TestTopicDescribe_ELRFromDescribeTopicPartitions(t *testing.T) {
	f := newFakeCluster(t, 1, kfake.SeedTopics(2, "elr"))
	// kfake serves DescribeTopicPartitions with empty ELRs: the columns
	// show, with "-".
	r := f.ok("topic", "describe", "elr")
	mustContain(t, "describe", r.stdout, "PARTITION  LEADER  EPOCH  REPLICAS  ISR  ELR  LAST-KNOWN-ELR  OFFLINE")
	if strings.Contains(r.stdout, "ELR not shown") {
		t.Errorf("ELR note printed although the broker serves key 75:\n%s", r.stdout)
	}

	// What the broker reports is what prints.
	f.answer(describeTopicPartitionsKey, func(req kmsg.Request) kmsg.Response {
		resp := req.(*kmsg.DescribeTopicPartitionsRequest).ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic = new("elr")
		for p := range int32(2) {
			rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			rp.Partition = p
			if p == 1 {
				rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{5, 6}, []int32{7}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		return resp
	})
	var d []topicDescribeJSON
	decode(t, f.ok("topic", "describe", "elr", "-o", "json").stdout, &d)
	if len(d) != 1 || len(d[0].Partitions) != 2 {
		t.Fatalf("describe JSON = %+v", d)
	}
	mustEqual(t, "partition 0 ELR", []int32{}, d[0].Partitions[0].ELR)
	mustEqual(t, "partition 1 ELR", []int32{5, 6}, d[0].Partitions[1].ELR)
	mustEqual(t, "partition 1 last known ELR", []int32{7}, d[0].Partitions[1].LastKnownELR)
	req := f.seen(describeTopicPartitionsKey)[0].(*kmsg.DescribeTopicPartitionsRequest)
	if len(req.Topics) != 1 || req.Topics[0].Topic != "elr" {
		t.Errorf("DescribeTopicPartitions asked for %+v", req.Topics)
	}
	r = f.ok("topic", "describe", "elr")
	mustContain(t, "describe", r.stdout, "5,6  7")
}

func TestTopicDescribe_WithoutDescribeTopicPartitions(t *testing.T) {
	f := newFakeCluster(t, 1, kfake.SeedTopics(1, "old"), kfakeWithout(describeTopicPartitionsKey))
	r := f.ok("topic", "describe", "old")
	mustContain(t, "describe", r.stdout, "PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE",
		"(ELR not shown: the broker does not serve DescribeTopicPartitions (API key 75), and Metadata does not carry it.)")
	if strings.Contains(r.stdout, "LAST-KNOWN-ELR") {
		t.Errorf("ELR columns without DescribeTopicPartitions:\n%s", r.stdout)
	}
	if out := f.ok("topic", "describe", "old", "-o", "json").stdout; strings.Contains(out, `"elr"`) {
		t.Errorf("JSON has an elr field without DescribeTopicPartitions:\n%s", out)
	}
}

func TestTopicDescribe_Filters(t *testing.T) {
	f := newFakeCluster(t, 1, kfake.SeedTopics(2, "healthy"))
	// One replica, but two must be in sync: under min ISR.
	f.ok("topic", "create", "strict", "-p", "1", "-r", "1", "--config", "min.insync.replicas=2")
	// Nothing is under-replicated or unavailable: those filters print
	// nothing, as kafka-topics.sh.
	for _, flag := range []string{"--under-replicated-partitions", "--unavailable-partitions"} {
		if r := f.ok("topic", "describe", flag); r.stdout != "" {
			t.Errorf("%s on a healthy cluster printed:\n%s", flag, r.stdout)
		}
	}
	r := f.ok("topic", "describe", "--under-min-isr-partitions")
	mustEqual(t, "--under-min-isr-partitions", "TOPIC   PARTITION  LEADER  EPOCH  REPLICAS  ISR  ELR  LAST-KNOWN-ELR  OFFLINE\nstrict  0          0       0      0         0    -    -               -\n", r.stdout)
	// kfake's default min.insync.replicas is 1: "healthy" is at min ISR.
	var d []topicDescribeJSON
	decode(t, f.ok("topic", "describe", "--at-min-isr-partitions", "-o", "json").stdout, &d)
	if len(d) != 1 || d[0].Name != "healthy" || d[0].MinISR != 1 || len(d[0].Partitions) != 2 {
		t.Errorf("JSON = %+v: want healthy's 2 partitions, min ISR 1", d)
	}
	if r := f.run("topic", "describe", "--under-replicated-partitions", "--unavailable-partitions"); r.code != ExitUsage {
		t.Errorf("two filters: exit %d, want usage", r.code)
	}
	// Named topics limit the filter.
	if r := f.ok("topic", "describe", "healthy", "--under-min-isr-partitions"); r.stdout != "" {
		t.Errorf("healthy is not under min ISR, yet:\n%s", r.stdout)
	}
}
