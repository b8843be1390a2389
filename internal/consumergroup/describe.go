package consumergroup

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// More of Kafka's codes, for offset commits and fetches from members.
var (
	errUnsupportedVersion = kerr.UnsupportedVersion.Code
	errStaleMemberEpoch   = kerr.StaleMemberEpoch.Code
)

// memberTypeConsumer is ConsumerGroupDescribe v1's MemberType of a member
// speaking the consumer protocol (0 is classic).
const memberTypeConsumer int8 = 1

// Describe answers ConsumerGroupDescribe (key 69) for one group; false if
// the group is not a consumer group here.
func (gs *Groups) Describe(id string, topics Topics) (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = id
	d.AuthorizedOperations = -2147483648 // not requested / not computed
	g := gs.groups[id]
	if g == nil {
		return d, false
	}
	d.State = string(g.State())
	d.Epoch = g.Epoch
	d.AssignmentEpoch = g.AssignmentEpoch
	d.AssignorName = g.Assignor
	if d.AssignorName == "" {
		d.AssignorName = gs.preferredAssignor(g).Name()
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.ID
		dm.InstanceID = m.InstanceID
		dm.RackID = m.RackID
		dm.MemberEpoch = m.Epoch
		dm.ClientID = m.ClientID
		dm.ClientHost = m.ClientHost
		dm.SubscribedTopics = slices.Clone(m.SubscribedTopicNames)
		dm.SubscribedTopicRegex = m.SubscribedTopicRegex
		dm.Assignment = describeAssignment(m.Assigned, topics)
		dm.TargetAssignment = describeAssignment(g.Target[m.ID], topics)
		dm.MemberType = memberTypeConsumer
		d.Members = append(d.Members, dm)
	}
	return d, true
}

func describeAssignment(p Partitions, topics Topics) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, t := range p.sortedTopics() {
		name, _, ok := topics.ByID(t)
		if !ok {
			// A deleted topic is left out, as Kafka does: a client
			// cannot name it.
			continue
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic = t, name
		tp.Partitions = slices.Clone(p[t])
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

// NamedPartition is a partition as OffsetCommit names it.
type NamedPartition struct {
	Topic     string
	Partition int32
}

// ValidateCommit checks an OffsetCommit of group id by memberID at epoch
// (the request's generation field), as Kafka 4.3 does with KIP-1251: a
// commit from an older epoch still counts for partitions the member was
// given at or before that epoch (assigned or pending revocation); a newer
// epoch is STALE_MEMBER_EPOCH too, never FENCED_MEMBER_EPOCH (that code
// belongs to the heartbeat). A commit with a negative epoch (admin tools,
// simple consumers, a consumer that left the group and keeps its member
// ID) is allowed while the group is empty. It returns a Kafka error code (0
// when valid).
func (gs *Groups) ValidateCommit(id, memberID string, epoch int32, version int16, topics Topics, committed []NamedPartition) int16 {
	g := gs.groups[id]
	if g == nil {
		return errNone
	}
	if epoch < 0 && len(g.Members) == 0 {
		return errNone
	}
	m := g.Members[memberID]
	if m == nil {
		return errUnknownMemberID
	}
	if version < 9 {
		// Members of the consumer protocol commit with OffsetCommit v9+.
		return errUnsupportedVersion
	}
	switch {
	case epoch > m.Epoch:
		return errStaleMemberEpoch
	case epoch == m.Epoch:
		return errNone
	}
	for _, np := range committed {
		tid, _, ok := topics.ByName(np.Topic)
		if !ok {
			return errStaleMemberEpoch
		}
		at, assigned := m.AssignmentEpoch(TopicPartition{tid, np.Partition})
		if !assigned || at > epoch {
			return errStaleMemberEpoch
		}
	}
	return errNone
}

// ValidateFetch checks an OffsetFetch v9+ of group id, as Kafka does: a
// request without member ID and with a negative epoch (admin tools, older
// versions) is accepted; otherwise the member must exist and the epoch be
// its current one (STALE_MEMBER_EPOCH either way it differs).
func (gs *Groups) ValidateFetch(id string, memberID *string, epoch int32) int16 {
	g := gs.groups[id]
	if g == nil || (memberID == nil && epoch < 0) {
		return errNone
	}
	var m *Member
	if memberID != nil {
		m = g.Members[*memberID]
	}
	switch {
	case m == nil:
		return errUnknownMemberID
	case epoch != m.Epoch:
		return errStaleMemberEpoch
	}
	return errNone
}

// Empty reports whether the group has no members (it may be deleted).
func (g *Group) Empty() bool { return len(g.Members) == 0 }
