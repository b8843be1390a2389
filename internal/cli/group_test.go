package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startGroupConsumer joins group on topic, consumes want records and
// commits those for which keep is true (the highest kept offset+1 per
// partition). The caller closes the client, which leaves the group.
func startGroupConsumer(t *testing.T, e *testEnv, group, topic string, want int, keep func(*kgo.Record) bool) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("group-test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got, kept []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			cl.Close()
			t.Fatalf("consumed %d of %d records before the deadline", len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, r)
			if keep(r) {
				kept = append(kept, r)
			}
		})
	}
	if err := cl.CommitRecords(ctx, kept...); err != nil {
		cl.Close()
		t.Fatalf("commit: %v", err)
	}
	return cl
}

// describeGroup returns `group describe`'s JSON for one group.
func (e *testEnv) describeGroup(group string) groupDescribeJSON {
	e.t.Helper()
	var out []groupDescribeJSON
	decode(e.t, e.ok("", "group", "describe", group, "-o", "json").stdout, &out)
	if len(out) != 1 {
		e.t.Fatalf("describe gave %d groups, want 1", len(out))
	}
	return out[0]
}

// committed maps partition to committed offset (-1: none) for topic.
func committed(d groupDescribeJSON, topic string) map[int32]int64 {
	out := map[int32]int64{}
	for _, p := range d.Partitions {
		if p.Topic != topic {
			continue
		}
		out[p.Partition] = -1
		if p.CommittedOffset != nil {
			out[p.Partition] = *p.CommittedOffset
		}
	}
	return out
}

// listsGroup reports whether `group list` with args shows group.
func (e *testEnv) listsGroup(group string, args ...string) bool {
	e.t.Helper()
	var out []groupListJSON
	decode(e.t, e.ok("", append([]string{"group", "list", "-o", "json"}, args...)...).stdout, &out)
	return slices.ContainsFunc(out, func(l groupListJSON) bool { return l.Group == group })
}

func TestGroup_Lifecycle(t *testing.T) {
	e := newEnv(t, 2, "orders")
	topic, group := e.name("orders"), e.name("g")
	e.ok(strings.Repeat("x\n", 10), "produce", topic, "--partition", "0")
	e.ok(strings.Repeat("y\n", 5), "produce", topic, "--partition", "1")

	// Commit 7 of partition 0's 10 records and all 5 of partition 1's.
	cl := startGroupConsumer(t, e, group, topic, 15, func(r *kgo.Record) bool { return r.Partition == 1 || r.Offset < 7 })
	defer cl.Close()

	d := e.describeGroup(group)
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.TotalLag != 3 || len(d.Members) != 1 || len(d.Partitions) != 2 {
		t.Fatalf("describe = %+v: want Stable consumer group, 1 member, 2 partitions, total lag 3", d)
	}
	for i, want := range []struct{ committed, end, lag int64 }{{7, 10, 3}, {5, 5, 0}} {
		p := d.Partitions[i]
		if p.Partition != int32(i) || optInt64(p.CommittedOffset) != fmt.Sprint(want.committed) ||
			optInt64(p.LogEndOffset) != fmt.Sprint(want.end) || optInt64(p.Lag) != fmt.Sprint(want.lag) ||
			p.ClientID != "group-test" || p.MemberID != d.Members[0].MemberID || p.Host == "" {
			t.Errorf("partition %d = %+v: want committed %d, end %d, lag %d, consumed by the member", i, p, want.committed, want.end, want.lag)
		}
	}
	r := e.ok("", "group", "describe", group)
	mustContain(t, "describe table", r.stdout, "Group: "+group, "State:       Stable", "Coordinator: ", "Total lag:   3",
		"TOPIC", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID", "group-test")

	if !e.listsGroup(group, "--state", "stable") || e.listsGroup(group, "--state", "Empty") || !e.listsGroup(group) {
		t.Errorf("list: want the group under no filter and --state stable, not under --state Empty")
	}
	mustContain(t, "list table", e.ok("", "group", "list").stdout, "GROUP", "STATE", group, "Stable")

	// While the consumer is in the group: a dry run plans, execute and
	// delete are refused.
	var plan resetOffsetsJSON
	r = e.ok("", "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "-o", "json")
	decode(t, r.stdout, &plan)
	if plan.Executed || len(plan.Partitions) != 2 || plan.Partitions[0].NewOffset != 0 || optInt64(plan.Partitions[0].CurrentOffset) != "7" {
		t.Errorf("dry run = %+v: want p0 7 -> 0, not executed", plan)
	}
	mustContain(t, "dry run stderr", r.stderr, "Dry run", "refused")
	r = e.ok("", "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--dry-run")
	mustContain(t, "dry run table", r.stdout, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET", group)
	for _, args := range [][]string{
		{"group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute"},
		{"group", "delete", group},
	} {
		r = e.run("", args...)
		if r.code != ExitError {
			t.Fatalf("%v while active: exit %d, want %d\nstderr: %s", args, r.code, ExitError, r.stderr)
		}
		mustContain(t, "stderr", r.stderr, "NON_EMPTY_GROUP", "Hint: ")
	}
	mustContain(t, "execute refusal", e.run("", "group", "reset-offsets", group, "--all-topics", "--to-latest", "--execute").stderr,
		fmt.Sprintf("Assignments can only be reset if the group '%s' is inactive, but the current state is Stable.", group))
	if c := committed(e.describeGroup(group), topic); c[0] != 7 || c[1] != 5 {
		t.Fatalf("committed after refused resets = %v, want unchanged 0:7 1:5", c)
	}

	cl.Close() // leaves the group
	// kfake empties the group as it answers LeaveGroup; a real broker may
	// take a moment, so allow a bounded number of looks.
	for i := 0; !e.listsGroup(group, "--state", "Empty"); i++ {
		if i == 50 {
			t.Fatalf("after the consumer left, the group is not Empty")
		}
		time.Sleep(100 * time.Millisecond)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		args   []string
		p0, p1 int64
	}{
		{[]string{"--topic", topic + ":0", "--to-earliest"}, 0, 5},
		{[]string{"--topic", topic + ":0", "--shift-by", "3"}, 3, 5},
		{[]string{"--topic", topic + ":0", "--shift-by", "-100"}, 0, 5},
		{[]string{"--all-topics", "--to-offset", "100"}, 10, 5},
		{[]string{"--all-topics", "--shift-by", "-2"}, 8, 3},
		{[]string{"--topic", topic + ":0-1", "--to-datetime", "0"}, 0, 0},
		{[]string{"--topic", topic, "--to-datetime", future}, 10, 5},
		{[]string{"--topic", topic + ":1", "--to-offset", "2"}, 10, 2},
		{[]string{"--all-topics", "--to-current"}, 10, 2},
		{[]string{"--topic", topic, "--by-duration", "PT1H"}, 0, 0},
		{[]string{"--topic", topic, "--by-duration", "-PT1H"}, 10, 5},
		{[]string{"--topic", topic + ":0", "--to-offset", "4"}, 4, 5},
		{[]string{"--topic", topic, "--to-latest"}, 10, 5},
	} {
		var res resetOffsetsJSON
		decode(t, e.ok("", append([]string{"group", "reset-offsets", group, "--execute", "-o", "json"}, tt.args...)...).stdout, &res)
		if !res.Executed || res.State != "Empty" {
			t.Errorf("%v: result %+v, want executed on an Empty group", tt.args, res)
		}
		if c := committed(e.describeGroup(group), topic); c[0] != tt.p0 || c[1] != tt.p1 {
			t.Errorf("%v: committed %v, want 0:%d 1:%d", tt.args, c, tt.p0, tt.p1)
		}
	}

	r = e.ok("", "group", "delete", group)
	mustContain(t, "delete", r.stdout, fmt.Sprintf("Deleted consumer group %q.", group))
	for _, args := range [][]string{{"group", "describe", group}, {"group", "delete", group}} {
		r = e.run("", args...)
		if r.code != ExitError {
			t.Fatalf("%v after delete: exit %d, want %d", args, r.code, ExitError)
		}
		mustContain(t, "stderr", r.stderr, "GROUP_ID_NOT_FOUND", "Hint: list groups with `fjord group list`")
	}
	var ej errorJSON
	decode(t, e.run("", "group", "describe", group, "-o", "json").stderr, &ej)
	if ej.Error != "GROUP_ID_NOT_FOUND" || ej.Code != 69 {
		t.Errorf("JSON error = %+v: want GROUP_ID_NOT_FOUND (69)", ej)
	}
	// Shifting needs a commit; the group now has none.
	r = e.run("", "group", "reset-offsets", group, "--topic", topic, "--shift-by", "1")
	mustContain(t, "shift without commit", r.stderr, "no committed offset")
}

func TestGroup_UsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown verb", []string{"group", "frobnicate"}, `unknown command "frobnicate" for "fjord group"`},
		{"describe nothing", []string{"group", "describe"}, "requires at least 1 arg"},
		{"delete nothing", []string{"group", "delete"}, "requires at least 1 arg"},
		{"bad state", []string{"group", "list", "--state", "sleepy"}, "--state"},
		{"reset no scope", []string{"group", "reset-offsets", "g", "--to-earliest"}, "--topic, --all-topics"},
		{"reset two scopes", []string{"group", "reset-offsets", "g", "--topic", "t", "--all-topics", "--to-earliest"}, "--topic, --all-topics"},
		{"reset no target", []string{"group", "reset-offsets", "g", "--topic", "t"}, "--to-earliest"},
		{"reset two targets", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--shift-by", "1"}, "exactly one of"},
		{"dry run and execute", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--dry-run", "--execute"}, "--dry-run"},
		{"bad partitions", []string{"group", "reset-offsets", "g", "--topic", "t:x", "--to-latest"}, "want T:0,1,2"},
		{"bad range", []string{"group", "reset-offsets", "g", "--topic", "t:3-1", "--to-latest"}, "want T:0,1,2"},
		{"bad datetime", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"}, "--to-datetime"},
		{"negative offset", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"}, "negative"},
		{"no group", []string{"group", "reset-offsets", "--topic", "t", "--to-latest"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFjord(t, "", append([]string{"--bootstrap-server", "127.0.0.1:1"}, tt.args...)...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage)\nstderr: %s", r.code, ExitUsage, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
		})
	}
}

func TestParseTopicScope(t *testing.T) {
	tests := []struct {
		in    string
		topic string
		parts []int32
	}{
		{"orders", "orders", nil},
		{"orders:2", "orders", []int32{2}},
		{"orders:0,2,2", "orders", []int32{0, 2}},
		{"orders:1-3,0", "orders", []int32{1, 2, 3, 0}},
	}
	for _, tt := range tests {
		sc, err := parseTopicScope(tt.in)
		if err != nil || sc.topic != tt.topic || !slices.Equal(sc.partitions, tt.parts) {
			t.Errorf("parseTopicScope(%q) = %+v, %v; want %s %v", tt.in, sc, err, tt.topic, tt.parts)
		}
	}
}

// TestGroupDescription_IdleMember checks that a member with no partitions
// still shows, and that a partition without a commit has no lag.
func TestGroupDescription_IdleMember(t *testing.T) {
	busy := kadm.DescribedGroupMember{MemberID: "busy-1", ClientID: "c1", ClientHost: "/10.0.0.1"}
	idle := kadm.DescribedGroupMember{MemberID: "idle-2", ClientID: "c2", ClientHost: "/10.0.0.2"}
	l := kadm.DescribedGroupLag{
		Group: "g", State: "Stable", ProtocolType: "consumer", Protocol: "range",
		Coordinator: kadm.BrokerDetail{NodeID: 1, Host: "b1", Port: 9092},
		Members:     []kadm.DescribedGroupMember{busy, idle},
		Lag: kadm.GroupLag{"t": {0: {
			Member: &busy, Topic: "t", Partition: 0,
			Commit: kadm.Offset{Topic: "t", Partition: 0, At: -1},
			End:    kadm.ListedOffset{Topic: "t", Partition: 0, Offset: 4},
			Lag:    4,
		}}},
	}
	d, err := groupDescription(l)
	if err != nil {
		t.Fatal(err)
	}
	if p := d.Partitions[0]; p.CommittedOffset != nil || p.Lag != nil || optInt64(p.LogEndOffset) != "4" || d.TotalLag != 0 {
		t.Errorf("partition = %+v, total lag %d: want no commit, no lag, end 4", p, d.TotalLag)
	}
	var buf bytes.Buffer
	if err := printGroupDescribe(&buf, &globals{output: outputTable}, []groupDescribeJSON{d}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "table", buf.String(), "Protocol:    consumer (range)", "Coordinator: 1 (b1:9092)", "Members:     2")
	var idleRow string
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "idle-2") {
			idleRow = line
		}
	}
	if f := strings.Fields(idleRow); len(f) != 8 || f[0] != "-" || f[1] != "-" || f[5] != "idle-2" || f[7] != "c2" {
		t.Errorf("idle member row = %q: want - for topic and partition, its member and client IDs", idleRow)
	}

	// A Dead, empty group is an unknown one on brokers before DescribeGroups v6.
	if _, err := groupDescription(kadm.DescribedGroupLag{Group: "gone", State: "Dead"}); err == nil || !strings.Contains(err.Error(), "GROUP_ID_NOT_FOUND") {
		t.Errorf("dead group: err %v, want GROUP_ID_NOT_FOUND", err)
	}
}

func TestParseISODuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1H", time.Hour, true},
		{"PT1H30M", 90 * time.Minute, true},
		{"P1DT12H", 36 * time.Hour, true},
		{"P2D", 48 * time.Hour, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"pt15m", 15 * time.Minute, true},
		{"-PT10S", -10 * time.Second, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"1H", 0, false},
		{"PT1D", 0, false},
		{"P1H", 0, false},
		{"PT1.5H", 0, false},
		{"PT1HT2M", 0, false},
		{"PTH", 0, false},
		{"PT1M1H", 0, false},
		{"PT1H1H", 0, false},
		{"P1DT", 0, false},
		{"PT1D", 0, false},
		{"P99999999999999999999D", 0, false},
		{"P1DT1H1M1.5S", 24*time.Hour + time.Hour + time.Minute + 1500*time.Millisecond, true},
		{"", 0, false},
	} {
		got, err := parseISODuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
