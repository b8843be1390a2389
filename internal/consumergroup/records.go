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
// with the KIP-1251 assignment epochs as tagged field 0 of each topic. The
// partitions pending revocation carry theirs too (the field belongs to the
// shared TopicPartitions struct): a commit at an older epoch is judged by
// them, and a replayed member must judge it as the live one did.
func currentAssignmentRecord(groupID string, m *Member) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, m.Epoch)
	v = kbin.AppendInt32(v, m.PreviousEpoch)
	v = kbin.AppendInt8(v, int8(m.State))
	v = appendTopicPartitions(v, m.Assigned, m.assignmentEpochs)
	v = appendTopicPartitions(v, m.PendingRevocation, m.assignmentEpochs)
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

// topicPartitions reads a []TopicPartitions. With epochs non-nil, each
// topic's AssignmentEpochs (tagged field 0) are stored there; a topic whose
// epoch array is missing, null or not aligned with its partitions is given
// def for all of them, as Kafka does.
func (r *reader) topicPartitions(epochs map[TopicPartition]int32, def int32) Partitions {
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
		var aligned []int32
		r.skipTags(func(tag uint32, data []byte) {
			if tag != 0 || epochs == nil {
				return
			}
			tr := reader{kbin.Reader{Src: data}}
			k := int(tr.CompactArrayLen())
			es := make([]int32, 0, min(max(k, 0), 1024))
			for i := 0; i < k && tr.Ok(); i++ {
				es = append(es, tr.Int32())
			}
			if tr.Ok() && len(es) == len(ps) {
				aligned = es
			}
		})
		if epochs != nil {
			for i, q := range ps {
				e := def
				if aligned != nil {
					e = aligned[i]
				}
				epochs[TopicPartition{t, q}] = e
			}
		}
		out.add(t, ps...)
	}
	return out
}

// replayRecord applies one record to gs. The key's type has been checked
// to be one of this package's. A record is decoded whole before anything
// is changed: one that does not decode changes nothing (and so creates no
// group).
func (gs *Groups) replayRecord(typ int16, key, value []byte) error {
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
	if typ == TypePartitionMetadata {
		// Replaced by the metadata hash: read and ignored. It must not
		// create a group either, or a group whose other records were
		// deleted would come back empty.
		return nil
	}
	if value == nil {
		gs.replayTombstone(typ, groupID, memberID)
		return nil
	}
	vr := reader{kbin.Reader{Src: value}}
	if ver := vr.Int16(); !vr.Ok() || ver != 0 {
		return fmt.Errorf("%w: %s type %d value version %d", ErrBadRecord, groupID, typ, ver)
	}
	var apply func(g *Group)
	badTag := false
	switch typ {
	case TypeGroupMetadata:
		epoch := vr.Int32()
		var hash int64
		var created *time.Time
		vr.skipTags(func(tag uint32, data []byte) {
			tr := reader{kbin.Reader{Src: data}}
			switch tag {
			case 0:
				hash = tr.Int64()
			case 1:
				if ms := tr.Int64(); ms >= 0 && tr.Ok() {
					t := time.UnixMilli(ms)
					created = &t
				}
			default:
				return
			}
			badTag = badTag || !tr.Ok()
		})
		apply = func(g *Group) {
			g.Epoch, g.MetadataHash = epoch, hash
			if created != nil {
				g.CreationTime = *created
			}
		}
	case TypeMemberMetadata:
		var meta Member
		meta.InstanceID = vr.CompactNullableString()
		meta.RackID = vr.CompactNullableString()
		meta.ClientID = vr.CompactString()
		meta.ClientHost = vr.CompactString()
		n := vr.count()
		meta.SubscribedTopicNames = make([]string, 0, min(n, 1024))
		for range n {
			meta.SubscribedTopicNames = append(meta.SubscribedTopicNames, vr.CompactString())
		}
		meta.SubscribedTopicRegex = vr.CompactNullableString()
		meta.RebalanceTimeout = time.Duration(vr.Int32()) * time.Millisecond
		meta.ServerAssignor = vr.CompactNullableString()
		vr.skipTags(nil)
		apply = func(g *Group) {
			m := g.Members[memberID]
			if m == nil {
				m = &Member{ID: memberID, Assigned: Partitions{}, PendingRevocation: Partitions{}, assignmentEpochs: map[TopicPartition]int32{}}
				g.Members[memberID] = m
			}
			m.InstanceID, m.RackID = meta.InstanceID, meta.RackID
			m.ClientID, m.ClientHost = meta.ClientID, meta.ClientHost
			m.SubscribedTopicNames, m.SubscribedTopicRegex = meta.SubscribedTopicNames, meta.SubscribedTopicRegex
			m.RebalanceTimeout, m.ServerAssignor = meta.RebalanceTimeout, meta.ServerAssignor
		}
	case TypeTargetAssignmentMetadata:
		epoch := vr.Int32()
		vr.skipTags(nil)
		apply = func(g *Group) { g.AssignmentEpoch = epoch }
	case TypeTargetAssignmentMember:
		p := vr.topicPartitions(nil, 0)
		vr.skipTags(nil)
		apply = func(g *Group) { g.Target[memberID] = p }
	case TypeCurrentMemberAssignment:
		epoch := vr.Int32()
		prevEpoch := vr.Int32()
		state := MemberState(vr.Int8())
		// Kafka's default for records without epochs: the member epoch,
		// never below 0 (a static member that left has -2).
		def := max(0, epoch)
		epochs := map[TopicPartition]int32{}
		assigned := vr.topicPartitions(epochs, def)
		pending := vr.topicPartitions(epochs, def)
		vr.skipTags(nil)
		apply = func(g *Group) {
			m := g.Members[memberID]
			if m == nil {
				// The metadata record comes first in what Fjord writes; a
				// compacted log may order them either way.
				m = &Member{ID: memberID}
				g.Members[memberID] = m
			}
			m.Epoch, m.PreviousEpoch, m.State = epoch, prevEpoch, state
			m.Assigned, m.PendingRevocation, m.assignmentEpochs = assigned, pending, epochs
		}
	}
	// Trailing bytes (a newer Kafka's fields) are ignored; running short is
	// an error.
	if err := vr.Complete(); err != nil || badTag {
		if err == nil {
			err = kbin.ErrNotEnoughData
		}
		return fmt.Errorf("%w: %s type %d: %w", ErrBadRecord, groupID, typ, err)
	}
	g := gs.groups[groupID]
	if g == nil {
		g = newGroup(groupID, time.Time{})
		gs.groups[groupID] = g
	}
	apply(g)
	return nil
}

// replayTombstone applies the tombstone of a key; one for a group or
// member not there changes nothing.
func (gs *Groups) replayTombstone(typ int16, groupID, memberID string) {
	g := gs.groups[groupID]
	if g == nil {
		return
	}
	switch typ {
	case TypeGroupMetadata:
		delete(gs.groups, groupID)
	case TypeMemberMetadata:
		delete(g.Members, memberID)
	case TypeTargetAssignmentMetadata:
		g.AssignmentEpoch = 0
	case TypeTargetAssignmentMember:
		delete(g.Target, memberID)
	case TypeCurrentMemberAssignment:
		if m := g.Members[memberID]; m != nil {
			m.Epoch, m.PreviousEpoch, m.State = 0, 0, StateStable
			m.Assigned, m.PendingRevocation = Partitions{}, Partitions{}
			m.assignmentEpochs = map[TopicPartition]int32{}
		}
	}
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
