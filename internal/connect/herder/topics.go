package herder

import (
	"context"
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// OnTopicUsed implements runtime.TopicListener: standalone mode keeps a
// connector's topics in memory, as Kafka's MemoryStatusBackingStore.
func (l taskListener) OnTopicUsed(id connect.TaskID, topic string) {
	if l.h.cfg.TopicTrackingDisabled {
		return
	}
	l.h.statusMu.Lock()
	defer l.h.statusMu.Unlock()
	s := l.h.status[id.Connector]
	if s == nil {
		return // deleted while its task was stopping
	}
	if s.topics == nil {
		s.topics = map[string]bool{}
	}
	s.topics[topic] = true
}

// TopicsEpoch implements runtime.TopicListener.
func (l taskListener) TopicsEpoch() uint64 { return l.h.topicsEpoch.Load() }

// ConnectorTopics implements connect.Herder: the topics the connector's
// tasks used since it was created or its topics were last reset.
func (h *Standalone) ConnectorTopics(_ context.Context, name string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.get(name); err != nil {
		return nil, err
	}
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	out := []string{}
	if s := h.status[name]; s != nil {
		for t := range s.topics {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ResetConnectorTopics implements connect.Herder: the connector's topics
// are forgotten; its tasks report again the ones they go on using.
func (h *Standalone) ResetConnectorTopics(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.get(name); err != nil {
		return err
	}
	h.statusMu.Lock()
	if s := h.status[name]; s != nil {
		s.topics = nil
	}
	h.topicsEpoch.Add(1)
	h.statusMu.Unlock()
	return nil
}

// OnTopicUsed implements runtime.TopicListener: a topic not yet in the
// status topic for the connector is written there (off the task's
// goroutine, by the status queue).
func (s statusWriter) OnTopicUsed(id connect.TaskID, topic string) {
	// A deleted connector's tasks run until the next rebalance; what
	// they report must not bring back the topics its deletion cleared.
	if s.d.cfg.TopicTrackingDisabled || s.d.statuses.HasTopic(id.Connector, topic) || !s.d.configs.HasConnector(id.Connector) {
		return
	}
	s.d.queue.putTopic(id, topic, time.Now())
}

// TopicsEpoch implements runtime.TopicListener: it changes when any
// connector's topic record is deleted from the status topic (a reset on
// any worker).
func (s statusWriter) TopicsEpoch() uint64 { return s.d.statuses.TopicsEpoch() }
