package group

// Heartbeat (key 12), v0-v4. A heartbeat restarts the member's session
// timeout. During a rebalance it answers REBALANCE_IN_PROGRESS, which tells
// the client to rejoin. A member whose session expires is removed; a new
// member whose JoinGroup stays parked beyond Kafka's new member join timeout
// too; a member ID handed out with MEMBER_ID_REQUIRED is forgotten after one
// session timeout.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func heartbeatResponse(version int16, code int16) *kmsg.HeartbeatResponse {
	r := kmsg.NewPtrHeartbeatResponse()
	r.Version = version
	r.ErrorCode = code
	return r
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest, now time.Time) coordinator.Result {
	return coordinator.Result{Response: heartbeatResponse(req.Version, c.heartbeat(req, now))}
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest, now time.Time) int16 {
	if req.Group == "" {
		return errInvalidGroupID
	}
	if !c.owns(req.Group) {
		return errNotCoordinator
	}
	g := c.groups[req.Group]
	if g == nil {
		return errUnknownMemberID
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return errIllegalGeneration
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
		return errRebalanceInProgress
	case CompletingRebalance, Stable:
		// Clients may heartbeat between their JoinGroup and SyncGroup
		// responses; that keeps the session alive as in Stable.
		c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
		return errNone
	}
	return errUnknownMemberID
}

// expireHeartbeat runs when a member's session timer fires.
func (c *Coordinator) expireHeartbeat(g *group, memberID string, now time.Time, out *coordinator.Result) {
	if g.pending[memberID] {
		delete(g.pending, memberID)
		if g.state == PreparingRebalance && g.allJoined() {
			c.completeJoin(g, now, out)
		}
		return
	}
	m := g.members[memberID]
	if m == nil {
		return
	}
	// Members parked in JoinGroup or SyncGroup are waiting on the group,
	// not failing; their session restarts when they are answered. A new
	// member is expired even while parked.
	if !m.isNew && (m.joinWait != 0 || m.syncWait != 0) {
		return
	}
	c.removeMemberAndUpdate(g, m, now, out)
}
