package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// Record keys of the config topic, Kafka Connect's
// KafkaConfigBackingStore prefixes.
const (
	connectorPrefix   = "connector-"
	taskPrefix        = "task-"
	commitPrefix      = "commit-"
	targetStatePrefix = "target-state-"
	restartPrefix     = "restart-connector-"
	taskCountPrefix   = "tasks-fencing-" // KIP-618's task count records
)

// ConfigSnapshot is the config topic's state: every connector's
// configuration, target state and committed task configurations, as of
// Offset (the next offset of the topic's single partition).
type ConfigSnapshot struct {
	Offset       int64
	Connectors   map[string]map[string]string
	TargetStates map[string]connect.TargetState
	// Tasks are the committed task configurations, by connector: a
	// connector's task records count only once its commit record says
	// how many there are, so a worker never runs half a set.
	Tasks map[string][]map[string]string
	// TaskCountRecords are the task counts of KIP-618's task count
	// records, by connector: how many tasks of the generation that was
	// last fenced may have run (transactional IDs 0 to n-1).
	TaskCountRecords map[string]int
	// PendingFencing holds the connectors whose committed task
	// configurations are newer than their last task count record: an
	// exactly-once worker starts none of their tasks until the leader
	// fenced the older generations and wrote a new record.
	PendingFencing map[string]bool
}

// NeedsFencing reports whether connector's tasks wait for a round of
// zombie fencing.
func (s ConfigSnapshot) NeedsFencing(connector string) bool { return s.PendingFencing[connector] }

// TaskCount returns how many tasks a connector has (committed).
func (s ConfigSnapshot) TaskCount(connector string) int { return len(s.Tasks[connector]) }

// RestartRequest is a request to restart a connector (and its tasks),
// written to the config topic so the leader's restart reaches every
// worker (KIP-745).
type RestartRequest struct {
	Connector    string
	IncludeTasks bool
	OnlyFailed   bool
}

// ConfigStore keeps connector configurations in config.storage.topic
// (Kafka Connect's KafkaConfigBackingStore). The topic must have one
// partition, which keeps every record in order.
type ConfigStore struct {
	log       *KafkaLog
	onChange  func(ConfigSnapshot)
	onRestart func(RestartRequest)

	mu       sync.Mutex
	snap     ConfigSnapshot
	inflight map[string]map[int]map[string]string // task records not yet committed, by connector
}

// NewConfigStore returns a store over spec's topic (created with one
// partition). onChange, when set, hears the snapshot after each change
// read from the topic; onRestart, when set, each restart request.
func NewConfigStore(spec TopicSpec, seeds []string, opts []kgo.Opt, onChange func(ConfigSnapshot), onRestart func(RestartRequest), logger *slog.Logger) (*ConfigStore, error) {
	spec.Partitions = 1
	s := newConfigState(onChange, onRestart)
	l, err := NewKafkaLog(spec, seeds, opts, s.apply, logger)
	if err != nil {
		return nil, err
	}
	s.log = l
	return s, nil
}

// newConfigState is a store's empty state, without its topic.
func newConfigState(onChange func(ConfigSnapshot), onRestart func(RestartRequest)) *ConfigStore {
	return &ConfigStore{onChange: onChange, onRestart: onRestart, inflight: map[string]map[int]map[string]string{},
		snap: ConfigSnapshot{Connectors: map[string]map[string]string{}, TargetStates: map[string]connect.TargetState{}, Tasks: map[string][]map[string]string{},
			TaskCountRecords: map[string]int{}, PendingFencing: map[string]bool{}}}
}

// Start reads the topic (creating it if missing) and tails it.
func (s *ConfigStore) Start(ctx context.Context) error { return s.log.Start(ctx) }

// Close stops the store.
func (s *ConfigStore) Close() { s.log.Close() }

// ReadToEnd brings the snapshot up to the topic's end.
func (s *ConfigStore) ReadToEnd(ctx context.Context) error { return s.log.ReadToEnd(ctx) }

// HasConnector reports whether the store holds a configuration for name.
func (s *ConfigStore) HasConnector(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.snap.Connectors[name]
	return ok
}

// Snapshot returns a copy of the current state.
func (s *ConfigStore) Snapshot() ConfigSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copySnapshot()
}

func (s *ConfigStore) copySnapshot() ConfigSnapshot {
	c := ConfigSnapshot{Offset: s.snap.Offset, Connectors: map[string]map[string]string{}, TargetStates: maps.Clone(s.snap.TargetStates),
		Tasks: map[string][]map[string]string{}, TaskCountRecords: maps.Clone(s.snap.TaskCountRecords), PendingFencing: maps.Clone(s.snap.PendingFencing)}
	for k, v := range s.snap.Connectors {
		c.Connectors[k] = maps.Clone(v)
	}
	for k, v := range s.snap.Tasks {
		c.Tasks[k] = slices.Clone(v)
	}
	return c
}

type propsValue struct {
	Properties map[string]string `json:"properties"`
}

type commitValue struct {
	Tasks int `json:"tasks"`
}

type targetStateValue struct {
	State   string `json:"state"`
	StateV2 string `json:"state.v2,omitempty"`
}

type taskCountValue struct {
	TaskCount int `json:"task-count"`
}

type restartValue struct {
	IncludeTasks bool `json:"include-tasks"`
	OnlyFailed   bool `json:"only-failed"`
}

func (s *ConfigStore) apply(r *kgo.Record) {
	key := string(r.Key)
	s.mu.Lock()
	s.snap.Offset = r.Offset + 1
	changed := true
	var restart *RestartRequest
	switch {
	case strings.HasPrefix(key, connectorPrefix):
		name := strings.TrimPrefix(key, connectorPrefix)
		if r.Value == nil {
			delete(s.snap.Connectors, name)
			delete(s.snap.TargetStates, name)
			delete(s.snap.Tasks, name)
			delete(s.inflight, name)
			delete(s.snap.PendingFencing, name)
			break
		}
		var v propsValue
		if json.Unmarshal(r.Value, &v) != nil {
			changed = false
			break
		}
		s.snap.Connectors[name] = v.Properties
		if _, ok := s.snap.TargetStates[name]; !ok {
			s.snap.TargetStates[name] = connect.TargetStarted
		}
	case strings.HasPrefix(key, taskPrefix):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, taskPrefix))
		var v propsValue
		if !ok || r.Value == nil || json.Unmarshal(r.Value, &v) != nil {
			changed = false
			break
		}
		if s.inflight[name] == nil {
			s.inflight[name] = map[int]map[string]string{}
		}
		s.inflight[name][n] = v.Properties
		changed = false // visible at the commit record
	case strings.HasPrefix(key, commitPrefix):
		name := strings.TrimPrefix(key, commitPrefix)
		var v commitValue
		if r.Value == nil || json.Unmarshal(r.Value, &v) != nil {
			changed = false
			break
		}
		tasks := make([]map[string]string, v.Tasks)
		complete := true
		for i := range tasks {
			cfg, ok := s.inflight[name][i]
			if !ok {
				// Kafka keeps the previous set when a commit finds
				// task records missing (an inconsistent write).
				complete = false
				break
			}
			tasks[i] = cfg
		}
		if complete {
			s.snap.Tasks[name] = tasks
			s.snap.PendingFencing[name] = true
			delete(s.inflight, name)
		} else {
			changed = false
		}
	case strings.HasPrefix(key, taskCountPrefix):
		name := strings.TrimPrefix(key, taskCountPrefix)
		var v taskCountValue
		if r.Value == nil || json.Unmarshal(r.Value, &v) != nil || v.TaskCount < 0 {
			changed = false
			break
		}
		s.snap.TaskCountRecords[name] = v.TaskCount
		delete(s.snap.PendingFencing, name)
	case strings.HasPrefix(key, targetStatePrefix):
		name := strings.TrimPrefix(key, targetStatePrefix)
		if r.Value == nil {
			delete(s.snap.TargetStates, name)
			break
		}
		var v targetStateValue
		if json.Unmarshal(r.Value, &v) != nil {
			changed = false
			break
		}
		st := connect.TargetState(v.State)
		if v.StateV2 != "" {
			st = connect.TargetState(v.StateV2)
		}
		s.snap.TargetStates[name] = st
	case strings.HasPrefix(key, restartPrefix):
		var v restartValue
		changed = false
		if r.Value != nil && json.Unmarshal(r.Value, &v) == nil {
			restart = &RestartRequest{Connector: strings.TrimPrefix(key, restartPrefix), IncludeTasks: v.IncludeTasks, OnlyFailed: v.OnlyFailed}
		}
	default:
		changed = false // session keys and other records of newer workers
	}
	var snap ConfigSnapshot
	if changed && s.onChange != nil {
		snap = s.copySnapshot()
	}
	s.mu.Unlock()
	if changed && s.onChange != nil {
		s.onChange(snap)
	}
	if restart != nil && s.onRestart != nil {
		s.onRestart(*restart)
	}
}

// splitTaskKey splits "name-3" at its last dash.
func splitTaskKey(s string) (string, int, bool) {
	i := strings.LastIndex(s, "-")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:i], n, true
}

// PutConnectorConfig writes a connector's configuration (and, for a new
// connector, its target state first when not started, as Kafka's
// writes it before the config so the connector never starts running).
func (s *ConfigStore) PutConnectorConfig(ctx context.Context, name string, config map[string]string, target connect.TargetState) error {
	if target != "" && target != connect.TargetStarted {
		if err := s.PutTargetState(ctx, name, target); err != nil {
			return err
		}
	}
	v, err := json.Marshal(propsValue{Properties: config})
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(connectorPrefix+name), v)
}

// RemoveConnector deletes a connector: tombstones of its configuration
// and target state.
func (s *ConfigStore) RemoveConnector(ctx context.Context, name string) error {
	if err := s.log.Send(ctx, []byte(connectorPrefix+name), nil); err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(targetStatePrefix+name), nil)
}

// PutTaskConfigs writes a connector's task configurations, then the
// commit record that makes them visible together.
func (s *ConfigStore) PutTaskConfigs(ctx context.Context, name string, tasks []map[string]string) error {
	for i, t := range tasks {
		v, err := json.Marshal(propsValue{Properties: t})
		if err != nil {
			return err
		}
		if err := s.log.Send(ctx, []byte(fmt.Sprintf("%s%s-%d", taskPrefix, name, i)), v); err != nil {
			return err
		}
	}
	v, err := json.Marshal(commitValue{Tasks: len(tasks)})
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(commitPrefix+name), v)
}

// PutTaskCountRecord writes KIP-618's task count record for a connector
// (after its older task generations were fenced): count tasks of the
// current generation may now run.
func (s *ConfigStore) PutTaskCountRecord(ctx context.Context, name string, count int) error {
	b, err := json.Marshal(taskCountValue{TaskCount: count})
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(taskCountPrefix+name), b)
}

// PutTargetState writes a connector's target state. STOPPED is written as
// Kafka 3.5+ does: "state" PAUSED for older workers, "state.v2" STOPPED.
func (s *ConfigStore) PutTargetState(ctx context.Context, name string, st connect.TargetState) error {
	v := targetStateValue{State: string(st), StateV2: string(st)}
	if st == connect.TargetStopped {
		v.State = string(connect.TargetPaused)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(targetStatePrefix+name), b)
}

// PutRestartRequest writes a restart request for every worker to act on.
func (s *ConfigStore) PutRestartRequest(ctx context.Context, r RestartRequest) error {
	b, err := json.Marshal(restartValue{IncludeTasks: r.IncludeTasks, OnlyFailed: r.OnlyFailed})
	if err != nil {
		return err
	}
	return s.log.Send(ctx, []byte(restartPrefix+r.Connector), b)
}
