package group

// JoinGroup (key 11), v0-v9, classic protocol. The coordinator does not
// assign: it picks the protocol every member supports (most votes, ties by
// the leader's preference), parks each JoinGroup until the join phase ends,
// then hands the leader every member's metadata. Eager and cooperative
// rebalances are the clients' business: a cooperative member that revoked
// partitions simply rejoins, which starts the next generation.
//
// Semantics follow Kafka's classic group coordinator: member IDs assigned on
// the first join (v4+: MEMBER_ID_REQUIRED with the new ID, KIP-394), static
// members (group.instance.id, KIP-345) replacing their previous member ID and
// fencing it, group.initial.rebalance.delay.ms for the first rebalance of an
// empty group, group.max.size, and the rebalance timeout that ends the join
// phase for members that do not rejoin. Departure: ties in protocol
// selection are broken deterministically.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func joinResponse(version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	return r
}

func joinError(version int16, code int16, memberID string) *kmsg.JoinGroupResponse {
	r := joinResponse(version)
	r.ErrorCode = code
	r.MemberID = memberID
	return r
}

// JoinGroup handles a JoinGroup request from client.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, client Client, now time.Time) coordinator.Result {
	var out coordinator.Result
	fail := func(code int16, memberID string) coordinator.Result {
		out.Response = joinError(req.Version, code, memberID)
		return out
	}
	if req.Group == "" {
		return fail(errInvalidGroupID, req.MemberID)
	}
	if !c.owns(req.Group) {
		return fail(errNotCoordinator, req.MemberID)
	}
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return fail(errInvalidSessionTimeout, req.MemberID)
	}
	if cg := c.consumer.Get(req.Group); cg != nil {
		// Only a new member (no member ID) may turn an empty consumer
		// group into a classic one, as Kafka creates a classic group only
		// then; the group's offsets stay.
		if !cg.Empty() || req.MemberID != "" {
			out.Response = joinError(req.Version, errGroupIDNotFound, req.MemberID)
			return out
		}
		consumerRecords(c.consumer.Delete(req.Group), &out)
	}
	unknown := req.MemberID == ""
	g := c.groups[req.Group]
	created := false
	if g == nil {
		if !unknown {
			return fail(errUnknownMemberID, req.MemberID)
		}
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
		created = true
	}
	switch {
	case !c.acceptJoiningMember(g, req.MemberID):
		if m := g.members[req.MemberID]; m != nil {
			c.removeMember(g, m, &out)
		} else if g.pending[req.MemberID] {
			delete(g.pending, req.MemberID)
			c.timers.cancel(timerKey{kind: timerHeartbeat, group: g.id, member: req.MemberID})
		}
		out.Response = joinError(req.Version, errGroupMaxSizeReached, "")
	case unknown:
		c.joinNewMember(g, req, client, now, &out)
	default:
		c.joinExistingMember(g, req, client, now, &out)
	}
	if created {
		c.dropIfPhantom(g)
	}
	return out
}

// acceptJoiningMember enforces group.max.size as Kafka does: while
// preparing, against the members that already rejoined (so a shrunken limit
// drops the last to rejoin); otherwise against the group size.
func (c *Coordinator) acceptJoiningMember(g *group, memberID string) bool {
	switch g.state {
	case PreparingRebalance:
		if m := g.members[memberID]; m != nil && m.joinWait != 0 {
			return true
		}
		return g.numAwaitingJoin() < c.cfg.MaxSize
	case CompletingRebalance, Stable:
		return g.members[memberID] != nil || len(g.members) < c.cfg.MaxSize
	}
	return true
}

func rebalanceTimeoutOf(req *kmsg.JoinGroupRequest) time.Duration {
	if req.Version == 0 || req.RebalanceTimeoutMillis < 0 {
		// v0 has no rebalance timeout; Kafka uses the session timeout.
		return ms(req.SessionTimeoutMillis)
	}
	return ms(req.RebalanceTimeoutMillis)
}

func (c *Coordinator) joinNewMember(g *group, req *kmsg.JoinGroupRequest, client Client, now time.Time, out *coordinator.Result) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		out.Response = joinError(req.Version, errInconsistentGroupProtocol, "")
		return
	}
	if req.InstanceID != nil {
		newID := c.cfg.NewMemberID(*req.InstanceID)
		if old, ok := g.static[*req.InstanceID]; ok {
			c.replaceStaticMember(g, req, old, newID, now, out)
			return
		}
		c.addMemberThenRebalance(g, req, client, newID, now, out)
		return
	}
	newID := c.cfg.NewMemberID(client.ID)
	if req.Version >= 4 {
		// KIP-394: remember the ID and ask the client to come back with it,
		// so that a client retrying a timed-out JoinGroup does not leave
		// orphan members behind.
		g.pending[newID] = true
		c.timers.schedule(timerKey{kind: timerHeartbeat, group: g.id, member: newID}, now.Add(ms(req.SessionTimeoutMillis)), 0)
		out.Response = joinError(req.Version, errMemberIDRequired, newID)
		return
	}
	c.addMemberThenRebalance(g, req, client, newID, now, out)
}

func (c *Coordinator) joinExistingMember(g *group, req *kmsg.JoinGroupRequest, client Client, now time.Time, out *coordinator.Result) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		out.Response = joinError(req.Version, errInconsistentGroupProtocol, req.MemberID)
		return
	}
	if g.pending[req.MemberID] {
		if req.InstanceID != nil {
			// Pending IDs are only handed to dynamic members.
			out.Response = joinError(req.Version, errUnknownMemberID, req.MemberID)
			return
		}
		c.addMemberThenRebalance(g, req, client, req.MemberID, now, out)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		out.Response = joinError(req.Version, code, req.MemberID)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		c.updateMemberThenRebalance(g, m, req, now, out)
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			// The member lost its JoinGroup response: give it again.
			out.Response = c.currentJoinResponse(g, m, req.Version, g.leader == m.id)
			return
		}
		c.updateMemberThenRebalance(g, m, req, now, out)
	case Stable:
		if g.leader == m.id || !m.matches(req.Protocols) {
			// A leader rejoining asks for a new assignment (topic metadata
			// changed, a cooperative follow-up rebalance...); a member with
			// new metadata needs one.
			c.updateMemberThenRebalance(g, m, req, now, out)
			return
		}
		out.Response = c.currentJoinResponse(g, m, req.Version, false)
	default:
		out.Response = joinError(req.Version, errUnknownMemberID, req.MemberID)
	}
}

// currentJoinResponse describes the running generation to a member.
func (c *Coordinator) currentJoinResponse(g *group, m *member, version int16, withMembers bool) *kmsg.JoinGroupResponse {
	r := joinResponse(version)
	r.Generation = g.generation
	r.ProtocolType = nilIfEmpty(g.protocolType)
	r.Protocol = nilIfEmpty(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = m.id
	if withMembers {
		r.Members = c.joinMembers(g)
	}
	return r
}

func (c *Coordinator) joinMembers(g *group) []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.allMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(g.protocol)
		out = append(out, jm)
	}
	return out
}

func (c *Coordinator) addMemberThenRebalance(g *group, req *kmsg.JoinGroupRequest, client Client, memberID string, now time.Time, out *coordinator.Result) {
	m := &member{
		id:               memberID,
		instanceID:       req.InstanceID,
		clientID:         client.ID,
		clientHost:       client.Host,
		rebalanceTimeout: rebalanceTimeoutOf(req),
		sessionTimeout:   ms(req.SessionTimeoutMillis),
		protocolType:     req.ProtocolType,
		protocols:        toProtocols(req.Protocols),
		joinWait:         c.newHandle(),
		joinVersion:      req.Version,
		isNew:            true,
	}
	if g.state == PreparingRebalance && g.initialRebalance {
		g.newMemberAdded = true
	}
	g.add(m)
	out.Wait = m.joinWait
	// A new member cannot heartbeat while its JoinGroup is parked; bound the
	// wait so that clients that gave up do not pile up in the rebalance.
	c.scheduleHeartbeat(g, m, now, c.cfg.NewMemberJoinTimeout)
	c.maybePrepareRebalanceOrCompleteJoin(g, now, out)
}

func (c *Coordinator) updateMemberThenRebalance(g *group, m *member, req *kmsg.JoinGroupRequest, now time.Time, out *coordinator.Result) {
	c.parkJoin(m, req, out)
	c.maybePrepareRebalanceOrCompleteJoin(g, now, out)
}

// parkJoin records the member's new protocols and timeouts and parks its
// JoinGroup; an older parked JoinGroup of the same member is answered
// REBALANCE_IN_PROGRESS (its client already moved on).
func (c *Coordinator) parkJoin(m *member, req *kmsg.JoinGroupRequest, out *coordinator.Result) {
	if m.joinWait != 0 {
		complete(out, m.joinWait, joinError(m.joinVersion, errRebalanceInProgress, m.id))
	}
	m.protocols = toProtocols(req.Protocols)
	m.rebalanceTimeout = rebalanceTimeoutOf(req)
	m.sessionTimeout = ms(req.SessionTimeoutMillis)
	m.joinWait = c.newHandle()
	m.joinVersion = req.Version
	out.Wait = m.joinWait
}

// replaceStaticMember handles a static member rejoining without its member
// ID (a restart): the new ID takes over the old one's place and assignment,
// and requests parked under the old ID are fenced.
func (c *Coordinator) replaceStaticMember(g *group, req *kmsg.JoinGroupRequest, oldID, newID string, now time.Time, out *coordinator.Result) {
	old := g.members[oldID]
	prevLeader := g.leader
	complete(out, old.joinWait, joinError(old.joinVersion, errFencedInstanceID, oldID))
	complete(out, old.syncWait, syncError(old.syncVersion, errFencedInstanceID))
	c.timers.cancel(timerKey{kind: timerHeartbeat, group: g.id, member: oldID})
	m := &member{
		id:               newID,
		instanceID:       old.instanceID,
		clientID:         old.clientID,
		clientHost:       old.clientHost,
		rebalanceTimeout: old.rebalanceTimeout,
		sessionTimeout:   old.sessionTimeout,
		protocolType:     old.protocolType,
		protocols:        old.protocols,
		assignment:       old.assignment,
	}
	delete(g.members, oldID)
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[*req.InstanceID] = newID
	c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
	c.parkJoin(m, req, out)

	switch g.state {
	case Stable:
		if g.selectProtocol() == g.protocol {
			// Same protocol: no rebalance. Persist the new member ID and
			// give the member the running generation; it syncs for its
			// assignment. The leader (v9+) is told to skip assigning.
			c.appendGroupMetadata(g, out)
			var r *kmsg.JoinGroupResponse
			if m.joinVersion >= 9 {
				leader := g.leader == m.id
				r = c.currentJoinResponse(g, m, m.joinVersion, leader)
				r.SkipAssignment = leader
			} else {
				// Without SkipAssignment (KIP-814) a leader would assign
				// again for nothing: name the previous leader instead, as
				// Kafka does, so the member acts as a follower.
				r = c.currentJoinResponse(g, m, m.joinVersion, false)
				r.LeaderID = prevLeader
			}
			complete(out, m.joinWait, r)
			m.joinWait = 0
			return
		}
		c.maybePrepareRebalanceOrCompleteJoin(g, now, out)
	case CompletingRebalance:
		// The leader may be assigning to the old ID: start over.
		c.prepareRebalance(g, now, out)
	default:
		c.maybeCompleteJoinPhase(g, now, out)
	}
}

func (c *Coordinator) maybePrepareRebalanceOrCompleteJoin(g *group, now time.Time, out *coordinator.Result) {
	if g.canRebalance() {
		c.prepareRebalance(g, now, out)
		return
	}
	c.maybeCompleteJoinPhase(g, now, out)
}

// prepareRebalance starts a join phase. Members waiting for an assignment
// are told to rejoin; the first rebalance of an empty group waits
// group.initial.rebalance.delay.ms for more members.
func (c *Coordinator) prepareRebalance(g *group, now time.Time, out *coordinator.Result) {
	if g.state == CompletingRebalance {
		for _, m := range g.allMembers() {
			m.assignment = nil
		}
		c.propagateAssignment(g, errRebalanceInProgress, now, out)
	}
	clear(g.pendingSync)
	c.timers.cancel(timerKey{kind: timerSync, group: g.id})

	initial := g.state == Empty
	g.transition(PreparingRebalance, now)
	if initial {
		g.initialRebalance = true
		g.newMemberAdded = false
		g.initialDelay = c.cfg.InitialRebalanceDelay
		g.initialRemaining = max(g.rebalanceTimeout()-c.cfg.InitialRebalanceDelay, 0)
		c.timers.schedule(timerKey{kind: timerJoin, group: g.id}, now.Add(g.initialDelay), 0)
		return
	}
	g.initialRebalance = false
	if g.allJoined() {
		c.completeJoin(g, now, out)
		return
	}
	c.timers.schedule(timerKey{kind: timerJoin, group: g.id}, now.Add(g.rebalanceTimeout()), 0)
}

// maybeCompleteJoinPhase ends the join phase early once every member has
// rejoined, except during the initial rebalance, which always waits.
func (c *Coordinator) maybeCompleteJoinPhase(g *group, now time.Time, out *coordinator.Result) {
	if g.state != PreparingRebalance || g.initialRebalance || !g.allJoined() {
		return
	}
	c.completeJoin(g, now, out)
}

// onJoinTimer ends the join phase at the rebalance timeout, or steps the
// initial rebalance delay: while new members keep arriving it waits again,
// up to the rebalance timeout in total.
func (c *Coordinator) onJoinTimer(g *group, now time.Time, out *coordinator.Result) {
	if g.state != PreparingRebalance {
		return
	}
	if g.initialRebalance && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		delay := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-g.initialDelay, 0)
		g.initialDelay = delay
		c.timers.schedule(timerKey{kind: timerJoin, group: g.id}, now.Add(delay), 0)
		return
	}
	c.completeJoin(g, now, out)
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// dropped, the generation advances, and every parked JoinGroup is answered
// (the leader with all members' metadata). An empty group is persisted.
func (c *Coordinator) completeJoin(g *group, now time.Time, out *coordinator.Result) {
	c.timers.cancel(timerKey{kind: timerJoin, group: g.id})
	g.initialRebalance = false
	for _, m := range g.allMembers() {
		if m.joinWait == 0 && !m.static() {
			c.removeMember(g, m, out)
		}
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait for them
		// (or their session timeouts) one more rebalance timeout, at least
		// group.min.session.timeout.ms so that a zero rebalance timeout
		// does not spin (Kafka would re-arm at once).
		wait := max(g.rebalanceTimeout(), c.cfg.MinSessionTimeout)
		c.timers.schedule(timerKey{kind: timerJoin, group: g.id}, now.Add(wait), 0)
		return
	}
	g.generation++
	if c.cfg.Rebalances != nil && len(g.members) > 0 {
		c.cfg.Rebalances.Add(1)
	}
	clear(g.pendingSync)
	if len(g.members) == 0 {
		g.protocol = ""
		g.computeSubscribed()
		g.transition(Empty, now)
		c.appendGroupMetadata(g, out)
		return
	}
	g.protocol = g.selectProtocol()
	g.computeSubscribed()
	g.transition(CompletingRebalance, now)
	for _, m := range g.allMembers() {
		if m.joinWait != 0 {
			leader := g.leader == m.id
			complete(out, m.joinWait, c.currentJoinResponse(g, m, m.joinVersion, leader))
			m.joinWait = 0
		}
		c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	c.timers.schedule(timerKey{kind: timerSync, group: g.id}, now.Add(g.rebalanceTimeout()), g.generation)
}

// removeMember answers a member's parked requests with UNKNOWN_MEMBER_ID (a
// live client then rejoins) and drops it.
func (c *Coordinator) removeMember(g *group, m *member, out *coordinator.Result) {
	complete(out, m.joinWait, joinError(m.joinVersion, errUnknownMemberID, ""))
	complete(out, m.syncWait, syncError(m.syncVersion, errUnknownMemberID))
	m.joinWait, m.syncWait = 0, 0
	c.timers.cancel(timerKey{kind: timerHeartbeat, group: g.id, member: m.id})
	g.remove(m.id)
}

// removeMemberAndUpdate drops a member and moves the group on: a rebalance
// if it was Stable or CompletingRebalance, the end of the join phase if it
// was the last one awaited.
func (c *Coordinator) removeMemberAndUpdate(g *group, m *member, now time.Time, out *coordinator.Result) {
	c.removeMember(g, m, out)
	switch {
	case g.is(Stable, CompletingRebalance):
		c.maybePrepareRebalanceOrCompleteJoin(g, now, out)
	case g.state == PreparingRebalance && g.allJoined():
		c.completeJoin(g, now, out)
	}
}
