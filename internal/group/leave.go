package group

// LeaveGroup (key 13), v0-v5. v3+ removes a batch of members, each answered
// on its own; a member may be named by group.instance.id alone (member ID
// "", as admin tools remove static members, KIP-345). v0-v2 name one member
// and answer with the top-level error. The group then rebalances without the
// members that left, or ends its join phase if they were the ones awaited.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func leaveResponse(version int16) *kmsg.LeaveGroupResponse {
	r := kmsg.NewPtrLeaveGroupResponse()
	r.Version = version
	return r
}

// LeaveGroup handles a LeaveGroup request.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest, now time.Time) coordinator.Result {
	var out coordinator.Result
	resp := leaveResponse(req.Version)
	out.Response = resp
	members := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		members = []kmsg.LeaveGroupRequestMember{lm}
	}
	switch {
	case req.Group == "":
		resp.ErrorCode = errInvalidGroupID
		return out
	case !c.owns(req.Group):
		resp.ErrorCode = errNotCoordinator
		return out
	}
	g := c.groups[req.Group]
	left := 0
	for _, lm := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = lm.MemberID
		rm.InstanceID = lm.InstanceID
		if g == nil {
			rm.ErrorCode = errUnknownMemberID
		} else {
			rm.ErrorCode = c.leaveOne(g, lm, &out)
		}
		if rm.ErrorCode == errNone {
			left++
		}
		resp.Members = append(resp.Members, rm)
	}
	if g != nil && left > 0 {
		switch g.state {
		case Stable, CompletingRebalance:
			c.maybePrepareRebalanceOrCompleteJoin(g, now, &out)
		case PreparingRebalance:
			c.maybeCompleteJoinPhase(g, now, &out)
		}
	}
	if req.Version < 3 {
		// One member, answered by the top-level error.
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return out
}

// leaveOne removes one member; its parked JoinGroup (if any) is answered
// UNKNOWN_MEMBER_ID through out.
func (c *Coordinator) leaveOne(g *group, lm kmsg.LeaveGroupRequestMember, out *coordinator.Result) int16 {
	switch {
	case lm.MemberID == "":
		if lm.InstanceID == nil {
			return errUnknownMemberID
		}
		id, ok := g.static[*lm.InstanceID]
		if !ok {
			return errUnknownMemberID
		}
		c.removeMember(g, g.members[id], out)
	case g.pending[lm.MemberID]:
		delete(g.pending, lm.MemberID)
		c.timers.cancel(timerKey{kind: timerHeartbeat, group: g.id, member: lm.MemberID})
		return errNone
	default:
		if code := g.validateMember(lm.MemberID, lm.InstanceID); code != 0 {
			return code
		}
		c.removeMember(g, g.members[lm.MemberID], out)
	}
	return errNone
}
