package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// Record keys of the status topic, Kafka Connect's
// KafkaStatusBackingStore prefixes.
const (
	statusConnectorPrefix = "status-connector-"
	statusTaskPrefix      = "status-task-"
	statusTopicPrefix     = "status-topic-"
)

// Status is a connector's or task's status as stored: its state, the
// failure's trace, the worker running it, and the group generation it was
// written in. The last record of a key wins.
type Status struct {
	State      connect.State `json:"state"`
	Trace      *string       `json:"trace"`
	WorkerID   string        `json:"worker_id"`
	Generation int32         `json:"generation"`
}

type topicStatusValue struct {
	Topic struct {
		Name              string `json:"name"`
		Connector         string `json:"connector"`
		Task              int    `json:"task"`
		DiscoverTimestamp int64  `json:"discoverTimestamp"`
	} `json:"topic"`
}

// StatusStore keeps statuses in status.storage.topic.
type StatusStore struct {
	log *KafkaLog

	mu         sync.RWMutex
	connectors map[string]Status
	tasks      map[connect.TaskID]Status
	topics     map[string]map[string]bool // topics used, by connector (KIP-558)
	// topicsEpoch counts the topic records deleted (resets), so that
	// tasks report again the topics they go on using.
	topicsEpoch atomic.Uint64
}

// NewStatusStore returns a store over spec's topic.
func NewStatusStore(spec TopicSpec, seeds []string, opts []kgo.Opt, logger *slog.Logger) (*StatusStore, error) {
	s := &StatusStore{connectors: map[string]Status{}, tasks: map[connect.TaskID]Status{}, topics: map[string]map[string]bool{}}
	l, err := NewKafkaLog(spec, seeds, opts, s.apply, logger)
	if err != nil {
		return nil, err
	}
	s.log = l
	return s, nil
}

// Start reads the topic (creating it if missing) and tails it.
func (s *StatusStore) Start(ctx context.Context) error { return s.log.Start(ctx) }

// Close stops the store.
func (s *StatusStore) Close() { s.log.Close() }

func (s *StatusStore) apply(r *kgo.Record) {
	key := string(r.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(key, statusConnectorPrefix):
		name := strings.TrimPrefix(key, statusConnectorPrefix)
		if r.Value == nil {
			delete(s.connectors, name)
			return
		}
		// The last record wins, as Kafka's KafkaStatusBackingStore
		// reads them: a generation check here would keep stale states
		// forever once the group's generations start again (a group the
		// coordinator deleted while empty).
		var st Status
		if json.Unmarshal(r.Value, &st) == nil {
			s.connectors[name] = st
		}
	case strings.HasPrefix(key, statusTaskPrefix):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, statusTaskPrefix))
		if !ok {
			return
		}
		id := connect.TaskID{Connector: name, Task: n}
		if r.Value == nil {
			delete(s.tasks, id)
			return
		}
		var st Status
		if json.Unmarshal(r.Value, &st) == nil {
			s.tasks[id] = st
		}
	case strings.HasPrefix(key, statusTopicPrefix):
		rest := strings.TrimPrefix(key, statusTopicPrefix)
		topic, conn, ok := strings.Cut(rest, ":connector-")
		if !ok {
			return
		}
		if r.Value == nil {
			delete(s.topics[conn], topic)
			s.topicsEpoch.Add(1)
			return
		}
		if s.topics[conn] == nil {
			s.topics[conn] = map[string]bool{}
		}
		s.topics[conn][topic] = true
	}
}

// PutConnector writes a connector's status.
func (s *StatusStore) PutConnector(ctx context.Context, name string, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(statusConnectorPrefix+name), b)
}

// PutTask writes a task's status.
func (s *StatusStore) PutTask(ctx context.Context, id connect.TaskID, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(fmt.Sprintf("%s%s-%d", statusTaskPrefix, id.Connector, id.Task)), b)
}

// PutTopic records that a connector's task used a topic (KIP-558).
func (s *StatusStore) PutTopic(ctx context.Context, connector string, task int, topic string, at time.Time) error {
	var v topicStatusValue
	v.Topic.Name, v.Topic.Connector, v.Topic.Task, v.Topic.DiscoverTimestamp = topic, connector, task, at.UnixMilli()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(statusTopicPrefix+topic+":connector-"+connector), b)
}

// ResetTopics deletes a connector's used topics (PUT .../topics/reset).
func (s *StatusStore) ResetTopics(ctx context.Context, connector string) error {
	for _, t := range s.Topics(connector) {
		if err := s.log.Send(ctx, []byte(statusTopicPrefix+t+":connector-"+connector), nil); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes a connector's statuses (after the connector is deleted).
func (s *StatusStore) Remove(ctx context.Context, connector string, tasks int) error {
	if err := s.log.Send(ctx, []byte(statusConnectorPrefix+connector), nil); err != nil {
		return err
	}
	for i := range tasks {
		if err := s.log.Send(ctx, []byte(fmt.Sprintf("%s%s-%d", statusTaskPrefix, connector, i)), nil); err != nil {
			return err
		}
	}
	return nil
}

// ReadToEnd brings the view up to the topic's end.
func (s *StatusStore) ReadToEnd(ctx context.Context) error { return s.log.ReadToEnd(ctx) }

// Connector returns a connector's status.
func (s *StatusStore) Connector(name string) (Status, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.connectors[name]
	return st, ok
}

// Task returns a task's status.
func (s *StatusStore) Task(id connect.TaskID) (Status, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.tasks[id]
	return st, ok
}

// Topics returns the topics a connector used, sorted.
func (s *StatusStore) Topics(connector string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for t := range s.topics[connector] {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// HasTopic reports whether the store holds that connector used topic.
func (s *StatusStore) HasTopic(connector, topic string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topics[connector][topic]
}

// TopicsEpoch changes each time a topic record is deleted (a reset, by
// any worker).
func (s *StatusStore) TopicsEpoch() uint64 { return s.topicsEpoch.Load() }
