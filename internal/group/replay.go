package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrBadRecord reports a __consumer_offsets record Replay could not decode.
var ErrBadRecord = errors.New("group: undecodable __consumer_offsets record")

// ErrUnknownRecord reports a record type the classic coordinator does not
// use (KIP-848 consumer groups, share groups, ...); it is skipped.
var ErrUnknownRecord = errors.New("group: record type not used by the classic group coordinator")

// Replay applies one record of the partition: offset commits and their
// tombstones, group metadata and their tombstones. Later records replace
// earlier ones with the same key, as compaction would. A record that cannot
// be decoded changes nothing and is reported.
func (c *Coordinator) Replay(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	switch v := int16(binary.BigEndian.Uint16(key)); v {
	case 0, 1:
		return c.replayOffset(key, value)
	case 2:
		return c.replayGroup(key, value)
	case 3, 4, 5, 6, 7, 8:
		if err := c.consumer.Replay(key, value); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRecord, err)
		}
		return nil
	default:
		return fmt.Errorf("%w: key version %d", ErrUnknownRecord, v)
	}
}

func (c *Coordinator) replayOffset(key, value []byte) error {
	if value == nil {
		k := kmsg.NewOffsetCommitKey()
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("%w: offset commit key: %w", ErrBadRecord, err)
		}
		if offs := c.offsets[k.Group]; offs != nil {
			delete(offs, topicPartition{k.Topic, k.Partition})
			if len(offs) == 0 {
				delete(c.offsets, k.Group)
			}
		}
		return nil
	}
	groupID, tp, o, err := decodeOffset(key, value)
	if err != nil {
		return err
	}
	// A group that only commits offsets (a "simple" consumer, an admin
	// tool) exists as an Empty group without protocol type.
	if c.groups[groupID] == nil {
		c.groups[groupID] = newGroup(groupID, time.Time{})
	}
	c.putOffset(groupID, tp, o)
	return nil
}

// decodeOffset reads an offset commit record (not a tombstone).
func decodeOffset(key, value []byte) (string, topicPartition, offsetValue, error) {
	k := kmsg.NewOffsetCommitKey()
	if err := k.ReadFrom(key); err != nil {
		return "", topicPartition{}, offsetValue{}, fmt.Errorf("%w: offset commit key: %w", ErrBadRecord, err)
	}
	tp := topicPartition{k.Topic, k.Partition}
	v := kmsg.NewOffsetCommitValue()
	if err := v.ReadFrom(value); err != nil {
		return "", tp, offsetValue{}, fmt.Errorf("%w: offset commit value of %s %s-%d: %w", ErrBadRecord, k.Group, k.Topic, k.Partition, err)
	}
	o := offsetValue{
		offset:      v.Offset,
		leaderEpoch: -1,
		metadata:    v.Metadata,
		commitTime:  time.UnixMilli(v.CommitTimestamp),
	}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 && v.ExpireTimestamp >= 0 {
		o.expireTime = time.UnixMilli(v.ExpireTimestamp)
	}
	return k.Group, tp, o, nil
}

// putOffset stores a committed offset, stamped with its place in the
// partition's order unless it has one (a transaction's, stamped when its
// TxnOffsetCommit was written).
func (c *Coordinator) putOffset(groupID string, tp topicPartition, o offsetValue) {
	offs := c.offsets[groupID]
	if offs == nil {
		offs = make(map[topicPartition]offsetValue)
		c.offsets[groupID] = offs
	}
	if o.seq == 0 {
		c.seq++
		o.seq = c.seq
	}
	offs[tp] = o
}

func (c *Coordinator) replayGroup(key, value []byte) error {
	k := kmsg.NewGroupMetadataKey()
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: group metadata key: %w", ErrBadRecord, err)
	}
	if value == nil {
		c.deleteGroup(k.Group)
		return nil
	}
	v := kmsg.NewGroupMetadataValue()
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("%w: group metadata of %s: %w", ErrBadRecord, k.Group, err)
	}
	c.deleteGroup(k.Group)
	g := newGroup(k.Group, time.Time{})
	if v.CurrentStateTimestamp >= 0 && v.Version >= 2 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	for _, vm := range v.Members {
		if g.members[vm.MemberID] != nil {
			continue // a corrupt record; keep the first
		}
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			rebalanceTimeout: ms(vm.RebalanceTimeoutMillis),
			sessionTimeout:   ms(vm.SessionTimeoutMillis),
			protocolType:     v.ProtocolType,
			protocols:        []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if vm.RebalanceTimeoutMillis < 0 || v.Version == 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.add(m)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state, g.prevState = Stable, Stable
	}
	g.computeSubscribed()
	c.groups[k.Group] = g
	return nil
}
