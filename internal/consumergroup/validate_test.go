package consumergroup

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHeartbeat_Invalid: requests refused before anything changes.
func TestHeartbeat_Invalid(t *testing.T) {
	h := newHarness(t, Config{MaxSize: 2})
	h.topics.create("t", 2)
	h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	before := len(h.log)
	for _, c := range []struct {
		name string
		b    hb
		mut  func(*kmsg.ConsumerGroupHeartbeatRequest)
		want int16
	}{
		{"empty group ID", hb{member: "x", subs: []string{"t"}}, nil, errInvalidRequest},
		{"empty member ID", hb{group: "g", subs: []string{"t"}}, nil, errInvalidRequest},
		{"empty instance ID", hb{group: "g", member: "x", instance: strp(""), subs: []string{"t"}}, nil, errInvalidRequest},
		{"empty rack", hb{group: "g", member: "x", subs: []string{"t"}}, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RackID = strp("") }, errInvalidRequest},
		{"epoch below -2", hb{group: "g", member: "a", epoch: -3}, nil, errInvalidRequest},
		{"static leave without instance ID", hb{group: "g", member: "a", epoch: staticLeaveEpoch}, nil, errInvalidRequest},
		{"join without rebalance timeout", hb{group: "g", member: "x", subs: []string{"t"}}, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, errInvalidRequest},
		{"join owning partitions", hb{group: "g", member: "x", subs: []string{"t"}, owned: parts(h.topics.id("t"), 0)}, nil, errInvalidRequest},
		{"join without subscription", hb{group: "g", member: "x"}, nil, errInvalidRequest},
		{"unsupported assignor", hb{group: "g", member: "x", subs: []string{"t"}}, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = strp("sticky") }, errUnsupportedAssignor},
		{"bad regular expression", hb{group: "g", member: "x", regex: strp("(")}, nil, errInvalidRegularExpression},
		{"unknown group", hb{group: "nope", member: "a", epoch: 1}, nil, errGroupIDNotFound},
		{"unknown member", hb{group: "g", member: "x", epoch: 1}, nil, errUnknownMemberID},
		{"group full", hb{group: "g", member: "c", subs: []string{"t"}}, nil, errGroupMaxSizeReached},
	} {
		r := c.b.req()
		if c.mut != nil {
			c.mut(r)
		}
		o := h.gs.Heartbeat(r, Client{ID: "c"}, h.topics, h.now)
		if o.Response.ErrorCode != c.want || o.Response.ErrorMessage == nil || len(o.Records) != 0 || o.Member != "" || o.Created {
			t.Errorf("%s: error %d (want %d), %d records, %+v", c.name, o.Response.ErrorCode, c.want, len(o.Records), o)
		}
		if o.Response.Version != 1 {
			t.Errorf("%s: response version %d", c.name, o.Response.Version)
		}
	}
	if g := h.gs.Get("g"); len(g.Members) != 2 || g.Epoch != 2 || h.gs.Get("nope") != nil || len(h.log) != before {
		t.Fatalf("refused requests changed the group: %d members, epoch %d", len(g.Members), g.Epoch)
	}
}

// TestHeartbeat_TopicsChange: a topic created after the subscription, or
// partitions added, bump the group epoch on the next heartbeat and the new
// partitions are assigned.
func TestHeartbeat_TopicsChange(t *testing.T) {
	h := newHarness(t, Config{})
	tid := h.topics.create("t", 2)
	resp := h.ok(hb{group: "g", member: "a", subs: []string{"t", "later"}})
	if !assignment(resp).equal(parts(tid, 0, 1)) || resp.MemberEpoch != 1 {
		t.Fatalf("join: %v at %d", assignment(resp), resp.MemberEpoch)
	}
	if o := h.heartbeat(hb{group: "g", member: "a", epoch: 1}); o.Response.Assignment != nil || len(o.Records) != 0 {
		t.Fatalf("nothing changed but: %+v, %d records", o.Response, len(o.Records))
	}

	lid := h.topics.create("later", 3)
	resp = h.ok(hb{group: "g", member: "a", epoch: 1})
	if resp.MemberEpoch != 2 || !assignment(resp).equal(union(parts(tid, 0, 1), parts(lid, 0, 1, 2))) {
		t.Fatalf("after create: %v at %d", assignment(resp), resp.MemberEpoch)
	}
	h.topics.grow("t", 4)
	resp = h.ok(hb{group: "g", member: "a", epoch: 2})
	if resp.MemberEpoch != 3 || !assignment(resp).equal(union(parts(tid, 0, 1, 2, 3), parts(lid, 0, 1, 2))) {
		t.Fatalf("after growing: %v at %d", assignment(resp), resp.MemberEpoch)
	}
	// A deleted topic's partitions are revoked.
	h.topics.remove("later")
	resp = h.ok(hb{group: "g", member: "a", epoch: 3})
	if resp.MemberEpoch != 3 || !assignment(resp).equal(parts(tid, 0, 1, 2, 3)) {
		t.Fatalf("after delete: %v at %d", assignment(resp), resp.MemberEpoch)
	}
	resp = h.ok(hb{group: "g", member: "a", epoch: 3, owned: parts(tid, 0, 1, 2, 3)})
	if resp.MemberEpoch != 4 || h.gs.Get("g").State() != GroupStable {
		t.Fatalf("after revoking the deleted topic: epoch %d, %s", resp.MemberEpoch, h.gs.Get("g").State())
	}
}

// TestHeartbeat_Regex: a regular expression matches whole topic names,
// picks up topics created later, and can be replaced by names.
func TestHeartbeat_Regex(t *testing.T) {
	h := newHarness(t, Config{})
	r1 := h.topics.create("rx-1", 2)
	h.topics.create("other", 2)
	h.topics.create("rx-1-not", 1) // "rx-\d" must match the whole name
	resp := h.ok(hb{group: "g", member: "a", regex: strp(`rx-\d`)})
	if !assignment(resp).equal(parts(r1, 0, 1)) {
		t.Fatalf("join: %v", assignment(resp))
	}
	if m := h.member("g", "a"); m.SubscribedTopicRegex == nil || *m.SubscribedTopicRegex != `rx-\d` || len(m.SubscribedTopicNames) != 0 {
		t.Fatalf("member subscription: %v %v", m.SubscribedTopicNames, m.SubscribedTopicRegex)
	}
	r2 := h.topics.create("rx-2", 1)
	resp = h.ok(hb{group: "g", member: "a", epoch: 1})
	if resp.MemberEpoch != 2 || !assignment(resp).equal(union(parts(r1, 0, 1), parts(r2, 0))) {
		t.Fatalf("after rx-2: %v at %d", assignment(resp), resp.MemberEpoch)
	}
	// A second member by name shares rx-1 only.
	resp = h.ok(hb{group: "g", member: "b", subs: []string{"rx-1"}})
	if resp.MemberEpoch != 3 {
		t.Fatalf("b at %d", resp.MemberEpoch)
	}
	// The empty regex drops it; names replace it.
	resp = h.ok(hb{group: "g", member: "a", epoch: 2, regex: strp(""), subs: []string{"other"}, owned: union(parts(r1, 0, 1), parts(r2, 0))})
	m := h.member("g", "a")
	if m.SubscribedTopicRegex != nil || m.regex != nil || !slices.Equal(m.SubscribedTopicNames, []string{"other"}) || h.gs.Get("g").Epoch != 4 {
		t.Fatalf("after switching to names: %v %v, epoch %d", m.SubscribedTopicNames, m.SubscribedTopicRegex, h.gs.Get("g").Epoch)
	}
}

// commitFixture: member "a" of group "g" at epoch 2 holds t-0 and t-1
// (assigned at epoch 1) and u-0 (assigned at epoch 2); group "e" is
// empty.
func commitFixture(t *testing.T) *harness {
	h := newHarness(t, Config{})
	h.topics.create("t", 2)
	h.ok(hb{group: "g", member: "a", subs: []string{"t", "u"}})
	h.topics.create("u", 1)
	if resp := h.ok(hb{group: "g", member: "a", epoch: 1}); resp.MemberEpoch != 2 {
		t.Fatalf("a at %d", resp.MemberEpoch)
	}
	h.ok(hb{group: "e", member: "x", subs: []string{"t"}})
	h.ok(hb{group: "e", member: "x", epoch: leaveEpoch})
	return h
}

// TestValidateCommit: OffsetCommit v9+ from members, with KIP-1251's
// assignment epochs.
func TestValidateCommit(t *testing.T) {
	h := commitFixture(t)
	t0, t1, u0 := NamedPartition{"t", 0}, NamedPartition{"t", 1}, NamedPartition{"u", 0}
	for _, c := range []struct {
		name      string
		group     string
		member    string
		epoch     int32
		version   int16
		committed []NamedPartition
		want      int16
	}{
		{"current epoch", "g", "a", 2, 9, []NamedPartition{t0, u0}, errNone},
		{"older epoch, partitions assigned before it", "g", "a", 1, 9, []NamedPartition{t0, t1}, errNone},
		{"older epoch, a partition assigned after it", "g", "a", 1, 9, []NamedPartition{t0, u0}, errStaleMemberEpoch},
		{"older epoch, a partition not assigned", "g", "a", 1, 9, []NamedPartition{{"t", 7}}, errStaleMemberEpoch},
		{"older epoch, unknown topic", "g", "a", 1, 9, []NamedPartition{{"nope", 0}}, errStaleMemberEpoch},
		{"newer epoch", "g", "a", 3, 9, []NamedPartition{t0}, errStaleMemberEpoch},
		{"unknown member", "g", "z", 2, 9, []NamedPartition{t0}, errUnknownMemberID},
		{"OffsetCommit v8 from a member", "g", "a", 2, 8, []NamedPartition{t0}, errUnsupportedVersion},
		{"no member, live group", "g", "", -1, 9, []NamedPartition{t0}, errUnknownMemberID},
		{"no member, empty group", "e", "", -1, 9, []NamedPartition{t0}, errNone},
		{"no member, empty group, old version", "e", "", -1, 2, []NamedPartition{t0}, errNone},
		{"former member, negative epoch, empty group", "e", "x", -1, 9, []NamedPartition{t0}, errNone},
		{"former member, current epoch, empty group", "e", "x", 1, 9, []NamedPartition{t0}, errUnknownMemberID},
		{"group not a consumer group", "classic", "m", 5, 9, []NamedPartition{t0}, errNone},
	} {
		if got := h.gs.ValidateCommit(c.group, c.member, c.epoch, c.version, h.topics, c.committed); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestValidateCommit_RevokingPartition: a member revoking a partition may
// still commit it at an older epoch it held it at, also after a replay.
func TestValidateCommit_RevokingPartition(t *testing.T) {
	h, _ := twoMembers(t)
	h.topics.grow("t", 6) // epoch 3
	h.heartbeat(hb{group: "g", member: "a", epoch: 1})
	a := h.member("g", "a")
	if a.State != StateUnrevokedPartitions {
		t.Fatalf("a: %v", a.State)
	}
	tp := a.PendingRevocation.sortedTopics()[0]
	pending := NamedPartition{"t", a.PendingRevocation[tp][0]}
	for _, gs := range []*Groups{h.gs, replay(t, h.gs.Config(), h.log)} {
		if got := gs.ValidateCommit("g", "a", 1, 9, h.topics, []NamedPartition{pending}); got != errNone {
			t.Errorf("commit of a partition being revoked: %d", got)
		}
		if got := gs.ValidateCommit("g", "a", 0, 9, h.topics, []NamedPartition{pending}); got != errStaleMemberEpoch {
			t.Errorf("commit older than the partition: %d", got)
		}
	}
}

// TestValidateFetch: OffsetFetch v9+ checks the member epoch exactly.
func TestValidateFetch(t *testing.T) {
	h := commitFixture(t)
	for _, c := range []struct {
		name   string
		group  string
		member *string
		epoch  int32
		want   int16
	}{
		{"no member (admin, old versions)", "g", nil, -1, errNone},
		{"current epoch", "g", strp("a"), 2, errNone},
		{"older epoch", "g", strp("a"), 1, errStaleMemberEpoch},
		{"newer epoch", "g", strp("a"), 3, errStaleMemberEpoch},
		{"member without epoch", "g", strp("a"), -1, errStaleMemberEpoch},
		{"epoch without member", "g", nil, 2, errUnknownMemberID},
		{"unknown member", "g", strp("z"), 2, errUnknownMemberID},
		{"empty member ID", "g", strp(""), 2, errUnknownMemberID},
		{"unknown group", "nope", strp("a"), 2, errNone},
		{"former member of an empty group", "e", strp("x"), 1, errUnknownMemberID},
	} {
		if got := h.gs.ValidateFetch(c.group, c.member, c.epoch); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestDescribe: ConsumerGroupDescribe of a group mid-rebalance.
func TestDescribe(t *testing.T) {
	h, tid := twoMembers(t)
	h.heartbeat(hb{group: "g", member: "a", epoch: 1}) // a revoking
	d, ok := h.gs.Describe("g", h.topics)
	if !ok || d.Group != "g" || d.ErrorCode != 0 || d.State != "Reconciling" || d.Epoch != 2 || d.AssignmentEpoch != 2 || d.AssignorName != "uniform" || d.AuthorizedOperations != -2147483648 {
		t.Fatalf("described %+v", d)
	}
	if len(d.Members) != 2 || d.Members[0].MemberID != "a" || d.Members[1].MemberID != "b" {
		t.Fatalf("members %+v", d.Members)
	}
	g := h.gs.Get("g")
	for _, dm := range d.Members {
		m := g.Members[dm.MemberID]
		if dm.MemberEpoch != m.Epoch || dm.ClientID != "client-"+m.ID || dm.ClientHost != "/10.0.0.1" || dm.MemberType != 1 ||
			!slices.Equal(dm.SubscribedTopics, []string{"t"}) || dm.SubscribedTopicRegex != nil || dm.InstanceID != nil {
			t.Errorf("member %+v", dm)
		}
		for _, c := range []struct {
			got  kmsg.Assignment
			want Partitions
		}{{dm.Assignment, m.Assigned}, {dm.TargetAssignment, g.Target[m.ID]}} {
			p := Partitions{}
			for _, tp := range c.got.TopicPartitions {
				if tp.Topic != "t" || tp.TopicID != tid {
					t.Errorf("%s: topic %q %x", m.ID, tp.Topic, tp.TopicID)
				}
				p.add(tp.TopicID, tp.Partitions...)
			}
			if !p.equal(c.want) {
				t.Errorf("%s: described %v, want %v", m.ID, p, c.want)
			}
		}
	}
	if dm := d.Members[0]; len(dm.Assignment.TopicPartitions[0].Partitions) != 2 || len(dm.TargetAssignment.TopicPartitions[0].Partitions) != 2 {
		t.Errorf("a: %+v", dm)
	}
	// A deleted topic is left out; an unknown group is not described.
	h.topics.remove("t")
	if d, _ := h.gs.Describe("g", h.topics); len(d.Members[0].Assignment.TopicPartitions) != 0 {
		t.Errorf("deleted topic described: %+v", d.Members[0].Assignment)
	}
	if d, ok := h.gs.Describe("nope", h.topics); ok || d.Group != "nope" {
		t.Errorf("unknown group described: %+v", d)
	}
}

// TestGroupState follows a group through Kafka's states.
func TestGroupState(t *testing.T) {
	h := newHarness(t, Config{})
	h.topics.create("t", 4)
	state := func() GroupState { return h.gs.Get("g").State() }
	steps := []struct {
		name string
		do   func()
		want GroupState
	}{
		{"first member", func() { h.ok(hb{group: "g", member: "a", subs: []string{"t"}}) }, GroupStable},
		{"second member", func() { h.ok(hb{group: "g", member: "b", subs: []string{"t"}}) }, GroupReconciling},
		{"a revokes", func() { h.ok(hb{group: "g", member: "a", epoch: 1}) }, GroupReconciling},
		{"a revoked", func() {
			h.ok(hb{group: "g", member: "a", epoch: 1, owned: h.member("g", "a").Assigned})
		}, GroupReconciling},
		{"b takes them", func() { h.ok(hb{group: "g", member: "b", epoch: 2}) }, GroupStable},
		{"b leaves", func() { h.ok(hb{group: "g", member: "b", epoch: leaveEpoch}) }, GroupAssigning},
		{"a heartbeats", func() { h.ok(hb{group: "g", member: "a", epoch: 2}) }, GroupStable},
		{"a leaves", func() { h.ok(hb{group: "g", member: "a", epoch: leaveEpoch}) }, GroupEmpty},
		{"c joins the empty group", func() { h.ok(hb{group: "g", member: "c", subs: []string{"t"}}) }, GroupStable},
	}
	for _, s := range steps {
		s.do()
		if got := state(); got != s.want {
			t.Fatalf("after %s: %s, want %s", s.name, got, s.want)
		}
	}
}

// TestDelete: a deleted group is gone, and its tombstones delete it from
// a replayed partition too.
func TestDelete(t *testing.T) {
	h, _, _, _ := stableTwo(t)
	h.ok(hb{group: "g", member: "a", epoch: leaveEpoch})
	if recs := h.delete("g"); len(recs) != 3+2 || h.gs.Get("g") != nil || len(h.gs.IDs()) != 0 {
		t.Fatalf("delete: %d records, groups %v", len(recs), h.gs.IDs())
	}
	for _, r := range h.log[len(h.log)-5:] {
		if r.Value != nil {
			t.Fatalf("delete wrote a value for key %x", r.Key)
		}
	}
	if recs := h.delete("g"); recs != nil {
		t.Fatalf("deleting twice: %d records", len(recs))
	}
	// The ID can be used again.
	if resp := h.ok(hb{group: "g", member: "a", subs: []string{"t"}}); resp.MemberEpoch != 1 {
		t.Fatalf("recreated group at epoch %d", resp.MemberEpoch)
	}
}

// TestMembersAndIDs lists members for the session timers after a load.
func TestMembersAndIDs(t *testing.T) {
	h := newHarness(t, Config{SessionTimeout: 10, HeartbeatInterval: 1})
	h.topics.create("t", 1)
	for _, m := range [][2]string{{"g2", "b"}, {"g1", "z"}, {"g1", "a"}} {
		h.ok(hb{group: m[0], member: m[1], subs: []string{"t"}})
	}
	if got := h.gs.IDs(); !slices.Equal(got, []string{"g1", "g2"}) {
		t.Fatalf("IDs %v", got)
	}
	if got := replay(t, h.gs.Config(), h.log).Members(); !slices.Equal(got, [][2]string{{"g1", "a"}, {"g1", "z"}, {"g2", "b"}}) {
		t.Fatalf("Members %v", got)
	}
	if cfg := h.gs.Config(); cfg.SessionTimeout != 10 || cfg.HeartbeatInterval != 1 || len(cfg.Assignors) == 0 {
		t.Fatalf("config %+v", cfg)
	}
}

// TestAssignorChoice: the assignor most members name is used; the
// configured default otherwise.
func TestAssignorChoice(t *testing.T) {
	h := newHarness(t, Config{Assignors: []string{"uniform", "range"}})
	h.topics.create("t", 2)
	h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	if g := h.gs.Get("g"); g.Assignor != "uniform" {
		t.Fatalf("default: %s", g.Assignor)
	}
	r := hb{group: "g", member: "b", subs: []string{"t"}}.req()
	r.ServerAssignor = strp("range")
	if o := h.gs.Heartbeat(r, Client{}, h.topics, h.now); o.Response.ErrorCode != 0 {
		t.Fatalf("join with range: %d", o.Response.ErrorCode)
	} else {
		h.log = append(h.log, o.Records...)
	}
	if d, _ := h.gs.Describe("g", h.topics); d.AssignorName != "range" {
		t.Fatalf("chosen: %s", d.AssignorName)
	}
	if m := h.member("g", "b"); m.ServerAssignor == nil || *m.ServerAssignor != "range" {
		t.Fatalf("b's assignor %v", m.ServerAssignor)
	}
}

func TestMemberState_String(t *testing.T) {
	for s, want := range map[MemberState]string{
		StateStable: "STABLE", StateUnrevokedPartitions: "UNREVOKED_PARTITIONS",
		StateUnreleasedPartitions: "UNRELEASED_PARTITIONS", 9: "UNKNOWN",
	} {
		if s.String() != want {
			t.Errorf("%d: %s, want %s", s, s.String(), want)
		}
	}
}
