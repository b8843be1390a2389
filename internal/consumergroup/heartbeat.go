package consumergroup

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka error codes answered here, taken from kerr (franz-go's table of
// Kafka's codes): no code number is written by hand in Fjord.
var (
	errNone                     int16 = 0
	errInvalidRequest                 = kerr.InvalidRequest.Code
	errGroupIDNotFound                = kerr.GroupIDNotFound.Code
	errUnknownMemberID                = kerr.UnknownMemberID.Code
	errGroupMaxSizeReached            = kerr.GroupMaxSizeReached.Code
	errFencedInstanceID               = kerr.FencedInstanceID.Code
	errFencedMemberEpoch              = kerr.FencedMemberEpoch.Code
	errUnreleasedInstanceID           = kerr.UnreleasedInstanceID.Code
	errUnsupportedAssignor            = kerr.UnsupportedAssignor.Code
	errInvalidRegularExpression       = kerr.InvalidRegularExpression.Code
)

// Member epochs with a meaning of their own in a heartbeat.
const (
	joinEpoch        = 0
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

// Client identifies the connection a heartbeat came from.
type Client struct {
	ID   string // client.id
	Host string // "/127.0.0.1", as Kafka shows it
}

// RevocationTimer tells the caller what to do with a member's revocation
// deadline (its rebalance timeout while it must give partitions up).
type RevocationTimer int8

// Revocation timer actions.
const (
	RevocationKeep RevocationTimer = iota
	RevocationArm
	RevocationCancel
)

// Outcome is the result of a heartbeat: the response, the records to
// append before answering, and the timers the caller keeps.
type Outcome struct {
	Response *kmsg.ConsumerGroupHeartbeatResponse
	Records  []Record
	// Member is the member whose session timer is (re)armed for the
	// session timeout; "" when none (errors, leaves).
	Member string
	// Removed lists members that left or were replaced: cancel their
	// timers.
	Removed    []string
	Revocation RevocationTimer
	// RevocationTimeout is the member's rebalance timeout (RevocationArm).
	RevocationTimeout time.Duration
	// Created is set when the heartbeat created the group.
	Created bool
}

func (gs *Groups) fail(req *kmsg.ConsumerGroupHeartbeatRequest, code int16, msg string) Outcome {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	return Outcome{Response: resp}
}

// validate checks a heartbeat as Kafka's API layer does.
func validate(req *kmsg.ConsumerGroupHeartbeatRequest) string {
	switch {
	case req.Group == "":
		return "GroupId can't be empty."
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != joinEpoch):
		// v0 joins leave it to the coordinator (Heartbeat fills it in).
		return "MemberId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return "RackId can't be empty."
	case req.MemberEpoch < staticLeaveEpoch:
		return "MemberEpoch is invalid."
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return "InstanceId can't be null when leaving as a static member."
	case req.MemberEpoch == joinEpoch && req.RebalanceTimeoutMillis == -1:
		return "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == joinEpoch && len(req.Topics) > 0:
		return "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == joinEpoch && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
	}
	return ""
}

// Heartbeat handles a ConsumerGroupHeartbeat (key 68): join (epoch 0),
// heartbeat, leave (-1) or static leave (-2). The caller has checked that
// no classic group holds the ID.
func (gs *Groups) Heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, topics Topics, now time.Time) Outcome {
	if msg := validate(req); msg != "" {
		return gs.fail(req, errInvalidRequest, msg)
	}
	if req.ServerAssignor != nil && !slices.Contains(gs.cfg.Assignors, *req.ServerAssignor) {
		return gs.fail(req, errUnsupportedAssignor, "ServerAssignor "+*req.ServerAssignor+" is not supported; supported assignors: "+strings.Join(gs.cfg.Assignors, ", "))
	}
	var regex *string
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		regex = req.SubscribedTopicRegex
		if _, err := compileRegex(*regex); err != nil {
			return gs.fail(req, errInvalidRegularExpression, "SubscribedTopicRegex "+*regex+" is not a valid regular expression: "+err.Error())
		}
	}
	if req.MemberID == "" {
		// A v0 join: the coordinator names the member (v1 clients do).
		r := *req
		r.MemberID = gs.cfg.NewMemberID()
		req = &r
	}
	g := gs.groups[req.Group]
	if req.MemberEpoch == leaveEpoch || req.MemberEpoch == staticLeaveEpoch {
		return gs.leave(g, req)
	}
	created := false
	if g == nil {
		if req.MemberEpoch != joinEpoch {
			return gs.fail(req, errGroupIDNotFound, "Group "+req.Group+" not found.")
		}
		g = newGroup(req.Group, now)
		created = true
	}
	m, removed, out, ok := gs.memberFor(g, req)
	if !ok {
		return out
	}
	isNew := g.Members[m.ID] == nil
	// A static member taking over from its departed predecessor (removed)
	// inherits its subscription and target: like Kafka, that is no reason to
	// rebalance; only a changed subscription is.
	replaced := len(removed) > 0
	if created {
		gs.groups[g.ID] = g
	}
	var recs []Record
	for _, r := range removed {
		recs = append(recs, r.records...)
	}
	metaChanged, subChanged := m.update(req, client, regex)
	if isNew {
		g.Members[m.ID] = m
	}
	if isNew || metaChanged {
		recs = append(recs, memberMetadataRecord(g.ID, m))
	}
	bump := (isNew && !replaced) || subChanged
	if isNew || subChanged {
		g.invalidateSubscriptions()
	}
	perMember, union := g.subscriptions(topics)
	if h := metadataHash(union); h != g.MetadataHash {
		g.MetadataHash = h
		bump = true
	}
	if bump {
		g.Epoch++
		recs = append(recs, groupMetadataRecord(g))
	}
	if g.Epoch > g.AssignmentEpoch {
		recs = append(recs, gs.computeTarget(g, perMember, union)...)
	}
	oldAssigned := m.Assigned.clone()
	wasUnrevoked := m.State == StateUnrevokedPartitions
	owned := ownedPartitions(req.Topics)
	changed := g.reconcile(m, owned, req.Topics != nil || req.MemberEpoch == joinEpoch)
	if changed || isNew || req.MemberEpoch == joinEpoch {
		recs = append(recs, currentAssignmentRecord(g.ID, m))
	}

	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = &m.ID
	resp.MemberEpoch = m.Epoch
	resp.HeartbeatIntervalMillis = int32(gs.cfg.HeartbeatInterval.Milliseconds())
	full := req.MemberEpoch == joinEpoch ||
		(req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if full || !oldAssigned.equal(m.Assigned) {
		resp.Assignment = responseAssignment(m.Assigned)
	}
	o := Outcome{Response: resp, Records: recs, Member: m.ID, Created: created}
	for _, r := range removed {
		o.Removed = append(o.Removed, r.id)
	}
	switch unrevoked := m.State == StateUnrevokedPartitions; {
	case unrevoked && (!wasUnrevoked || changed):
		// Every new revocation request gets a fresh rebalance timeout, as
		// Kafka reschedules it: a member that revoked once and is asked
		// again must not be fenced on the first deadline.
		o.Revocation, o.RevocationTimeout = RevocationArm, m.RebalanceTimeout
	case !unrevoked && wasUnrevoked:
		o.Revocation = RevocationCancel
	}
	return o
}

type removal struct {
	id      string
	records []Record
}

// memberFor finds or creates the heartbeat's member and checks its epoch.
// A static member rejoining under a new member ID replaces its departed
// predecessor and inherits its assignment.
func (gs *Groups) memberFor(g *Group, req *kmsg.ConsumerGroupHeartbeatRequest) (*Member, []removal, Outcome, bool) {
	m := g.Members[req.MemberID]
	if req.MemberEpoch != joinEpoch {
		if req.InstanceID != nil {
			// As Kafka: an old incarnation of a static member whose
			// instance ID another member ID has taken is fenced for good.
			if sm := g.staticMember(*req.InstanceID); sm != nil && sm.ID != req.MemberID {
				return nil, nil, gs.fail(req, errFencedInstanceID, "Static member "+*req.InstanceID+" is now member "+sm.ID+"; member "+req.MemberID+" is fenced."), false
			}
		}
		if m == nil {
			return nil, nil, gs.fail(req, errUnknownMemberID, "Member "+req.MemberID+" is not a member of group "+g.ID+"."), false
		}
		if req.MemberEpoch != m.Epoch {
			// Only an older epoch may be the previous one whose response
			// was lost (Kafka checks "greater" first): a static member that
			// left (epoch -2) must not be revived by a delayed heartbeat
			// carrying its old epoch.
			owned := ownedPartitions(req.Topics)
			if req.MemberEpoch > m.Epoch || req.MemberEpoch != m.PreviousEpoch || req.Topics == nil || !subset(owned, m.Assigned) {
				return nil, nil, gs.fail(req, errFencedMemberEpoch, "The member epoch "+strconv.Itoa(int(req.MemberEpoch))+" is fenced; the current epoch is "+strconv.Itoa(int(m.Epoch))+"."), false
			}
		}
		return m, nil, Outcome{}, true
	}
	if req.InstanceID != nil {
		if prev := g.staticMember(*req.InstanceID); prev != nil && prev.ID != req.MemberID {
			if prev.Epoch != staticLeaveEpoch {
				return nil, nil, gs.fail(req, errUnreleasedInstanceID, "Static member "+*req.InstanceID+" is still held by member "+prev.ID+"."), false
			}
			// The successor starts from its predecessor's metadata, so that
			// the request's fields count as changes only where they differ.
			next := &Member{
				ID: req.MemberID, InstanceID: prev.InstanceID, RackID: prev.RackID,
				ClientID: prev.ClientID, ClientHost: prev.ClientHost,
				SubscribedTopicNames: slices.Clone(prev.SubscribedTopicNames),
				SubscribedTopicRegex: prev.SubscribedTopicRegex, regex: prev.regex,
				RebalanceTimeout: prev.RebalanceTimeout, ServerAssignor: prev.ServerAssignor,
				Assigned: prev.Assigned.clone(), PendingRevocation: prev.PendingRevocation.clone(),
				State: prev.State, assignmentEpochs: maps.Clone(prev.assignmentEpochs),
			}
			target := g.Target[prev.ID]
			delete(g.Members, prev.ID)
			delete(g.Target, prev.ID)
			recs := removalTombstones(g.ID, prev.ID)
			if target != nil {
				g.Target[next.ID] = target
				recs = append(recs, targetMemberRecord(g.ID, next.ID, target))
			}
			g.setOwnership(next, nil, nil)
			return next, []removal{{prev.ID, recs}}, Outcome{}, true
		}
	}
	if m == nil {
		// Checked before anything changes (a static replacement above does
		// not grow the group).
		if len(g.Members) >= gs.cfg.MaxSize {
			return nil, nil, gs.fail(req, errGroupMaxSizeReached, "The consumer group has reached its maximum capacity of "+strconv.Itoa(gs.cfg.MaxSize)+" members."), false
		}
		m = &Member{ID: req.MemberID, Assigned: Partitions{}, PendingRevocation: Partitions{}, assignmentEpochs: map[TopicPartition]int32{}}
	}
	return m, nil, Outcome{}, true
}

// update applies the request's member metadata, reporting whether the
// stored metadata and the subscription changed.
func (m *Member) update(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, regex *string) (metaChanged, subChanged bool) {
	setStr := func(dst **string, v *string) {
		if v != nil && (*dst == nil || **dst != *v) {
			s := *v
			*dst = &s
			metaChanged = true
		}
	}
	setStr(&m.InstanceID, req.InstanceID)
	setStr(&m.RackID, req.RackID)
	setStr(&m.ServerAssignor, req.ServerAssignor)
	if client.ID != m.ClientID || client.Host != m.ClientHost {
		m.ClientID, m.ClientHost = client.ID, client.Host
		metaChanged = true
	}
	if req.RebalanceTimeoutMillis >= 0 {
		if d := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond; d != m.RebalanceTimeout {
			m.RebalanceTimeout = d
			metaChanged = true
		}
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if m.SubscribedTopicNames == nil || !slices.Equal(names, m.SubscribedTopicNames) {
			m.SubscribedTopicNames = names
			metaChanged, subChanged = true, true
		}
	}
	if req.SubscribedTopicRegex != nil {
		switch {
		case regex == nil && m.SubscribedTopicRegex != nil:
			m.SubscribedTopicRegex, m.regex = nil, nil
			metaChanged, subChanged = true, true
		case regex != nil && (m.SubscribedTopicRegex == nil || *m.SubscribedTopicRegex != *regex):
			s := *regex
			m.SubscribedTopicRegex = &s
			m.regex, _ = compileRegex(s) // validated by Heartbeat
			metaChanged, subChanged = true, true
		}
	}
	if m.SubscribedTopicNames == nil {
		m.SubscribedTopicNames = []string{}
	}
	return metaChanged, subChanged
}

// leave handles epochs -1 (leave) and -2 (a static member leaving for a
// while: it keeps its partitions until its session expires or it rejoins).
// A static member is found by its instance ID, and a leave carrying another
// member ID is refused with FENCED_INSTANCE_ID, as Kafka does: the delayed
// leave of a process's previous incarnation must not remove the member that
// replaced it.
func (gs *Groups) leave(g *Group, req *kmsg.ConsumerGroupHeartbeatRequest) Outcome {
	if g == nil {
		return gs.fail(req, errGroupIDNotFound, "Group "+req.Group+" not found.")
	}
	var m *Member
	if req.InstanceID != nil {
		m = g.staticMember(*req.InstanceID)
		if m == nil {
			return gs.fail(req, errUnknownMemberID, "Instance "+*req.InstanceID+" is not a member of group "+req.Group+".")
		}
		if m.ID != req.MemberID {
			return gs.fail(req, errFencedInstanceID, "Static member "+*req.InstanceID+" is now member "+m.ID+", not "+req.MemberID+".")
		}
	} else if m = g.Members[req.MemberID]; m == nil {
		return gs.fail(req, errUnknownMemberID, "Member "+req.MemberID+" is not a member of group "+req.Group+".")
	}
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = req.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(gs.cfg.HeartbeatInterval.Milliseconds())
	if req.MemberEpoch == staticLeaveEpoch {
		// As Kafka does: the partitions it was revoking are released (a
		// closing client gives up everything it owns; members waiting for
		// them must not wait for its session to expire), and the ones it
		// keeps count as assigned at epoch 0 for its successor.
		oldAssigned, oldPending := m.Assigned, m.PendingRevocation
		m.PendingRevocation = Partitions{}
		m.assignmentEpochs = make(map[TopicPartition]int32, m.Assigned.count())
		for tp := range m.Assigned.each() {
			m.assignmentEpochs[tp] = 0
		}
		g.setOwnership(m, oldAssigned, oldPending)
		m.PreviousEpoch, m.Epoch = m.Epoch, staticLeaveEpoch
		// The session timer keeps running: the member is removed if it
		// does not come back in time.
		return Outcome{Response: resp, Records: []Record{currentAssignmentRecord(g.ID, m)}, Revocation: RevocationCancel, Member: ""}
	}
	return Outcome{Response: resp, Records: g.removeMember(m), Removed: []string{m.ID}}
}

// Expire removes a member whose session timed out, or whose rebalance
// timeout passed while it still had partitions to revoke (revocation
// true); nil if nothing applies any more.
func (gs *Groups) Expire(groupID, memberID string, revocation bool) []Record {
	g := gs.groups[groupID]
	if g == nil {
		return nil
	}
	m := g.Members[memberID]
	if m == nil || (revocation && m.State != StateUnrevokedPartitions) {
		return nil
	}
	return g.removeMember(m)
}

// Members returns every member ID with its group, for arming session
// timers after a load.
func (gs *Groups) Members() [][2]string {
	var out [][2]string
	for _, id := range gs.IDs() {
		for _, m := range gs.groups[id].sortedMembers() {
			out = append(out, [2]string{id, m.ID})
		}
	}
	return out
}

func ownedPartitions(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) Partitions {
	p := Partitions{}
	for _, t := range ts {
		p.add(t.TopicID, t.Partitions...)
	}
	return p
}

func subset(a, b Partitions) bool {
	for tp := range a.each() {
		if !b.has(tp.Topic, tp.Partition) {
			return false
		}
	}
	return true
}

func responseAssignment(p Partitions) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, t := range p.sortedTopics() {
		rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		rt.TopicID = t
		rt.Partitions = slices.Clone(p[t])
		a.Topics = append(a.Topics, rt)
	}
	return &a
}
