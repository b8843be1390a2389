package consumergroup

import (
	"testing"
)

// TestRevocation_RearmedOnEachNewRevocation: a member that revoked once
// and is then asked to revoke more (another member joined meanwhile) gets
// a fresh rebalance timeout, so it is not fenced on the first deadline.
func TestRevocation_RearmedOnEachNewRevocation(t *testing.T) {
	h := newHarness(t, Config{})
	tid := h.topics.create("t", 6)
	a := h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	o := h.heartbeat(hb{group: "g", member: "a", epoch: a.MemberEpoch, owned: parts(tid, 0, 1, 2, 3, 4, 5)})
	if o.Revocation != RevocationArm {
		t.Fatalf("first revocation: timer %v, want armed", o.Revocation)
	}
	h.ok(hb{group: "g", member: "c", subs: []string{"t"}})
	// a has not revoked yet; now it reports the revocation of the first
	// batch, and the target asks for more.
	keep := h.member("g", "a").Assigned.clone()
	o = h.heartbeat(hb{group: "g", member: "a", epoch: a.MemberEpoch, owned: keep})
	if h.member("g", "a").State != StateUnrevokedPartitions {
		t.Fatalf("a is %v after c joined, want UNREVOKED_PARTITIONS again", h.member("g", "a").State)
	}
	if o.Revocation != RevocationArm {
		t.Fatalf("second revocation: timer %v, want re-armed", o.Revocation)
	}
}

// TestHeartbeatV0_CoordinatorNamesTheMember: ConsumerGroupHeartbeat v0
// joins carry no member ID; the coordinator gives one (Java 3.7-3.9).
func TestHeartbeatV0_CoordinatorNamesTheMember(t *testing.T) {
	h := newHarness(t, Config{NewMemberID: func() string { return "server-named" }})
	h.topics.create("t", 2)
	req := hb{group: "g", subs: []string{"t"}}.req()
	req.Version = 0
	o := h.gs.Heartbeat(req, Client{ID: "java"}, h.topics, h.now)
	h.log = append(h.log, o.Records...)
	if o.Response.ErrorCode != 0 || o.Response.MemberID == nil || *o.Response.MemberID != "server-named" || o.Response.MemberEpoch != 1 {
		t.Fatalf("v0 join: %+v", o.Response)
	}
	if req.MemberID != "" {
		t.Fatal("the request was modified")
	}
	// v1 still requires the client's own ID.
	req = hb{group: "g", subs: []string{"t"}}.req()
	if o := h.gs.Heartbeat(req, Client{}, h.topics, h.now); o.Response.ErrorCode != errInvalidRequest {
		t.Fatalf("v1 join without member ID: code %d", o.Response.ErrorCode)
	}
}

// TestStaticMember_ZombieIsFenced: once a new incarnation took the
// instance ID over, the old member ID's heartbeats get FENCED_INSTANCE_ID.
func TestStaticMember_ZombieIsFenced(t *testing.T) {
	h := newHarness(t, Config{})
	h.topics.create("t", 2)
	inst := strp("i1")
	old := h.ok(hb{group: "g", member: "old", instance: inst, subs: []string{"t"}})
	h.ok(hb{group: "g", member: "old", instance: inst, epoch: staticLeaveEpoch})
	h.ok(hb{group: "g", member: "new", instance: inst, subs: []string{"t"}})
	o := h.heartbeat(hb{group: "g", member: "old", instance: inst, epoch: old.MemberEpoch})
	if o.Response.ErrorCode != errFencedInstanceID {
		t.Fatalf("zombie heartbeat: code %d, want FENCED_INSTANCE_ID", o.Response.ErrorCode)
	}
}

// TestMaxSize_CheckedBeforeAnyChange: a join refused for group size
// changes nothing and writes nothing.
func TestMaxSize_CheckedBeforeAnyChange(t *testing.T) {
	h := newHarness(t, Config{MaxSize: 1})
	h.topics.create("t", 2)
	h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	before := h.gs.Get("g").Epoch
	o := h.heartbeat(hb{group: "g", member: "b", subs: []string{"t"}})
	if o.Response.ErrorCode != errGroupMaxSizeReached || len(o.Records) != 0 {
		t.Fatalf("join over the limit: code %d, %d records", o.Response.ErrorCode, len(o.Records))
	}
	if g := h.gs.Get("g"); g.Epoch != before || len(g.Members) != 1 {
		t.Fatalf("group changed: epoch %d, %d members", g.Epoch, len(g.Members))
	}
}
