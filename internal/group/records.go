package group

// Records of __consumer_offsets, in Kafka's schemas (kmsg has them): the key
// starts with an int16 naming the record type. 0 and 1 are offset commits,
// 2 is group metadata; higher values belong to KIP-848 consumer groups,
// share groups and streams groups, which the classic coordinator ignores.
// Versions written are the ones Kafka writes today: OffsetCommitKey v1,
// OffsetCommitValue v3 (v1 when the commit carries an expire timestamp),
// GroupMetadataKey v2, GroupMetadataValue v3.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

const (
	offsetCommitKeyVersion      = 1
	groupMetadataKeyVersion     = 2
	offsetCommitValueVersion    = 3
	offsetCommitValueVersionTTL = 1 // with ExpireTimestamp (OffsetCommit v2-v4 retention)
	groupMetadataValueVersion   = 3
)

func offsetKey(groupID, topic string, partition int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetCommitKeyVersion
	k.Group, k.Topic, k.Partition = groupID, topic, partition
	return k.AppendTo(nil)
}

func offsetRecord(groupID string, tp topicPartition, o offsetValue) coordinator.Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitTime.UnixMilli()
	v.ExpireTimestamp = -1
	if !o.expireTime.IsZero() {
		v.Version = offsetCommitValueVersionTTL
		v.ExpireTimestamp = o.expireTime.UnixMilli()
	}
	return coordinator.Record{Key: offsetKey(groupID, tp.topic, tp.partition), Value: v.AppendTo(nil)}
}

func offsetTombstone(groupID string, tp topicPartition) coordinator.Record {
	return coordinator.Record{Key: offsetKey(groupID, tp.topic, tp.partition)}
}

func groupKey(groupID string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = groupMetadataKeyVersion
	k.Group = groupID
	return k.AppendTo(nil)
}

func groupTombstone(groupID string) coordinator.Record {
	return coordinator.Record{Key: groupKey(groupID)}
}

// groupRecord is the group's metadata as Kafka writes it after a join phase
// that left the group empty, after the leader's assignment, and after a
// static member took a new member ID.
func groupRecord(g *group) coordinator.Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = nilIfEmpty(g.protocol)
	v.Leader = nilIfEmpty(g.leader)
	v.CurrentStateTimestamp = -1
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, m := range g.allMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadata(g.protocol)
		vm.Assignment = m.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return coordinator.Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

func (c *Coordinator) appendGroupMetadata(g *group, out *coordinator.Result) {
	out.Records = append(out.Records, groupRecord(g))
}
