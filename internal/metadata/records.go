package metadata

// Metadata records: the changes the controller commits to the metadata log
// (__cluster_metadata-0) and every node replays into its Image. Types, names
// and field order follow Kafka's KRaft records (metadata/*.json in Kafka's
// source); the frame is Kafka's too: an unsigned varint frame version (1),
// the record type and the record version as unsigned varints, then the
// fields in flexible (compact) encoding, ending with an empty tagged-field
// section. Fjord writes version 0 of each of its own layouts and does not
// promise byte compatibility with Kafka's logs: no Kafka tool reads them.

import (
	"errors"
	"fmt"
)

// RecordType is a metadata record's type, Kafka's apiKey for it.
type RecordType uint16

// The record types Fjord writes and replays (Kafka's numbers).
const (
	TypeRegisterBroker   RecordType = 0
	TypeUnregisterBroker RecordType = 1
	TypeTopic            RecordType = 2
	TypePartition        RecordType = 3
	TypeConfig           RecordType = 4
	TypePartitionChange  RecordType = 5
	TypeFenceBroker      RecordType = 7
	TypeUnfenceBroker    RecordType = 8
	TypeRemoveTopic      RecordType = 9
	TypeFeatureLevel     RecordType = 12
	TypeProducerIDs      RecordType = 14
	// TypeVoters is Fjord's own: the metadata quorum's voter set with
	// endpoints, which KRaft keeps in a control record (KRAFT_VOTERS, type
	// 6) rather than a metadata record; numbered above Kafka's apiKeys.
	TypeVoters RecordType = 1006
)

// ConfigResourceType is Kafka's resource type of a ConfigRecord.
type ConfigResourceType int8

// Kafka's config resource types.
const (
	ConfigResourceTopic  ConfigResourceType = 2
	ConfigResourceBroker ConfigResourceType = 4
)

// NoLeaderChange in PartitionChangeRecord.Leader keeps the leader
// (Kafka's -2); NoLeader (-1) means the partition has none.
const (
	NoLeaderChange int32 = -2
	NoLeader       int32 = -1
)

// ErrBadRecord reports bytes that are not a metadata record.
var ErrBadRecord = errors.New("metadata: undecodable record")

// Record is one metadata record.
type Record interface {
	// Type is the record's apiKey.
	Type() RecordType
	appendFields(b []byte) []byte
	readFields(r *reader)
}

// Endpoint is one listener a broker registered.
type Endpoint struct {
	Name             string
	Host             string
	Port             uint16
	SecurityProtocol int16
}

// RegisterBrokerRecord registers (or re-registers) a broker.
type RegisterBrokerRecord struct {
	BrokerID      int32
	IncarnationID [16]byte
	BrokerEpoch   int64
	Endpoints     []Endpoint
	Rack          *string
	Fenced        bool
	// InControlledShutdown is set while the broker moves its leaderships
	// away before stopping.
	InControlledShutdown bool
}

// UnregisterBrokerRecord removes a broker.
type UnregisterBrokerRecord struct {
	BrokerID    int32
	BrokerEpoch int64
}

// TopicRecord creates a topic; its partitions follow as PartitionRecords.
type TopicRecord struct {
	Name    string
	TopicID TopicID
}

// PartitionRecord creates a partition (or replaces it whole, in snapshots).
type PartitionRecord struct {
	PartitionID      int32
	TopicID          TopicID
	Replicas         []int32
	ISR              []int32
	RemovingReplicas []int32
	AddingReplicas   []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	// ELR is the eligible leader replicas set (KIP-966); LastKnownELR the
	// replicas that were last in it.
	ELR          []int32
	LastKnownELR []int32
}

// PartitionChangeRecord changes a partition; nil slices and NoLeaderChange
// leave the field as it was. Every change bumps the partition epoch; a
// leader change also bumps the leader epoch.
type PartitionChangeRecord struct {
	PartitionID      int32
	TopicID          TopicID
	ISR              []int32
	Leader           int32
	Replicas         []int32
	RemovingReplicas []int32
	AddingReplicas   []int32
	ELR              []int32
	LastKnownELR     []int32
}

// ConfigRecord sets a config key of a resource; a nil Value deletes it.
type ConfigRecord struct {
	ResourceType ConfigResourceType
	ResourceName string
	Name         string
	Value        *string
}

// FenceBrokerRecord fences a broker: it leads nothing and is in no ISR.
type FenceBrokerRecord struct {
	ID    int32
	Epoch int64
}

// UnfenceBrokerRecord unfences a broker.
type UnfenceBrokerRecord struct {
	ID    int32
	Epoch int64
}

// RemoveTopicRecord deletes a topic and its partitions.
type RemoveTopicRecord struct {
	TopicID TopicID
}

// FeatureLevelRecord sets a feature's finalized level.
type FeatureLevelRecord struct {
	Name         string
	FeatureLevel int16
}

// ProducerIdsRecord hands a block of producer IDs to a broker: IDs below
// NextProducerID are taken.
type ProducerIdsRecord struct {
	BrokerID       int32
	BrokerEpoch    int64
	NextProducerID int64
}

// Type implements Record.
func (*RegisterBrokerRecord) Type() RecordType { return TypeRegisterBroker }

// Type implements Record.
func (*UnregisterBrokerRecord) Type() RecordType { return TypeUnregisterBroker }

// Type implements Record.
func (*TopicRecord) Type() RecordType { return TypeTopic }

// Type implements Record.
func (*PartitionRecord) Type() RecordType { return TypePartition }

// Type implements Record.
func (*PartitionChangeRecord) Type() RecordType { return TypePartitionChange }

// Type implements Record.
func (*ConfigRecord) Type() RecordType { return TypeConfig }

// Type implements Record.
func (*FenceBrokerRecord) Type() RecordType { return TypeFenceBroker }

// Type implements Record.
func (*UnfenceBrokerRecord) Type() RecordType { return TypeUnfenceBroker }

// Type implements Record.
func (*RemoveTopicRecord) Type() RecordType { return TypeRemoveTopic }

// Type implements Record.
func (*FeatureLevelRecord) Type() RecordType { return TypeFeatureLevel }

// Type implements Record.
func (*ProducerIdsRecord) Type() RecordType { return TypeProducerIDs }

// Voter is one voter of the metadata quorum (KIP-853): its node ID, the
// directory ID of its metadata log (zero: not known, a voter of the
// static controller.quorum.voters) and its controller endpoint.
type Voter struct {
	ID          int32
	DirectoryID [16]byte
	Host        string
	Port        uint16
}

// VotersRecord is the metadata quorum's voter set after a change of voters
// (AddRaftVoter, RemoveRaftVoter): the whole set, each voter with its
// endpoint, so every node, brokers included, can reach a voter that
// controller.quorum.voters does not name. It rides in the raft
// configuration change it describes and is applied at the same offset.
type VotersRecord struct {
	Voters []Voter
}

// Type implements Record.
func (*VotersRecord) Type() RecordType { return TypeVoters }

// newRecord returns an empty record of type t, or nil for a type Fjord
// does not know.
func newRecord(t RecordType) Record {
	switch t {
	case TypeRegisterBroker:
		return &RegisterBrokerRecord{}
	case TypeUnregisterBroker:
		return &UnregisterBrokerRecord{}
	case TypeTopic:
		return &TopicRecord{}
	case TypePartition:
		return &PartitionRecord{}
	case TypePartitionChange:
		return &PartitionChangeRecord{}
	case TypeConfig:
		return &ConfigRecord{}
	case TypeFenceBroker:
		return &FenceBrokerRecord{}
	case TypeUnfenceBroker:
		return &UnfenceBrokerRecord{}
	case TypeRemoveTopic:
		return &RemoveTopicRecord{}
	case TypeFeatureLevel:
		return &FeatureLevelRecord{}
	case TypeProducerIDs:
		return &ProducerIdsRecord{}
	case TypeVoters:
		return &VotersRecord{}
	}
	return nil
}

const frameVersion = 1

// EncodeRecord appends r's framed encoding to b.
func EncodeRecord(b []byte, r Record) []byte {
	b = appendUvarint(b, frameVersion)
	b = appendUvarint(b, uint32(r.Type()))
	b = appendUvarint(b, 0) // record version
	b = r.appendFields(b)
	return appendUvarint(b, 0) // no tagged fields
}

// DecodeRecord decodes one framed record; the whole of b must be used.
// Tagged fields are skipped, so a later version that only adds tagged
// fields still reads.
func DecodeRecord(b []byte) (Record, error) {
	r := &reader{b: b}
	if fv := r.uvarint(); fv != frameVersion {
		return nil, fmt.Errorf("%w: frame version %d", ErrBadRecord, fv)
	}
	typ := r.uvarint()
	if ver := r.uvarint(); r.err == nil && ver != 0 {
		return nil, fmt.Errorf("%w: type %d version %d", ErrBadRecord, typ, ver)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, r.err)
	}
	rec := newRecord(RecordType(typ))
	if rec == nil {
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadRecord, typ)
	}
	rec.readFields(r)
	r.skipTags()
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: type %d: %w", ErrBadRecord, typ, r.err)
	}
	return rec, nil
}
