package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
	Index       int32   `json:"index"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
}

// Topic is one topic. Configs holds only the overrides set for the topic;
// defaults come from the broker configuration.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"-"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// Image is an immutable view of the metadata. Never modify one: the Store
// hands the same Image to every reader.
type Image struct {
	ClusterID      string
	NextProducerID int64
	topics         map[string]*Topic
	byID           map[TopicID]*Topic
}

// Topic returns the named topic, or nil.
func (im *Image) Topic(name string) *Topic { return im.topics[name] }

// TopicByID returns the topic with the given ID, or nil.
func (im *Image) TopicByID(id TopicID) *Topic { return im.byID[id] }

// TopicNames returns all topic names, sorted.
func (im *Image) TopicNames() []string {
	names := make([]string, 0, len(im.topics))
	for n := range im.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NumTopics is the number of topics.
func (im *Image) NumTopics() int { return len(im.topics) }

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

func (im *Image) clone() *Image {
	out := &Image{
		ClusterID:      im.ClusterID,
		NextProducerID: im.NextProducerID,
		topics:         make(map[string]*Topic, len(im.topics)+1),
		byID:           make(map[TopicID]*Topic, len(im.byID)+1),
	}
	for n, t := range im.topics {
		out.topics[n] = t
		out.byID[t.ID] = t
	}
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
