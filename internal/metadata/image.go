package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// TopicID is a topic's UUID, as Kafka sends it on the wire.
type TopicID [16]byte

// NewTopicID returns a random (version 4) UUID that is neither zero nor the
// reserved "metadata topic" ID, so it can never be mistaken for "no ID".
func NewTopicID() TopicID {
	for {
		var id TopicID
		if _, err := rand.Read(id[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no entropy source: nothing can work
		}
		id[6] = (id[6] & 0x0f) | 0x40
		id[8] = (id[8] & 0x3f) | 0x80
		if id != (TopicID{}) && id != (TopicID{15: 1}) {
			return id
		}
	}
}

// String renders the ID as Kafka's tools do: URL-safe base64 without padding.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseTopicID parses the base64 form written by String.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("topic id %q: not a base64 UUID", s)
	}
	copy(id[:], b)
	return id, nil
}

// Partition is one partition's replica assignment and leadership.
type Partition struct {
	Index          int32   `json:"index"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"-"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	// ELR and LastKnownELR are KIP-966's eligible leader replicas.
	ELR          []int32 `json:"-"`
	LastKnownELR []int32 `json:"-"`
	// AddingReplicas and RemovingReplicas are an ongoing reassignment
	// (KIP-455): Replicas holds the target replicas followed by the
	// removing ones until every target replica is in the ISR. Both empty:
	// no reassignment. They live in the image, not in the controller's
	// memory, so a new active controller carries on where the old stopped.
	AddingReplicas   []int32 `json:"-"`
	RemovingReplicas []int32 `json:"-"`
}

// Reassigning reports whether a reassignment of the partition is ongoing.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// Topic is one topic. Configs holds only the overrides set for the topic;
// defaults come from the broker configuration.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"-"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// Broker is a registered broker.
type Broker struct {
	ID                   int32
	IncarnationID        [16]byte
	Epoch                int64
	Endpoints            []Endpoint
	Rack                 *string
	Fenced               bool
	InControlledShutdown bool
}

// Image is an immutable view of the metadata: what replaying the metadata
// log up to Offset gives. Never modify one: every reader shares it; a
// Delta builds the next.
type Image struct {
	ClusterID string
	// NextProducerID is the first producer ID no broker has been given.
	NextProducerID int64
	// Offset is the metadata log offset of the last record applied (-1:
	// none).
	Offset        int64
	topics        map[string]*Topic
	byID          map[TopicID]*Topic
	brokers       map[int32]*Broker
	brokerConfigs map[string]map[string]string
	features      map[string]int16
	// voters is the metadata quorum's voter set once it was changed
	// (VotersRecord); nil while it is controller.quorum.voters'.
	voters []Voter
}

// FirstProducerID is where producer IDs start in a new cluster.
const FirstProducerID = 1000

// NewImage returns the empty image of a cluster.
func NewImage(clusterID string) *Image {
	return &Image{ClusterID: clusterID, NextProducerID: FirstProducerID, Offset: -1,
		topics: map[string]*Topic{}, byID: map[TopicID]*Topic{}, brokers: map[int32]*Broker{},
		brokerConfigs: map[string]map[string]string{}, features: map[string]int16{}}
}

// Voters returns the metadata quorum's voters as last changed by
// AddRaftVoter or RemoveRaftVoter, sorted by ID, or nil when the quorum
// has never changed (its voters are controller.quorum.voters').
func (im *Image) Voters() []Voter { return slices.Clone(im.voters) }

// Topic returns the named topic, or nil.
func (im *Image) Topic(name string) *Topic { return im.topics[name] }

// TopicByID returns the topic with the given ID, or nil.
func (im *Image) TopicByID(id TopicID) *Topic { return im.byID[id] }

// TopicNames returns all topic names, sorted.
func (im *Image) TopicNames() []string { return sortedKeys(im.topics) }

// NumTopics is the number of topics.
func (im *Image) NumTopics() int { return len(im.topics) }

// Broker returns a registered broker, or nil.
func (im *Image) Broker(id int32) *Broker { return im.brokers[id] }

// Brokers returns the registered brokers sorted by ID.
func (im *Image) Brokers() []*Broker {
	out := make([]*Broker, 0, len(im.brokers))
	for _, b := range im.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// BrokerConfigs returns the dynamic config overrides of a broker ("" is
// the cluster-wide default resource).
func (im *Image) BrokerConfigs(name string) map[string]string { return im.brokerConfigs[name] }

// FeatureLevel returns a finalized feature level (0 when unset).
func (im *Image) FeatureLevel(name string) int16 { return im.features[name] }

// Collides returns the name of an existing topic that differs from name only
// by '.' versus '_' (Kafka refuses such pairs because its metric names
// cannot tell them apart), or "".
func (im *Image) Collides(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for n := range im.topics {
		if n != name && strings.ReplaceAll(n, ".", "_") == norm {
			return n
		}
	}
	return ""
}

// Records returns records that rebuild this image from an empty one: what
// a metadata snapshot holds.
func (im *Image) Records() []Record {
	var out []Record
	for _, f := range sortedKeys(im.features) {
		out = append(out, &FeatureLevelRecord{Name: f, FeatureLevel: im.features[f]})
	}
	if im.voters != nil {
		out = append(out, &VotersRecord{Voters: slices.Clone(im.voters)})
	}
	for _, b := range im.Brokers() {
		out = append(out, &RegisterBrokerRecord{BrokerID: b.ID, IncarnationID: b.IncarnationID, BrokerEpoch: b.Epoch,
			Endpoints: b.Endpoints, Rack: b.Rack, Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown})
	}
	for _, name := range sortedKeys(im.brokerConfigs) {
		cfg := im.brokerConfigs[name]
		for _, k := range sortedKeys(cfg) {
			v := cfg[k]
			out = append(out, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: name, Name: k, Value: &v})
		}
	}
	for _, name := range im.TopicNames() {
		t := im.topics[name]
		out = append(out, &TopicRecord{Name: t.Name, TopicID: t.ID})
		for _, p := range t.Partitions {
			out = append(out, &PartitionRecord{PartitionID: p.Index, TopicID: t.ID, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ELR: p.ELR, LastKnownELR: p.LastKnownELR,
				AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
		for _, k := range sortedKeys(t.Configs) {
			v := t.Configs[k]
			out = append(out, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: t.Name, Name: k, Value: &v})
		}
	}
	return append(out, &ProducerIdsRecord{BrokerID: -1, NextProducerID: im.NextProducerID})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Sentinel errors of topic validation; protocol maps them to Kafka codes.
var (
	ErrInvalidTopic      = errors.New("invalid topic name")
	ErrTopicExists       = errors.New("topic already exists")
	ErrUnknownTopic      = errors.New("unknown topic")
	ErrInvalidPartitions = errors.New("invalid number of partitions")
)

// MaxTopicNameLength is Kafka's limit (255 minus room for a partition
// suffix and a deletion marker in folder names).
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's rules: 1-249 characters from
// [a-zA-Z0-9._-], and not "." or "..".
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: %d characters, the limit is %d", ErrInvalidTopic, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; legal characters are ASCII letters, digits, '.', '_' and '-'", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// IsInternal reports whether a topic is one of Kafka's internal topics.
func IsInternal(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// ClusterMetadataTopic is the name of the metadata log's topic: not in the
// image (the quorum keeps it), but reserved as Kafka reserves it.
const ClusterMetadataTopic = "__cluster_metadata"
