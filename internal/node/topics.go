package node

import (
	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/metadata"
)

// topicsView shows the current metadata image to the consumer group
// coordinator, which resolves subscriptions against it on every heartbeat.
// Each call reads the latest image, so topics created or grown are seen
// by the next heartbeat.
type topicsView struct{ store *metadata.Loader }

var _ consumergroup.Topics = topicsView{}

func (v topicsView) ByName(name string) (consumergroup.TopicID, int32, bool) {
	t := v.store.Image().Topic(name)
	if t == nil {
		return consumergroup.TopicID{}, 0, false
	}
	return consumergroup.TopicID(t.ID), int32(len(t.Partitions)), true
}

func (v topicsView) ByID(id consumergroup.TopicID) (string, int32, bool) {
	t := v.store.Image().TopicByID(metadata.TopicID(id))
	if t == nil {
		return "", 0, false
	}
	return t.Name, int32(len(t.Partitions)), true
}

// Names lists the topics a regular expression subscription may match:
// Kafka's internal topics are left out.
func (v topicsView) Names() []string {
	var out []string
	for _, n := range v.store.Image().TopicNames() {
		if !metadata.IsInternal(n) {
			out = append(out, n)
		}
	}
	return out
}
