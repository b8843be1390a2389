package consumergroup

// Records of KIP-848 consumer groups in __consumer_offsets, in Kafka's own
// schemas (kmsg does not carry them, so they are encoded here with kbin).
// A key is an int16 record type followed by non-flexible fields; a value is
// an int16 version (0) followed by flexible fields ending in tagged fields.
// Types written: 3 group metadata, 5 member metadata, 6 target assignment
// metadata, 7 target assignment of a member, 8 current assignment of a
// member. Type 4 (subscription metadata, replaced by the metadata hash in
// Kafka 4.1) is read and ignored.

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Record types (the int16 that starts a key).
const (
	TypeGroupMetadata            int16 = 3
	TypePartitionMetadata        int16 = 4
	TypeMemberMetadata           int16 = 5
	TypeTargetAssignmentMetadata int16 = 6
	TypeTargetAssignmentMember   int16 = 7
	TypeCurrentMemberAssignment  int16 = 8
)

// Record is one __consumer_offsets record; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// ErrBadRecord reports a record that does not decode.
var ErrBadRecord = errors.New("consumergroup: undecodable record")

func groupKey(typ int16, groupID string) []byte {
	b := kbin.AppendInt16(nil, typ)
	return kbin.AppendString(b, groupID)
}

func memberKey(typ int16, groupID, memberID string) []byte {
	return kbin.AppendString(groupKey(typ, groupID), memberID)
}

func appendNoTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

// groupMetadataRecord: ConsumerGroupMetadataValue v0 (Epoch; tagged 0
// MetadataHash, tagged 1 CreationTimeMs).
func groupMetadataRecord(g *Group) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, g.Epoch)
	v = kbin.AppendUvarint(v, 2) // two tagged fields
	v = kbin.AppendUvarint(v, 0)
	v = kbin.AppendUvarint(v, 8)
	v = kbin.AppendInt64(v, g.MetadataHash)
	v = kbin.AppendUvarint(v, 1)
	v = kbin.AppendUvarint(v, 8)
	v = kbin.AppendInt64(v, g.CreationTime.UnixMilli())
	return Record{Key: groupKey(TypeGroupMetadata, g.ID), Value: v}
}

// memberMetadataRecord: ConsumerGroupMemberMetadataValue v0.
func memberMetadataRecord(groupID string, m *Member) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendCompactNullableString(v, m.InstanceID)
	v = kbin.AppendCompactNullableString(v, m.RackID)
	v = kbin.AppendCompactString(v, m.ClientID)
	v = kbin.AppendCompactString(v, m.ClientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.SubscribedTopicNames))
	for _, t := range m.SubscribedTopicNames {
		v = kbin.AppendCompactString(v, t)
	}
	v = kbin.AppendCompactNullableString(v, m.SubscribedTopicRegex)
	v = kbin.AppendInt32(v, int32(m.RebalanceTimeout.Milliseconds()))
	v = kbin.AppendCompactNullableString(v, m.ServerAssignor)
	v = appendNoTags(v)
	return Record{Key: memberKey(TypeMemberMetadata, groupID, m.ID), Value: v}
}

// targetMetadataRecord: ConsumerGroupTargetAssignmentMetadataValue v0.
func targetMetadataRecord(g *Group) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, g.AssignmentEpoch)
	v = appendNoTags(v)
	return Record{Key: groupKey(TypeTargetAssignmentMetadata, g.ID), Value: v}
}

// targetMemberRecord: ConsumerGroupTargetAssignmentMemberValue v0.
func targetMemberRecord(groupID, memberID string, p Partitions) Record {
	v := kbin.AppendInt16(nil, 0)
	v = appendTopicPartitions(v, p, nil)
	v = appendNoTags(v)
	return Record{Key: memberKey(TypeTargetAssignmentMember, groupID, memberID), Value: v}
}

// currentAssignmentRecord: ConsumerGroupCurrentMemberAssignmentValue v0,
// with the KIP-1251 assignment epochs as tagged field 0 of each topic.
func currentAssignmentRecord(groupID string, m *Member) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, m.Epoch)
	v = kbin.AppendInt32(v, m.PreviousEpoch)
	v = kbin.AppendInt8(v, int8(m.State))
	v = appendTopicPartitions(v, m.Assigned, m.assignmentEpochs)
	v = appendTopicPartitions(v, m.PendingRevocation, nil)
	v = appendNoTags(v)
	return Record{Key: memberKey(TypeCurrentMemberAssignment, groupID, m.ID), Value: v}
}

func appendTopicPartitions(v []byte, p Partitions, epochs map[TopicPartition]int32) []byte {
	topics := p.sortedTopics()
	v = kbin.AppendCompactArrayLen(v, len(topics))
	for _, t := range topics {
		v = kbin.AppendUuid(v, t)
		ps := p[t]
		v = kbin.AppendCompactArrayLen(v, len(ps))
		for _, q := range ps {
			v = kbin.AppendInt32(v, q)
		}
		if epochs == nil {
			v = appendNoTags(v)
			continue
		}
		var tag []byte
		tag = kbin.AppendCompactArrayLen(tag, len(ps))
		for _, q := range ps {
			tag = kbin.AppendInt32(tag, epochs[TopicPartition{t, q}])
		}
		v = kbin.AppendUvarint(v, 1)
		v = kbin.AppendUvarint(v, 0)
		v = kbin.AppendUvarint(v, uint32(len(tag)))
		v = append(v, tag...)
	}
	return v
}

func tombstone(key []byte) Record { return Record{Key: key} }

// reader wraps kbin.Reader with bounds on counts: a hostile count must not
// make a loop run past the end of the input.
type reader struct{ kbin.Reader }

func (r *reader) count() int {
	// kbin refuses a count larger than the bytes left, so a hostile count
	// cannot make a loop outrun the input.
	return max(0, int(r.CompactArrayLen()))
}

// skipTags skips a tagged-field section, calling fn for each tag (fn may be
// nil).
func (r *reader) skipTags(fn func(tag uint32, data []byte)) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		data := r.Span(int(r.Uvarint()))
		if fn != nil {
			fn(tag, data)
		}
	}
}

func (r *reader) topicPartitions(epochs map[TopicPartition]int32) Partitions {
	out := Partitions{}
	for range r.count() {
		if !r.Ok() {
			break
		}
		t := r.Uuid()
		n := r.count()
		ps := make([]int32, 0, min(n, 1024))
		for range n {
			ps = append(ps, r.Int32())
		}
		r.skipTags(func(tag uint32, data []byte) {
			if tag != 0 || epochs == nil {
				return
			}
			tr := reader{kbin.Reader{Src: data}}
			k := tr.count()
			for i := 0; i < k && i < len(ps) && tr.Ok(); i++ {
				epochs[TopicPartition{t, ps[i]}] = tr.Int32()
			}
		})
		out.add(t, ps...)
	}
	return out
}

// replayRecord applies one record to gs. The key's type has been checked
// to be one of this package's.
func (gs *Groups) replayRecord(typ int16, key, value []byte) (err error) {
	kr := reader{kbin.Reader{Src: key[2:]}}
	groupID := kr.String()
	var memberID string
	switch typ {
	case TypeMemberMetadata, TypeTargetAssignmentMember, TypeCurrentMemberAssignment:
		memberID = kr.String()
	}
	if err := kr.Complete(); err != nil {
		return fmt.Errorf("%w: key of type %d: %w", ErrBadRecord, typ, err)
	}
	var vr reader
	if value != nil {
		vr = reader{kbin.Reader{Src: value}}
		if ver := vr.Int16(); ver != 0 {
			return fmt.Errorf("%w: type %d value version %d", ErrBadRecord, typ, ver)
		}
	}
	g := gs.groups[groupID]
	if g == nil {
		if value == nil {
			return nil
		}
		g = newGroup(groupID, time.Time{})
		gs.groups[groupID] = g
		defer func() {
			if err != nil {
				delete(gs.groups, groupID) // a bad record leaves no trace
			}
		}()
	}
	switch typ {
	case TypeGroupMetadata:
		if value == nil {
			delete(gs.groups, groupID)
			return nil
		}
		g.Epoch = vr.Int32()
		vr.skipTags(func(tag uint32, data []byte) {
			tr := reader{kbin.Reader{Src: data}}
			switch tag {
			case 0:
				g.MetadataHash = tr.Int64()
			case 1:
				if ms := tr.Int64(); ms >= 0 && tr.Ok() {
					g.CreationTime = time.UnixMilli(ms)
				}
			}
		})
	case TypePartitionMetadata:
		return nil
	case TypeMemberMetadata:
		if value == nil {
			delete(g.Members, memberID)
			return nil
		}
		m := g.Members[memberID]
		if m == nil {
			m = &Member{ID: memberID, Assigned: Partitions{}, PendingRevocation: Partitions{}, assignmentEpochs: map[TopicPartition]int32{}}
		}
		m.InstanceID = vr.CompactNullableString()
		m.RackID = vr.CompactNullableString()
		m.ClientID = vr.CompactString()
		m.ClientHost = vr.CompactString()
		n := vr.count()
		m.SubscribedTopicNames = make([]string, 0, min(n, 1024))
		for range n {
			m.SubscribedTopicNames = append(m.SubscribedTopicNames, vr.CompactString())
		}
		m.SubscribedTopicRegex = vr.CompactNullableString()
		m.RebalanceTimeout = time.Duration(vr.Int32()) * time.Millisecond
		m.ServerAssignor = vr.CompactNullableString()
		vr.skipTags(nil)
		if vr.Ok() {
			g.Members[memberID] = m
		}
	case TypeTargetAssignmentMetadata:
		if value == nil {
			g.AssignmentEpoch = 0
			return nil
		}
		g.AssignmentEpoch = vr.Int32()
		vr.skipTags(nil)
	case TypeTargetAssignmentMember:
		if value == nil {
			delete(g.Target, memberID)
			return nil
		}
		p := vr.topicPartitions(nil)
		vr.skipTags(nil)
		if vr.Ok() {
			g.Target[memberID] = p
		}
	case TypeCurrentMemberAssignment:
		m := g.Members[memberID]
		if value == nil {
			if m != nil {
				m.Epoch, m.PreviousEpoch, m.State = 0, 0, StateStable
				m.Assigned, m.PendingRevocation = Partitions{}, Partitions{}
				m.assignmentEpochs = map[TopicPartition]int32{}
			}
			return nil
		}
		if m == nil {
			// The metadata record comes first in what Fjord writes; a
			// compacted log may order them either way.
			m = &Member{ID: memberID}
			g.Members[memberID] = m
		}
		m.Epoch = vr.Int32()
		m.PreviousEpoch = vr.Int32()
		m.State = MemberState(vr.Int8())
		m.assignmentEpochs = map[TopicPartition]int32{}
		m.Assigned = vr.topicPartitions(m.assignmentEpochs)
		m.PendingRevocation = vr.topicPartitions(nil)
		vr.skipTags(nil)
		for tp := range m.Assigned.each() {
			if _, ok := m.assignmentEpochs[tp]; !ok {
				m.assignmentEpochs[tp] = m.Epoch
			}
		}
	}
	// Trailing bytes (a newer Kafka's fields) are ignored; running short is
	// an error.
	if err = vr.Complete(); value != nil && err != nil {
		return fmt.Errorf("%w: %s type %d: %w", ErrBadRecord, groupID, typ, err)
	}
	return nil
}

// sortedTopics returns the topics of p in byte order.
func (p Partitions) sortedTopics() []TopicID {
	ts := make([]TopicID, 0, len(p))
	for t := range p {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, compareIDs)
	return ts
}
