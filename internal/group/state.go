package group

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// State is a classic group's state, with Kafka's names.
type State int8

// Kafka's classic group states.
const (
	// Empty: no members; offsets may still be committed (simple
	// consumers, admin tools) and expire after the group became empty.
	Empty State = iota
	// PreparingRebalance: waiting for the members to (re)join.
	PreparingRebalance
	// CompletingRebalance: joined; waiting for the leader's assignment.
	CompletingRebalance
	// Stable: the assignment is out; members heartbeat.
	Stable
	// Dead: the group does not exist (DescribeGroups of an unknown group).
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

// String returns Kafka's name of the state, as DescribeGroups and
// ListGroups show it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// parseState reads a state name case-insensitively (ListGroups filters).
func parseState(name string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(strings.TrimSpace(name), n) {
			return State(i), true
		}
	}
	return 0, false
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// subscription metadata the coordinator can read.
const consumerProtocolType = "consumer"

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id         string
	instanceID *string // group.instance.id of a static member; nil if dynamic
	clientID   string
	clientHost string

	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol // in the member's order of preference
	assignment       []byte

	// Parked requests: the JoinGroup waiting for the join phase and the
	// SyncGroup waiting for the leader's assignment, with their versions
	// (the response shape depends on them). Zero when none.
	joinWait    coordinator.Handle
	joinVersion int16
	syncWait    coordinator.Handle
	syncVersion int16

	// isNew is set from a member's first join until its join phase
	// completes: a new member is expired by NewMemberJoinTimeout even while
	// its JoinGroup is parked.
	isNew bool
}

func (m *member) static() bool { return m.instanceID != nil }

// metadata returns the member's metadata for the named protocol.
func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether the member's protocols equal the request's, in
// order, as Kafka compares them before skipping a rebalance.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].name || !bytes.Equal(p.Metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

func toProtocols(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{name: p.Name, metadata: p.Metadata}
	}
	return out
}

type group struct {
	id        string
	state     State
	prevState State
	// stateTime is when the group entered its state (Kafka's
	// currentStateTimestamp); zero when unknown. Offsets of an Empty group
	// expire relative to it.
	stateTime  time.Time
	generation int32
	// protocolType is "" for a simple group (offsets only, never joined).
	protocolType string
	protocol     string // "" when no generation is running
	leader       string // "" when none

	members map[string]*member
	order   []string          // member IDs in join order: deterministic output
	static  map[string]string // group.instance.id -> member ID
	// pending are member IDs handed out with MEMBER_ID_REQUIRED whose
	// owners have not joined yet (KIP-394); they hold up the join phase
	// until they join or their session timeout passes.
	pending map[string]bool
	// pendingSync are members of the current generation that have not sent
	// SyncGroup yet.
	pendingSync map[string]bool

	// The initial rebalance of an empty group waits InitialRebalanceDelay,
	// and again while members keep arriving, up to the rebalance timeout.
	initialRebalance bool
	newMemberAdded   bool
	initialDelay     time.Duration
	initialRemaining time.Duration

	// subscribed are the topics the members subscribe to, when the group
	// uses the consumer protocol and every subscription could be read.
	subscribed      map[string]bool
	subscribedKnown bool
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:          id,
		state:       Empty,
		prevState:   Empty,
		stateTime:   now,
		members:     make(map[string]*member),
		static:      make(map[string]string),
		pending:     make(map[string]bool),
		pendingSync: make(map[string]bool),
	}
}

func (g *group) is(states ...State) bool { return slices.Contains(states, g.state) }

func (g *group) transition(to State, now time.Time) {
	g.prevState = g.state
	g.state = to
	g.stateTime = now
}

// canRebalance: PreparingRebalance may follow Stable, CompletingRebalance
// and Empty.
func (g *group) canRebalance() bool { return g.is(Stable, CompletingRebalance, Empty) }

func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	delete(g.pending, m.id)
}

// remove drops a member; the caller has completed its parked requests.
func (g *group) remove(id string) {
	if m, ok := g.members[id]; ok {
		delete(g.members, id)
		g.order = slices.DeleteFunc(g.order, func(x string) bool { return x == id })
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pending, id)
	delete(g.pendingSync, id)
}

// allMembers returns the members in join order.
func (g *group) allMembers() []*member {
	out := make([]*member, 0, len(g.order))
	for _, id := range g.order {
		out = append(out, g.members[id])
	}
	return out
}

// allJoined: every member has rejoined and no MEMBER_ID_REQUIRED member is
// still outstanding.
func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.joinWait == 0 {
			return false
		}
	}
	return len(g.pending) == 0
}

func (g *group) numAwaitingJoin() int {
	n := 0
	for _, m := range g.members {
		if m.joinWait != 0 {
			n++
		}
	}
	return n
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// candidates are the protocols every member supports.
func (g *group) candidates() map[string]bool {
	count := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			count[p.name]++
		}
	}
	out := map[string]bool{}
	for name, n := range count {
		if n == len(g.members) {
			out[name] = true
		}
	}
	return out
}

// supportsProtocols: whether a member with these protocols may join. An
// Empty group takes any non-empty protocol type and list; otherwise the type
// must match and one protocol must be supported by every member.
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == Empty {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	cands := g.candidates()
	for _, p := range ps {
		if cands[p.Name] {
			return true
		}
	}
	return false
}

// selectProtocol lets each member vote for its preferred common protocol;
// the most votes win, ties going to the protocol the leader prefers first
// (Kafka breaks ties by hash order; any member-supported choice is valid).
func (g *group) selectProtocol() string {
	cands := g.candidates()
	votes := map[string]int{}
	for _, m := range g.members {
		votes[m.vote(cands)]++
	}
	best, bestVotes := "", -1
	order := g.allMembers()
	if l := g.members[g.leader]; l != nil {
		order = append([]*member{l}, order...)
	}
	for _, m := range order {
		for _, p := range m.protocols {
			if n, ok := votes[p.name]; ok && n > bestVotes {
				best, bestVotes = p.name, n
			}
		}
	}
	return best
}

// validateMember checks a (member ID, group.instance.id) pair: an instance
// ID must map to this member ID (else FENCED_INSTANCE_ID, or
// UNKNOWN_MEMBER_ID when unknown), and the member must exist.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		existing, ok := g.static[*instanceID]
		if !ok {
			return errUnknownMemberID
		}
		if existing != memberID {
			return errFencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return errUnknownMemberID
	}
	return 0
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, or else picks
// the first member that did. False when no member rejoined.
func (g *group) maybeElectNewJoinedLeader() bool {
	l := g.members[g.leader]
	if l == nil {
		return false
	}
	if l.joinWait != 0 {
		return true
	}
	for _, m := range g.allMembers() {
		if m.joinWait != 0 {
			g.leader = m.id
			return true
		}
	}
	return false
}

// computeSubscribed reads the topics of every member's consumer-protocol
// subscription for the selected protocol.
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType != consumerProtocolType {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subscribedKnown = map[string]bool{}, true
		return
	}
	if g.protocol == "" {
		return
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		ts, ok := subscriptionTopics(m.metadata(g.protocol))
		if !ok {
			return
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	g.subscribed, g.subscribedKnown = topics, true
}

// isSubscribedTo: whether the group actively consumes topic. When the
// subscriptions are unknown, a consumer group is assumed subscribed (its
// offsets are kept), any other group is not.
func (g *group) isSubscribedTo(topic string) bool {
	if g.subscribedKnown {
		return g.subscribed[topic]
	}
	return g.protocolType == consumerProtocolType
}

// isSimple: a group created by offset commits alone, never joined.
func (g *group) isSimple() bool { return g.protocolType == "" }
