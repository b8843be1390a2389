package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kip848Config speeds the consumer protocol up for tests: members hear of
// a new assignment within 100 ms.
var kip848Config = append(append([]string{}, groupNodeConfig...), "group.consumer.heartbeat.interval.ms", "100")

func waitOwned(ctx context.Context, t *testing.T, want []int, members ...*member) {
	t.Helper()
	for {
		ok := true
		for i, m := range members {
			if m.ownedCount() != want[i] {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			var got []int
			for _, m := range members {
				got = append(got, m.ownedCount())
			}
			t.Fatalf("members own %v partitions, want %v", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pollAndCommit polls the members until want records arrived and commits
// what each consumed, with the member epoch franz-go sends (OffsetCommit
// v9).
func pollAndCommit(ctx context.Context, t *testing.T, want int, members ...*member) []*kgo.Record {
	t.Helper()
	got := pollUntil(ctx, t, want, members...)
	for _, m := range members {
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

// TestConsumerGroup_KIP848 drives franz-go's consumer group protocol
// (ServerSideBalancer): one member takes all six partitions, two more join
// and the uniform assignor spreads them 2/2/2 by revocation and release,
// every record is consumed once, the group is described by
// ConsumerGroupDescribe and listed with type "consumer", and after all
// members leave and the broker restarts a new member resumes from the
// commits.
func TestConsumerGroup_KIP848(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, kip848Config...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, "kip848"); err != nil {
		t.Fatal(err)
	}
	produceSpread(ctx, t, cl, "kip848", 0, 300)

	opts := []kgo.Opt{kgo.ServerSideBalancer()}
	m1 := newMember(t, n.Addr(), "g848", "kip848", "c1", opts...)
	first := pollAndCommit(ctx, t, 300, m1)
	waitOwned(ctx, t, []int{6}, m1)

	m2 := newMember(t, n.Addr(), "g848", "kip848", "c2", opts...)
	m3 := newMember(t, n.Addr(), "g848", "kip848", "c3", opts...)
	// m1 keeps polling (so its revocations complete) while the others join.
	pollCtx, stop := context.WithCancel(ctx)
	go func() {
		for pollCtx.Err() == nil {
			m1.cl.PollFetches(pollCtx)
		}
	}()
	waitOwned(ctx, t, []int{2, 2, 2}, m1, m2, m3)
	stop()

	described, err := adm.DescribeConsumerGroups(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	d := described["g848"]
	if d.Err != nil || d.State != "Stable" || len(d.Members) != 3 || d.AssignorName != "uniform" || d.Epoch != d.AssignmentEpoch {
		t.Fatalf("described %+v (err %v)", d, d.Err)
	}
	for _, dm := range d.Members {
		if dm.MemberEpoch != d.Epoch || len(dm.Assignment["kip848"]) != 2 || dm.ClientHost == "" {
			t.Errorf("member %+v", dm)
		}
	}
	if got := listGroupsOfType(ctx, t, cl, "consumer"); got["g848"] != "Stable" {
		t.Fatalf("consumer groups listed: %v", got)
	}

	produceSpread(ctx, t, cl, "kip848", 300, 300)
	second := pollAndCommit(ctx, t, 300, m1, m2, m3)
	seen := map[string]bool{}
	for _, r := range append(first, second...) {
		k := string(r.Key)
		if seen[k] {
			t.Fatalf("record %s consumed twice", k)
		}
		seen[k] = true
	}
	if len(seen) != 600 {
		t.Fatalf("consumed %d distinct records, want 600", len(seen))
	}

	for _, m := range []*member{m1, m2, m3} {
		m.close()
	}
	described, err = adm.DescribeConsumerGroups(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["g848"]; d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after leaving: %+v", d)
	}
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = startNode(t, dir, kip848Config...)
	cl, _ = newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produceSpread(ctx, t, cl, "kip848", 600, 60)
	m4 := newMember(t, n.Addr(), "g848", "kip848", "c4", opts...)
	third := pollUntil(ctx, t, 60, m4)
	for _, r := range third {
		if seen[string(r.Key)] {
			t.Fatalf("after restart, record %s consumed again: commits were lost", r.Key)
		}
	}
}

// TestConsumerGroupHeartbeat_Errors checks the answers clients branch on,
// with raw requests: validation, fencing, unknown members, assignors,
// regular expressions and the classic/consumer protocol boundary.
func TestConsumerGroupHeartbeat_Errors(t *testing.T) {
	n := startNode(t, t.TempDir(), kip848Config...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "hb"); err != nil {
		t.Fatal(err)
	}
	hb := func(mut func(r *kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version = 1
		r.Group, r.MemberID, r.MemberEpoch = "hbg", "member-a", 0
		r.RebalanceTimeoutMillis = 5000
		r.SubscribedTopicNames = []string{"hb"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mut(r)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	code := func(resp *kmsg.ConsumerGroupHeartbeatResponse) error { return kerr.ErrorForCode(resp.ErrorCode) }

	join := hb(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if join.ErrorCode != 0 || join.MemberEpoch != 1 || join.Assignment == nil || len(join.Assignment.Topics) != 1 || len(join.Assignment.Topics[0].Partitions) != 3 {
		t.Fatalf("join: %+v %v", join, code(join))
	}
	for _, tc := range []struct {
		name string
		mut  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		{"empty member ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest},
		{"epoch from the future", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7 }, kerr.FencedMemberEpoch},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", 1 }, kerr.UnknownMemberID},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group, r.MemberEpoch = "nogroup", 3 }, kerr.GroupIDNotFound},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.ServerAssignor = "b", kmsg.StringPtr("sticky")
		}, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.SubscribedTopicRegex = "b", kmsg.StringPtr("(")
		}, kerr.InvalidRegularExpression},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest},
	} {
		if got := code(hb(tc.mut)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// A heartbeat at the current epoch with nothing changed carries no
	// assignment; a full one does.
	keep := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberEpoch, r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.Topics = 1, -1, nil, nil
	})
	if keep.ErrorCode != 0 || keep.MemberEpoch != 1 || keep.Assignment != nil || keep.HeartbeatIntervalMillis != 100 {
		t.Fatalf("keepalive: %+v", keep)
	}

	// A regular expression picks topics up, including ones created later.
	re := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.Group, r.MemberID = "reg", "r1"
		r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, kmsg.StringPtr("rx-.*")
	})
	if re.ErrorCode != 0 || re.Assignment == nil || len(re.Assignment.Topics) != 0 {
		t.Fatalf("regex join: %+v %v", re, code(re))
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "rx-one"); err != nil {
		t.Fatal(err)
	}
	re = hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.Group, r.MemberID, r.MemberEpoch = "reg", "r1", re.MemberEpoch
		r.RebalanceTimeoutMillis, r.SubscribedTopicNames = -1, nil
	})
	if re.ErrorCode != 0 || re.Assignment == nil || len(re.Assignment.Topics) != 1 || len(re.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("regex after create: %+v %v", re, code(re))
	}

	// Classic and consumer protocols do not share a live group.
	join2 := kmsg.NewPtrJoinGroupRequest()
	join2.Group, join2.SessionTimeoutMillis, join2.RebalanceTimeoutMillis, join2.ProtocolType = "hbg", 10000, 10000, "consumer"
	join2.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	jr, err := join2.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if kerr.ErrorForCode(jr.ErrorCode) != kerr.GroupIDNotFound {
		t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	dg, err := adm.DescribeGroups(ctx, "hbg")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dg["hbg"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DescribeGroups of a consumer group: %v", dg["hbg"].Err)
	}

	// Leaving empties the group; DeleteGroups then removes it.
	leave := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -1 })
	if leave.ErrorCode != 0 || leave.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", leave)
	}
	del, err := adm.DeleteGroups(ctx, "hbg")
	if err != nil || del["hbg"].Err != nil {
		t.Fatalf("delete: %v %v", err, del["hbg"].Err)
	}
	described, err := adm.DescribeConsumerGroups(ctx, "hbg")
	if err == nil && described["hbg"].Err == nil {
		t.Fatalf("deleted group still described: %+v", described["hbg"])
	}
}

// TestConsumerGroup_Disabled: without "consumer" in
// group.coordinator.rebalance.protocols franz-go falls back to the classic
// protocol and still consumes.
func TestConsumerGroup_Disabled(t *testing.T) {
	n := startNode(t, t.TempDir(), append(append([]string{}, groupNodeConfig...), "group.coordinator.rebalance.protocols", "classic")...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "off"); err != nil {
		t.Fatal(err)
	}
	produceSpread(ctx, t, cl, "off", 0, 20)
	m := newMember(t, n.Addr(), "goff", "off", "c1", kgo.ServerSideBalancer())
	pollUntil(ctx, t, 20, m)
	if got := listGroupsOfType(ctx, t, cl, "classic"); got["goff"] == "" {
		t.Fatalf("classic groups listed: %v", got)
	}
}

// listGroupsOfType lists the groups of one type (ListGroups v5) with their
// states.
func listGroupsOfType(ctx context.Context, t *testing.T, cl *kgo.Client, typ string) map[string]string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.TypesFilter = []string{typ}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range resp.Groups {
		if g.GroupType != typ {
			t.Errorf("group %s of type %s listed for filter %s", g.Group, g.GroupType, typ)
		}
		out[g.Group] = g.GroupState
	}
	return out
}

// TestConsumerGroup_OfflineProtocolSwitch: a group's consumers are stopped
// and restarted with the other protocol (classic -> KIP-848 -> classic):
// the empty group converts each time and its committed offsets carry over,
// so each generation of consumers reads only what the previous one left.
func TestConsumerGroup_OfflineProtocolSwitch(t *testing.T) {
	n := startNode(t, t.TempDir(), kip848Config...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "switch"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for round, opts := range [][]kgo.Opt{nil, {kgo.ServerSideBalancer()}, nil} {
		produceSpread(ctx, t, cl, "switch", round*30, 30)
		m := newMember(t, n.Addr(), "gswitch", "switch", fmt.Sprintf("c%d", round), opts...)
		for _, r := range pollAndCommit(ctx, t, 30, m) {
			if seen[string(r.Key)] {
				t.Fatalf("round %d: record %s consumed again after the switch", round, r.Key)
			}
			seen[string(r.Key)] = true
		}
		m.close()
		want := "classic"
		if opts != nil {
			want = "consumer"
		}
		if got := listGroupsOfType(ctx, t, cl, want); got["gswitch"] != "Empty" {
			t.Fatalf("round %d: %s groups %v, want gswitch Empty", round, want, got)
		}
	}
}
