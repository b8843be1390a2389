package group

// SyncGroup (key 14), v0-v5. In CompletingRebalance each member's SyncGroup
// is parked until the leader's arrives with the assignment; the assignment is
// then written to __consumer_offsets (GroupMetadataValue) and every parked
// SyncGroup is answered once that record is durable. In Stable a SyncGroup
// gets the member's current assignment at once. Members that do not sync
// within the rebalance timeout are removed and the group rebalances.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	return r
}

// inconsistent: a protocol (type or name) given in the request (v5+) that
// differs from the group's.
func inconsistent(requested *string, current string) bool {
	return requested != nil && current != "" && *requested != current
}

// SyncGroup handles a SyncGroup request.
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, now time.Time) coordinator.Result {
	var out coordinator.Result
	fail := func(code int16) coordinator.Result {
		out.Response = syncError(req.Version, code)
		return out
	}
	if req.Group == "" {
		return fail(errInvalidGroupID)
	}
	if !c.owns(req.Group) {
		return fail(errNotCoordinator)
	}
	g := c.groups[req.Group]
	if g == nil || g.state == Empty {
		return fail(errUnknownMemberID)
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(errIllegalGeneration)
	}
	if inconsistent(req.ProtocolType, g.protocolType) || inconsistent(req.Protocol, g.protocol) {
		return fail(errInconsistentGroupProtocol)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		return fail(errRebalanceInProgress)
	case CompletingRebalance:
		if m.syncWait != 0 {
			complete(&out, m.syncWait, syncError(m.syncVersion, errRebalanceInProgress))
		}
		m.syncWait = c.newHandle()
		m.syncVersion = req.Version
		out.Wait = m.syncWait
		c.removePendingSync(g, m.id)
		if g.leader == m.id {
			c.applyAssignment(g, req.GroupAssignment, now, &out)
		}
	case Stable:
		c.removePendingSync(g, m.id)
		r := syncError(req.Version, errNone)
		r.ProtocolType = nilIfEmpty(g.protocolType)
		r.Protocol = nilIfEmpty(g.protocol)
		r.MemberAssignment = m.assignment
		out.Response = r
	}
	return out
}

// applyAssignment stores the leader's assignment (members it left out get
// an empty one), writes the group record, answers every parked SyncGroup and
// makes the group Stable. The answers leave once the record is durable.
func (c *Coordinator) applyAssignment(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment, now time.Time, out *coordinator.Result) {
	byMember := make(map[string][]byte, len(assignments))
	for _, a := range assignments {
		byMember[a.MemberID] = a.MemberAssignment
	}
	for _, m := range g.allMembers() {
		m.assignment = byMember[m.id]
	}
	c.appendGroupMetadata(g, out)
	c.propagateAssignment(g, errNone, now, out)
	g.transition(Stable, now)
}

// propagateAssignment answers every parked SyncGroup with the member's
// assignment (or the error, with no assignment) and restarts the sessions
// of the members answered.
func (c *Coordinator) propagateAssignment(g *group, code int16, now time.Time, out *coordinator.Result) {
	for _, m := range g.allMembers() {
		if m.syncWait == 0 {
			continue
		}
		r := syncError(m.syncVersion, code)
		if code == errNone {
			r.ProtocolType = nilIfEmpty(g.protocolType)
			r.Protocol = nilIfEmpty(g.protocol)
			r.MemberAssignment = m.assignment
		}
		complete(out, m.syncWait, r)
		m.syncWait = 0
		c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
	}
}

func (c *Coordinator) removePendingSync(g *group, memberID string) {
	delete(g.pendingSync, memberID)
	if len(g.pendingSync) == 0 {
		c.timers.cancel(timerKey{kind: timerSync, group: g.id})
	}
}

// expirePendingSync removes the members of a generation that never sent
// SyncGroup, and rebalances without them.
func (c *Coordinator) expirePendingSync(g *group, generation int32, now time.Time, out *coordinator.Result) {
	if generation != g.generation || !g.is(CompletingRebalance, Stable) || len(g.pendingSync) == 0 {
		return
	}
	for _, m := range g.allMembers() {
		if g.pendingSync[m.id] {
			c.removeMember(g, m, out)
		}
	}
	c.prepareRebalance(g, now, out)
}
