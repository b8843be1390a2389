package consumergroup

import (
	"bytes"
	"iter"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/assignor"
)

// invalidateSubscriptions drops the cached resolution after a change of
// membership or subscription.
func (g *Group) invalidateSubscriptions() { g.subs.valid = false }

// TopicID is a Kafka topic UUID.
type TopicID = assignor.TopicID

// TopicPartition names one partition by topic ID.
type TopicPartition struct {
	Topic     TopicID
	Partition int32
}

// Partitions maps a topic to its sorted, distinct partitions; a topic with
// none is absent.
type Partitions map[TopicID][]int32

func (p Partitions) add(t TopicID, ps ...int32) {
	if len(ps) == 0 {
		return
	}
	merged := append(slices.Clone(p[t]), ps...)
	slices.Sort(merged)
	p[t] = slices.Compact(merged)
}

func (p Partitions) has(t TopicID, q int32) bool {
	_, ok := slices.BinarySearch(p[t], q)
	return ok
}

// each yields every partition, topics in byte order.
func (p Partitions) each() iter.Seq[TopicPartition] {
	return func(yield func(TopicPartition) bool) {
		for _, t := range p.sortedTopics() {
			for _, q := range p[t] {
				if !yield(TopicPartition{t, q}) {
					return
				}
			}
		}
	}
}

func (p Partitions) count() int {
	n := 0
	for _, ps := range p {
		n += len(ps)
	}
	return n
}

func (p Partitions) equal(o Partitions) bool {
	if len(p) != len(o) {
		return false
	}
	for t, ps := range p {
		if !slices.Equal(ps, o[t]) {
			return false
		}
	}
	return true
}

func (p Partitions) clone() Partitions {
	out := make(Partitions, len(p))
	for t, ps := range p {
		out[t] = slices.Clone(ps)
	}
	return out
}

func compareIDs(a, b TopicID) int { return bytes.Compare(a[:], b[:]) }

// MemberState is where a member is in reconciling its target assignment,
// with Kafka's names and on-disk values.
type MemberState int8

// Kafka's member states.
const (
	// StateStable: the member has its whole target assignment.
	StateStable MemberState = 0
	// StateUnrevokedPartitions: the member must give up partitions before
	// it may move to the target epoch.
	StateUnrevokedPartitions MemberState = 1
	// StateUnreleasedPartitions: the member is at the target epoch but
	// waits for partitions other members have not released yet.
	StateUnreleasedPartitions MemberState = 2
)

// String returns Kafka's name of the state.
func (s MemberState) String() string {
	switch s {
	case StateStable:
		return "STABLE"
	case StateUnrevokedPartitions:
		return "UNREVOKED_PARTITIONS"
	case StateUnreleasedPartitions:
		return "UNRELEASED_PARTITIONS"
	}
	return "UNKNOWN"
}

// Member is one member of a consumer group.
type Member struct {
	ID                   string
	InstanceID           *string
	RackID               *string
	ClientID, ClientHost string
	SubscribedTopicNames []string // sorted, distinct
	SubscribedTopicRegex *string
	RebalanceTimeout     time.Duration
	ServerAssignor       *string

	// Epoch is the member epoch the member must send; PreviousEpoch is
	// accepted too when the response that carried Epoch was lost.
	Epoch, PreviousEpoch int32
	State                MemberState
	// Assigned is what the member owns (or may own); PendingRevocation is
	// what it still owns but must give up.
	Assigned          Partitions
	PendingRevocation Partitions
	// assignmentEpochs is the member epoch at which each assigned
	// partition was given (KIP-1251): a commit carrying an older epoch is
	// still valid for a partition assigned at or before it.
	assignmentEpochs map[TopicPartition]int32

	regex *regexp.Regexp // compiled SubscribedTopicRegex; nil if none
}

// AssignmentEpoch returns the member epoch at which tp was assigned to the
// member, and whether it is assigned.
func (m *Member) AssignmentEpoch(tp TopicPartition) (int32, bool) {
	if !m.Assigned.has(tp.Topic, tp.Partition) && !m.PendingRevocation.has(tp.Topic, tp.Partition) {
		return 0, false
	}
	return m.assignmentEpochs[tp], true
}

// Group is one consumer group (KIP-848 protocol).
type Group struct {
	ID string
	// Epoch is the group epoch, bumped on every membership, subscription
	// or subscribed-metadata change; AssignmentEpoch is the group epoch
	// the target assignment was computed for.
	Epoch, AssignmentEpoch int32
	// MetadataHash summarises the subscribed topics (names, IDs,
	// partition counts) the target was computed from.
	MetadataHash int64
	CreationTime time.Time
	Members      map[string]*Member
	// Target is each member's target assignment.
	Target map[string]Partitions
	// Assignor is the assignor that computed the target (soft state).
	Assignor string

	// owners maps each partition to the member that holds it (assigned or
	// pending revocation): a partition goes to its next owner only once
	// released. Derived; rebuilt after replay.
	owners map[TopicPartition]string

	// subs caches the resolved subscriptions (derived, soft state).
	subs subscriptionCache
}

// subscriptionCache keeps the members' resolved subscriptions between
// heartbeats: resolving all members costs O(members) and each steady
// heartbeat only needs to know whether the subscribed topics changed,
// which the union's hash tells in O(subscribed topics).
type subscriptionCache struct {
	valid     bool
	names     []string         // every topic name a member lists
	regexes   []*regexp.Regexp // every distinct regular expression
	perMember map[string][]TopicID
	union     map[TopicID]assignor.Topic
	hash      int64
}

func newGroup(id string, now time.Time) *Group {
	return &Group{
		ID:           id,
		CreationTime: now,
		Members:      make(map[string]*Member),
		Target:       make(map[string]Partitions),
		owners:       make(map[TopicPartition]string),
	}
}

// GroupState is a consumer group's state, with Kafka's names.
type GroupState string

// Kafka's consumer group states.
const (
	GroupEmpty       GroupState = "Empty"
	GroupAssigning   GroupState = "Assigning"
	GroupReconciling GroupState = "Reconciling"
	GroupStable      GroupState = "Stable"
)

// State derives the group state as Kafka does.
func (g *Group) State() GroupState {
	switch {
	case len(g.Members) == 0:
		return GroupEmpty
	case g.Epoch != g.AssignmentEpoch:
		return GroupAssigning
	}
	for _, m := range g.Members {
		if m.Epoch != g.AssignmentEpoch || m.State != StateStable {
			return GroupReconciling
		}
	}
	return GroupStable
}

// sortedMembers returns the members in ID order.
func (g *Group) sortedMembers() []*Member {
	ms := make([]*Member, 0, len(g.Members))
	for _, id := range slices.Sorted(maps.Keys(g.Members)) {
		ms = append(ms, g.Members[id])
	}
	return ms
}

// staticMember returns the member holding instance ID id (the lowest
// member ID should a damaged log hold two). It runs on every static
// member's heartbeat, so it does not sort.
func (g *Group) staticMember(id string) *Member {
	var best *Member
	for _, m := range g.Members {
		if m.InstanceID != nil && *m.InstanceID == id && (best == nil || m.ID < best.ID) {
			best = m
		}
	}
	return best
}

// rebuildOwners recomputes the derived ownership map (after replay).
func (g *Group) rebuildOwners() {
	g.owners = make(map[TopicPartition]string)
	for _, m := range g.sortedMembers() {
		g.setOwnership(m, nil, nil)
	}
}

// setOwnership moves ownership from the member's old assigned and pending
// sets to its current ones.
func (g *Group) setOwnership(m *Member, oldAssigned, oldPending Partitions) {
	for _, old := range []Partitions{oldAssigned, oldPending} {
		for tp := range old.each() {
			if g.owners[tp] == m.ID {
				delete(g.owners, tp)
			}
		}
	}
	for _, cur := range []Partitions{m.Assigned, m.PendingRevocation} {
		for tp := range cur.each() {
			g.owners[tp] = m.ID
		}
	}
}
