package consumergroup

import (
	"testing"
)

// twoMembers: "a" joined a group on topic t (4 partitions) alone and owns
// all of it at epoch 1; then "b" joined (group epoch 2).
func twoMembers(t *testing.T) (*harness, TopicID) {
	h := newHarness(t, Config{})
	tid := h.topics.create("t", 4)
	resp := h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	if resp.MemberEpoch != 1 || !assignment(resp).equal(parts(tid, 0, 1, 2, 3)) {
		t.Fatalf("first join: epoch %d, assignment %v", resp.MemberEpoch, assignment(resp))
	}
	if s := h.gs.Get("g").State(); s != GroupStable {
		t.Fatalf("after the first join: %s", s)
	}
	resp = h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	// b is at the new epoch but gets nothing a still holds.
	if resp.MemberEpoch != 2 || resp.Assignment == nil || len(assignment(resp)) != 0 {
		t.Fatalf("second join: epoch %d, assignment %v", resp.MemberEpoch, assignment(resp))
	}
	if m := h.member("g", "b"); m.State != StateUnreleasedPartitions {
		t.Fatalf("b: %v", m.State)
	}
	if g := h.gs.Get("g"); g.Epoch != 2 || g.AssignmentEpoch != 2 || g.State() != GroupReconciling {
		t.Fatalf("group epoch %d, assignment epoch %d, %s", g.Epoch, g.AssignmentEpoch, g.State())
	}
	return h, tid
}

// stableTwo: twoMembers reconciled; a owns kept, b owns moved.
func stableTwo(t *testing.T) (h *harness, tid TopicID, kept, moved Partitions) {
	h, tid = twoMembers(t)
	o := h.heartbeat(hb{group: "g", member: "a", epoch: 1})
	kept = assignment(o.Response)
	moved = h.gs.Get("g").Target["b"]
	h.ok(hb{group: "g", member: "a", epoch: 1, owned: kept})
	h.ok(hb{group: "g", member: "b", epoch: 2})
	return h, tid, kept, moved
}

// TestHeartbeat_RevokeThenRelease walks KIP-848's reconciliation: the
// first member revokes at its old epoch, moves to the new one once it
// stops reporting the revoked partitions, and only then does the second
// member get them.
func TestHeartbeat_RevokeThenRelease(t *testing.T) {
	h, tid := twoMembers(t)
	all := parts(tid, 0, 1, 2, 3)

	// a's next heartbeat (a keepalive) tells it to revoke half.
	o := h.heartbeat(hb{group: "g", member: "a", epoch: 1})
	kept := assignment(o.Response)
	a := h.member("g", "a")
	if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != 1 || kept.count() != 2 || !subset(kept, all) {
		t.Fatalf("a told %v at epoch %d", kept, o.Response.MemberEpoch)
	}
	if a.State != StateUnrevokedPartitions || !a.Assigned.equal(kept) || a.PendingRevocation.count() != 2 {
		t.Fatalf("a: %v assigned %v pending %v", a.State, a.Assigned, a.PendingRevocation)
	}
	if o.Revocation != RevocationArm || o.RevocationTimeout.Milliseconds() != 30000 || o.Member != "a" {
		t.Fatalf("a's revocation timer: %+v", o)
	}
	revoked := a.PendingRevocation.clone()

	// b cannot have them while a reports owning them.
	if resp := h.ok(hb{group: "g", member: "b", epoch: 2}); resp.Assignment != nil {
		t.Fatalf("b given %v while a still owns it", assignment(resp))
	}
	o = h.heartbeat(hb{group: "g", member: "a", epoch: 1, owned: all})
	if o.Response.MemberEpoch != 1 || o.Response.Assignment != nil || o.Revocation != RevocationKeep || h.member("g", "a").State != StateUnrevokedPartitions {
		t.Fatalf("a still owning: %+v", o)
	}

	// a lets go: epoch 2, stable; the timer is cancelled.
	o = h.heartbeat(hb{group: "g", member: "a", epoch: 1, owned: kept})
	if o.Response.MemberEpoch != 2 || o.Revocation != RevocationCancel || h.member("g", "a").State != StateStable {
		t.Fatalf("a after revoking: epoch %d, %v, %v", o.Response.MemberEpoch, o.Revocation, h.member("g", "a").State)
	}
	if o.Response.Assignment != nil {
		t.Fatalf("a's assignment did not change but was sent: %v", assignment(o.Response))
	}
	// b gets them now.
	resp := h.ok(hb{group: "g", member: "b", epoch: 2})
	if !assignment(resp).equal(revoked) || h.member("g", "b").State != StateStable {
		t.Fatalf("b given %v (%v), want %v", assignment(resp), h.member("g", "b").State, revoked)
	}
	if s := h.gs.Get("g").State(); s != GroupStable {
		t.Fatalf("group %s", s)
	}

	// Keepalives carry no assignment and write nothing.
	for _, m := range []string{"a", "b"} {
		o := h.heartbeat(hb{group: "g", member: m, epoch: 2})
		if o.Response.Assignment != nil || len(o.Records) != 0 || o.Response.MemberEpoch != 2 || o.Response.HeartbeatIntervalMillis != 5000 {
			t.Fatalf("keepalive of %s: %+v, %d records", m, o.Response, len(o.Records))
		}
	}
	// A full heartbeat carries the whole assignment.
	resp = h.ok(hb{group: "g", member: "b", epoch: 2, subs: []string{"t"}, owned: revoked, full: true})
	if !assignment(resp).equal(revoked) {
		t.Fatalf("full heartbeat: %v", assignment(resp))
	}
}

// TestHeartbeat_LostResponse: a member whose epoch bump was lost comes
// back at its previous epoch; that is accepted only when what it owns is
// part of its assignment.
func TestHeartbeat_LostResponse(t *testing.T) {
	first := func(p Partitions) Partitions {
		t := p.sortedTopics()[0]
		return parts(t, p[t][0])
	}
	for _, c := range []struct {
		name string
		// bumpAgain moves a one epoch further, so that 1 is older than
		// its previous epoch.
		bumpAgain bool
		epoch     int32
		owned     func(kept, revoked Partitions) Partitions
		want      int16
	}{
		{"previous epoch, owns part of its assignment", false, 1, func(kept, _ Partitions) Partitions { return first(kept) }, errNone},
		{"previous epoch, owns its assignment", false, 1, func(kept, _ Partitions) Partitions { return kept }, errNone},
		{"previous epoch, owns nothing", false, 1, func(_, _ Partitions) Partitions { return Partitions{} }, errNone},
		{"previous epoch, still owns revoked partitions", false, 1, func(kept, revoked Partitions) Partitions { return union(kept, revoked) }, errFencedMemberEpoch},
		{"previous epoch, owned not reported", false, 1, func(_, _ Partitions) Partitions { return nil }, errFencedMemberEpoch},
		{"older than the previous epoch", true, 1, func(kept, _ Partitions) Partitions { return kept }, errFencedMemberEpoch},
		{"epoch from the future", false, 3, func(kept, _ Partitions) Partitions { return kept }, errFencedMemberEpoch},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := twoMembers(t)
			o := h.heartbeat(hb{group: "g", member: "a", epoch: 1})
			kept := assignment(o.Response)
			revoked := h.member("g", "a").PendingRevocation.clone()
			h.ok(hb{group: "g", member: "a", epoch: 1, owned: kept}) // its response is "lost"
			want := int32(2)
			if c.bumpAgain {
				h.topics.grow("t", 6) // a new epoch, with unowned partitions for a
				h.ok(hb{group: "g", member: "a", epoch: 2, owned: kept})
				want = 3
			}
			if m := h.member("g", "a"); m.Epoch != want || m.PreviousEpoch != want-1 {
				t.Fatalf("a at %d (previous %d)", m.Epoch, m.PreviousEpoch)
			}
			assigned := h.member("g", "a").Assigned.clone()
			// After a lost response a client sends a full heartbeat, so it
			// gets its whole assignment back.
			o = h.heartbeat(hb{group: "g", member: "a", epoch: c.epoch, subs: []string{"t"}, owned: c.owned(kept, revoked), full: true})
			if o.Response.ErrorCode != c.want {
				t.Fatalf("error %d, want %d", o.Response.ErrorCode, c.want)
			}
			if c.want == errNone && (o.Response.MemberEpoch != want || !assignment(o.Response).equal(assigned)) {
				t.Fatalf("recovered at %d with %v, want %d with %v", o.Response.MemberEpoch, assignment(o.Response), want, assigned)
			}
			if c.want != errNone && (o.Member != "" || o.Response.MemberID != nil) {
				t.Fatalf("a fenced heartbeat re-armed the session or named the member: %+v", o)
			}
		})
	}
}

// TestHeartbeat_RejoinSameMemberID: epoch 0 with a known member ID
// re-delivers its assignment without a rebalance.
func TestHeartbeat_RejoinSameMemberID(t *testing.T) {
	h, _, kept, _ := stableTwo(t)
	epoch := h.gs.Get("g").Epoch
	o := h.heartbeat(hb{group: "g", member: "a", subs: []string{"t"}})
	if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != epoch || !assignment(o.Response).equal(kept) {
		t.Fatalf("rejoin: %+v, assignment %v, want %v at %d", o.Response, assignment(o.Response), kept, epoch)
	}
	if g := h.gs.Get("g"); g.Epoch != epoch || g.State() != GroupStable {
		t.Fatalf("rejoin bumped the group to %d (%s)", g.Epoch, g.State())
	}
}

// TestHeartbeat_Leave: epoch -1 removes the member, bumps the group epoch
// and frees its partitions for the others.
func TestHeartbeat_Leave(t *testing.T) {
	h, tid, kept, _ := stableTwo(t)
	o := h.heartbeat(hb{group: "g", member: "b", epoch: 2})
	o = h.heartbeat(hb{group: "g", member: "b", epoch: leaveEpoch})
	if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != leaveEpoch || len(o.Removed) != 1 || o.Removed[0] != "b" || o.Member != "" {
		t.Fatalf("leave: %+v", o)
	}
	g := h.gs.Get("g")
	if g.Members["b"] != nil || g.Epoch != 3 || g.State() != GroupAssigning {
		t.Fatalf("after leave: members %d, epoch %d, %s", len(g.Members), g.Epoch, g.State())
	}
	resp := h.ok(hb{group: "g", member: "a", epoch: 2, owned: kept})
	if resp.MemberEpoch != 3 || !assignment(resp).equal(parts(tid, 0, 1, 2, 3)) || g.State() != GroupStable {
		t.Fatalf("a after b left: epoch %d, %v, %s", resp.MemberEpoch, assignment(resp), g.State())
	}
	// The last one out leaves an empty group.
	h.ok(hb{group: "g", member: "a", epoch: leaveEpoch})
	if g.State() != GroupEmpty || !g.Empty() {
		t.Fatalf("after all left: %s", g.State())
	}
	// Leaving twice, or from an unknown group, is an error.
	for _, c := range []struct {
		b    hb
		want int16
	}{
		{hb{group: "g", member: "a", epoch: leaveEpoch}, errUnknownMemberID},
		{hb{group: "nope", member: "a", epoch: leaveEpoch}, errGroupIDNotFound},
	} {
		if got := h.heartbeat(c.b).Response.ErrorCode; got != c.want {
			t.Errorf("%+v: %d, want %d", c.b, got, c.want)
		}
	}
}

// TestHeartbeat_StaticMember: a static member leaving with -2 keeps its
// partitions; its successor (same instance ID, new member ID) inherits
// them without a rebalance; the instance ID cannot be taken while held,
// and the predecessor's delayed requests are fenced.
func TestHeartbeat_StaticMember(t *testing.T) {
	h := newHarness(t, Config{})
	h.topics.create("t", 4)
	ia, ib := strp("ia"), strp("ib")
	h.ok(hb{group: "g", member: "a1", instance: ia, subs: []string{"t"}})
	h.ok(hb{group: "g", member: "b", instance: ib, subs: []string{"t"}})
	kept := assignment(h.heartbeat(hb{group: "g", member: "a1", instance: ia, epoch: 1}).Response)
	h.ok(hb{group: "g", member: "a1", instance: ia, epoch: 1, owned: kept})
	h.ok(hb{group: "g", member: "b", instance: ib, epoch: 2})
	g := h.gs.Get("g")
	if g.State() != GroupStable {
		t.Fatalf("%s", g.State())
	}
	epoch := g.Epoch

	// Another live member cannot take ib.
	o := h.heartbeat(hb{group: "g", member: "b2", instance: ib, subs: []string{"t"}})
	if o.Response.ErrorCode != errUnreleasedInstanceID || g.Members["b2"] != nil {
		t.Fatalf("instance ID taken from a live member: %+v", o.Response)
	}

	o = h.heartbeat(hb{group: "g", member: "a1", instance: ia, epoch: staticLeaveEpoch})
	if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != staticLeaveEpoch || o.Revocation != RevocationCancel || o.Member != "" || len(o.Removed) != 0 {
		t.Fatalf("static leave: %+v", o)
	}
	a1 := h.member("g", "a1")
	if a1.Epoch != staticLeaveEpoch || !a1.Assigned.equal(kept) || g.Epoch != epoch {
		t.Fatalf("after static leave: epoch %d, %v, group epoch %d", a1.Epoch, a1.Assigned, g.Epoch)
	}
	// Nobody else gets its partitions meanwhile.
	if resp := h.ok(hb{group: "g", member: "b", instance: ib, epoch: epoch}); resp.Assignment != nil {
		t.Fatalf("b got %v while a1 is away", assignment(resp))
	}
	// A delayed heartbeat of a1 at its old epoch must not revive it.
	if got := h.heartbeat(hb{group: "g", member: "a1", instance: ia, epoch: epoch, owned: kept}).Response.ErrorCode; got != errFencedMemberEpoch {
		t.Fatalf("delayed heartbeat after a static leave: %d", got)
	}

	o = h.heartbeat(hb{group: "g", member: "a2", instance: ia, subs: []string{"t"}})
	if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != epoch || !assignment(o.Response).equal(kept) {
		t.Fatalf("successor: %+v, %v, want %v at %d", o.Response, assignment(o.Response), kept, epoch)
	}
	if len(o.Removed) != 1 || o.Removed[0] != "a1" || g.Members["a1"] != nil || g.Epoch != epoch || g.State() != GroupStable {
		t.Fatalf("after the successor joined: removed %v, group epoch %d, %s", o.Removed, g.Epoch, g.State())
	}
	// The predecessor's delayed leave must not remove its successor.
	if got := h.heartbeat(hb{group: "g", member: "a1", instance: ia, epoch: leaveEpoch}).Response.ErrorCode; got != errFencedInstanceID {
		t.Fatalf("predecessor's leave: %d", got)
	}
	if g.Members["a2"] == nil {
		t.Fatal("predecessor's leave removed the successor")
	}
	// A static member that leaves for good (-1) is removed.
	h.ok(hb{group: "g", member: "a2", instance: ia, epoch: leaveEpoch})
	if g.Members["a2"] != nil || g.Epoch != epoch+1 {
		t.Fatalf("static member's -1: members %v, epoch %d", len(g.Members), g.Epoch)
	}
}

// TestHeartbeat_StaticLeaveReleasesRevoking: a static member that leaves
// while revoking gives those partitions up at once, so the member waiting
// for them need not wait for its session to expire.
func TestHeartbeat_StaticLeaveReleasesRevoking(t *testing.T) {
	h := newHarness(t, Config{})
	h.topics.create("t", 4)
	ia := strp("ia")
	h.ok(hb{group: "g", member: "a", instance: ia, subs: []string{"t"}})
	h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	h.heartbeat(hb{group: "g", member: "a", instance: ia, epoch: 1}) // revoking
	revoked := h.member("g", "a").PendingRevocation.clone()
	h.ok(hb{group: "g", member: "a", instance: ia, epoch: staticLeaveEpoch})
	if a := h.member("g", "a"); a.PendingRevocation.count() != 0 {
		t.Fatalf("still revoking %v", a.PendingRevocation)
	}
	if got := assignment(h.ok(hb{group: "g", member: "b", epoch: 2})); !got.equal(revoked) {
		t.Fatalf("b got %v, want %v", got, revoked)
	}
}

// TestExpire: session expiry removes any member; revocation expiry only a
// member still revoking.
func TestExpire(t *testing.T) {
	h, tid := twoMembers(t)
	if recs := h.expire("g", "a", true); recs != nil {
		t.Fatalf("a is not revoking yet but its revocation expired: %d records", len(recs))
	}
	h.heartbeat(hb{group: "g", member: "a", epoch: 1}) // a revokes now
	if recs := h.expire("g", "b", true); recs != nil {
		t.Fatal("b is not revoking but its revocation expired")
	}
	if recs := h.expire("g", "a", true); len(recs) == 0 || h.gs.Get("g").Members["a"] != nil {
		t.Fatal("revocation expiry did not remove a")
	}
	if e := h.gs.Get("g").Epoch; e != 3 {
		t.Fatalf("group epoch %d after a was removed", e)
	}
	if got := assignment(h.ok(hb{group: "g", member: "b", epoch: 2})); !got.equal(parts(tid, 0, 1, 2, 3)) {
		t.Fatalf("b after a expired: %v", got)
	}
	if recs := h.expire("g", "b", false); len(recs) == 0 || !h.gs.Get("g").Empty() {
		t.Fatal("session expiry did not remove b")
	}
	for _, c := range [][2]string{{"g", "b"}, {"nope", "b"}} {
		if recs := h.expire(c[0], c[1], false); recs != nil {
			t.Errorf("expiring %v again: %d records", c, len(recs))
		}
	}
	// A removed member's heartbeat is refused; it rejoins from scratch.
	if got := h.heartbeat(hb{group: "g", member: "b", epoch: 4}).Response.ErrorCode; got != errUnknownMemberID {
		t.Fatalf("heartbeat of an expired member: %d", got)
	}
}

// TestHeartbeat_RejoinReleasesAtOnce: a member rejoining at epoch 0 owns
// nothing, so partitions its target no longer has are released at once and
// it moves to the group epoch, instead of being told to stay at its epoch
// (-2 or 0, which the client would take for a leave or a join).
func TestHeartbeat_RejoinReleasesAtOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		leave    int32  // 0: no leave
		instance string // "": dynamic
		rejoinAs string
	}{
		{"dynamic member rejoins", 0, "", "a"},
		{"static member back from -2, same member ID", staticLeaveEpoch, "ia", "a"},
		{"static member back from -2, new member ID", staticLeaveEpoch, "ia", "a2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			tid := h.topics.create("t", 4)
			var inst *string
			if c.instance != "" {
				inst = strp(c.instance)
			}
			h.ok(hb{group: "g", member: "a", instance: inst, subs: []string{"t"}})
			h.ok(hb{group: "g", member: "b", subs: []string{"t"}}) // a's target shrinks
			if c.leave != 0 {
				h.ok(hb{group: "g", member: "a", instance: inst, epoch: c.leave})
			}
			o := h.heartbeat(hb{group: "g", member: c.rejoinAs, instance: inst, subs: []string{"t"}})
			m := h.member("g", c.rejoinAs)
			target := h.gs.Get("g").Target[c.rejoinAs]
			if o.Response.ErrorCode != 0 || o.Response.MemberEpoch != 2 || !assignment(o.Response).equal(target) || m.State != StateStable || m.PendingRevocation.count() != 0 {
				t.Fatalf("rejoin: error %d, epoch %d, %v (target %v), %v", o.Response.ErrorCode, o.Response.MemberEpoch, assignment(o.Response), target, m.State)
			}
			if o.Revocation == RevocationArm {
				t.Fatal("revocation timer armed for a member that owns nothing")
			}
			resp := h.ok(hb{group: "g", member: "b", epoch: 2})
			if got := union(assignment(resp), target); !got.equal(parts(tid, 0, 1, 2, 3)) || h.gs.Get("g").State() != GroupStable {
				t.Fatalf("b got %v; group %s", assignment(resp), h.gs.Get("g").State())
			}
		})
	}
}
