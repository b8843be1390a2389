package herder

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/storage"
)

var _ connect.Herder = (*Distributed)(nil)

// KafkaClusterID implements connect.Herder.
func (d *Distributed) KafkaClusterID() string { return d.cfg.ClusterID }

// Plugins implements connect.Herder.
func (d *Distributed) Plugins() *connect.Registry { return d.cfg.Registry }

// snapshot reads the config topic to its end and returns its state.
func (d *Distributed) snapshot(ctx context.Context) (storage.ConfigSnapshot, error) {
	if err := d.configs.ReadToEnd(ctx); err != nil {
		return storage.ConfigSnapshot{}, err
	}
	return d.configs.Snapshot(), nil
}

func (d *Distributed) typeOf(cfg map[string]string) connect.ConnectorType {
	if p, ok := d.cfg.Registry.Lookup(cfg[connect.KeyConnectorClass]); ok {
		return connect.ConnectorType(p.Type)
	}
	return connect.UnknownType
}

// Connectors implements connect.Herder.
func (d *Distributed) Connectors(ctx context.Context) ([]string, error) {
	snap, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(snap.Connectors)), nil
}

func (d *Distributed) connector(ctx context.Context, name string) (storage.ConfigSnapshot, map[string]string, error) {
	snap, err := d.snapshot(ctx)
	if err != nil {
		return snap, nil, err
	}
	cfg, ok := snap.Connectors[name]
	if !ok {
		return snap, nil, connect.NotFoundError("Connector %s not found", name)
	}
	return snap, cfg, nil
}

// ConnectorInfo implements connect.Herder.
func (d *Distributed) ConnectorInfo(ctx context.Context, name string) (connect.ConnectorInfo, error) {
	snap, cfg, err := d.connector(ctx, name)
	if err != nil {
		return connect.ConnectorInfo{}, err
	}
	info := connect.ConnectorInfo{Name: name, Config: maps.Clone(cfg), Tasks: []connect.TaskID{}, Type: d.typeOf(cfg)}
	for i := range snap.TaskCount(name) {
		info.Tasks = append(info.Tasks, connect.TaskID{Connector: name, Task: i})
	}
	return info, nil
}

// ConnectorConfig implements connect.Herder.
func (d *Distributed) ConnectorConfig(ctx context.Context, name string) (map[string]string, error) {
	_, cfg, err := d.connector(ctx, name)
	return maps.Clone(cfg), err
}

// ValidateConnectorConfig implements connect.Herder.
func (d *Distributed) ValidateConnectorConfig(_ context.Context, config map[string]string) (connect.ConfigInfos, error) {
	infos, _ := validateConnector(d.cfg.Registry, d.cfg.OverridePolicy, connect.ValidateOptions{TopicCreationDisabled: d.cfg.TopicCreationDisabled, ExactlyOnce: d.cfg.ExactlyOnce}, config)
	return infos, nil
}

// PutConnectorConfig implements connect.Herder (on the leader).
func (d *Distributed) PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool) (connect.ConnectorInfo, bool, error) {
	if err := d.leaderCheck(); err != nil {
		return connect.ConnectorInfo{}, false, err
	}
	config = maps.Clone(config)
	config[connect.KeyName] = name
	if infos, _ := validateConnector(d.cfg.Registry, d.cfg.OverridePolicy, connect.ValidateOptions{TopicCreationDisabled: d.cfg.TopicCreationDisabled, ExactlyOnce: d.cfg.ExactlyOnce}, config); infos.ErrorCount > 0 {
		return connect.ConnectorInfo{}, false, &connect.BadConfigError{Infos: infos}
	}
	snap, err := d.snapshot(ctx)
	if err != nil {
		return connect.ConnectorInfo{}, false, err
	}
	_, exists := snap.Connectors[name]
	if exists && !allowReplace {
		return connect.ConnectorInfo{}, false, fmt.Errorf("%w: Connector %s already exists", connect.ErrConflict, name)
	}
	if err := d.configs.PutConnectorConfig(ctx, name, config, ""); err != nil {
		return connect.ConnectorInfo{}, false, err
	}
	info, err := d.ConnectorInfo(ctx, name)
	return info, !exists, err
}

// DeleteConnector implements connect.Herder (on the leader).
func (d *Distributed) DeleteConnector(ctx context.Context, name string) error {
	if err := d.leaderCheck(); err != nil {
		return err
	}
	snap, _, err := d.connector(ctx, name)
	if err != nil {
		return err
	}
	if err := d.configs.RemoveConnector(ctx, name); err != nil {
		return err
	}
	if err := d.configs.ReadToEnd(ctx); err != nil {
		return err
	}
	if err := d.statuses.Remove(ctx, name, snap.TaskCount(name)); err != nil {
		return err
	}
	// A connector created again under the name starts with no topics.
	// Read first: a reset deletes only the topic records it has seen.
	if err := d.statuses.ReadToEnd(ctx); err != nil {
		return err
	}
	return d.statuses.ResetTopics(ctx, name)
}

// ConnectorStatus implements connect.Herder.
func (d *Distributed) ConnectorStatus(ctx context.Context, name string) (connect.ConnectorStateInfo, error) {
	snap, cfg, err := d.connector(ctx, name)
	if err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	if err := d.statuses.ReadToEnd(ctx); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	comp := func(st storage.Status, ok bool) connect.ComponentState {
		if !ok {
			return connect.ComponentState{State: connect.Unassigned}
		}
		cs := connect.ComponentState{State: st.State, WorkerID: st.WorkerID}
		if st.Trace != nil {
			cs.Trace = *st.Trace
		}
		return cs
	}
	out := connect.ConnectorStateInfo{Name: name, Connector: comp(d.statuses.Connector(name)), Tasks: []connect.TaskState{}, Type: d.typeOf(cfg)}
	for i := range snap.TaskCount(name) {
		out.Tasks = append(out.Tasks, connect.TaskState{ID: i, ComponentState: comp(d.statuses.Task(connect.TaskID{Connector: name, Task: i}))})
	}
	return out, nil
}

// TaskConfigs implements connect.Herder.
func (d *Distributed) TaskConfigs(ctx context.Context, name string) ([]connect.TaskInfo, error) {
	snap, _, err := d.connector(ctx, name)
	if err != nil {
		return nil, err
	}
	out := []connect.TaskInfo{}
	for i, t := range snap.Tasks[name] {
		out = append(out, connect.TaskInfo{ID: connect.TaskID{Connector: name, Task: i}, Config: maps.Clone(t)})
	}
	return out, nil
}

// TaskStatus implements connect.Herder.
func (d *Distributed) TaskStatus(ctx context.Context, id connect.TaskID) (connect.TaskState, error) {
	info, err := d.ConnectorStatus(ctx, id.Connector)
	if err != nil {
		return connect.TaskState{}, err
	}
	if id.Task < 0 || id.Task >= len(info.Tasks) {
		return connect.TaskState{}, connect.NotFoundError("No status found for task %s-%d", id.Connector, id.Task)
	}
	return info.Tasks[id.Task], nil
}

// RestartConnector implements connect.Herder (on the leader): a restart
// request in the config topic, which the workers running the connector
// and its tasks act on.
func (d *Distributed) RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (connect.ConnectorStateInfo, error) {
	if err := d.leaderCheck(); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	before, err := d.ConnectorStatus(ctx, name)
	if err != nil {
		return before, err
	}
	if err := d.configs.PutRestartRequest(ctx, storage.RestartRequest{Connector: name, IncludeTasks: includeTasks, OnlyFailed: onlyFailed}); err != nil {
		return before, err
	}
	if !onlyFailed || before.Connector.State == connect.Failed {
		before.Connector.State = connect.Restarting
	}
	for i := range before.Tasks {
		if includeTasks && (!onlyFailed || before.Tasks[i].State == connect.Failed) {
			before.Tasks[i].State = connect.Restarting
		}
	}
	return before, nil
}

// RestartTask implements connect.Herder: the worker running the task
// restarts it; a request reaching another worker goes to the leader, which
// sends it on to the task's worker.
func (d *Distributed) RestartTask(ctx context.Context, id connect.TaskID) error {
	if _, _, err := d.connector(ctx, id.Connector); err != nil {
		return err
	}
	d.mu.Lock()
	_, here := d.taskCfgs[id]
	if here {
		d.stopTaskLocked(id)
		d.startTaskLocked(id)
		d.mu.Unlock()
		return nil
	}
	leader := d.memberID != "" && d.memberID == d.leaderID
	owner := d.owners[id]
	d.mu.Unlock()
	if !leader {
		return d.leaderCheck()
	}
	if owner == "" {
		return connect.NotFoundError("Task %s-%d is not assigned to any worker", id.Connector, id.Task)
	}
	return &connect.NotLeaderError{LeaderURL: owner}
}

func (d *Distributed) setTarget(ctx context.Context, name string, st connect.TargetState) error {
	if err := d.leaderCheck(); err != nil {
		return err
	}
	if _, _, err := d.connector(ctx, name); err != nil {
		return err
	}
	if err := d.configs.PutTargetState(ctx, name, st); err != nil {
		return err
	}
	return d.configs.ReadToEnd(ctx)
}

// PauseConnector implements connect.Herder.
func (d *Distributed) PauseConnector(ctx context.Context, name string) error {
	return d.setTarget(ctx, name, connect.TargetPaused)
}

// ResumeConnector implements connect.Herder.
func (d *Distributed) ResumeConnector(ctx context.Context, name string) error {
	return d.setTarget(ctx, name, connect.TargetStarted)
}

// StopConnector implements connect.Herder (KIP-875): as Kafka, the
// connector's task configurations are emptied first, so a stopped
// connector lists no tasks.
func (d *Distributed) StopConnector(ctx context.Context, name string) error {
	if err := d.leaderCheck(); err != nil {
		return err
	}
	if _, _, err := d.connector(ctx, name); err != nil {
		return err
	}
	if err := d.configs.PutTaskConfigs(ctx, name, nil); err != nil {
		return err
	}
	return d.setTarget(ctx, name, connect.TargetStopped)
}

// ConnectorTopics implements connect.Herder.
func (d *Distributed) ConnectorTopics(ctx context.Context, name string) ([]string, error) {
	if _, _, err := d.connector(ctx, name); err != nil {
		return nil, err
	}
	if err := d.statuses.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	out := d.statuses.Topics(name)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// ResetConnectorTopics implements connect.Herder.
func (d *Distributed) ResetConnectorTopics(ctx context.Context, name string) error {
	if _, _, err := d.connector(ctx, name); err != nil {
		return err
	}
	if err := d.statuses.ReadToEnd(ctx); err != nil {
		return err
	}
	return d.statuses.ResetTopics(ctx, name)
}

// offsetsView adapts the shared offset logic to this herder.
func (d *Distributed) offsetsView(ctx context.Context, name string) (offsetsView, error) {
	snap, cfg, err := d.connector(ctx, name)
	if err != nil {
		return offsetsView{}, err
	}
	return offsetsView{name: name, typ: d.typeOf(cfg), stopped: snap.TargetStates[name] == connect.TargetStopped,
		store: d.cfg.Offsets, admin: d.admin}, nil
}

// ConnectorOffsets implements connect.Herder.
func (d *Distributed) ConnectorOffsets(ctx context.Context, name string) (connect.ConnectorOffsets, error) {
	v, err := d.offsetsView(ctx, name)
	if err != nil {
		return connect.ConnectorOffsets{}, err
	}
	return v.list(ctx)
}

// AlterConnectorOffsets implements connect.Herder.
func (d *Distributed) AlterConnectorOffsets(ctx context.Context, name string, offsets connect.ConnectorOffsets) (string, error) {
	if err := d.leaderCheck(); err != nil {
		return "", err
	}
	v, err := d.offsetsView(ctx, name)
	if err != nil {
		return "", err
	}
	if err := d.fenceBeforeOffsetWrite(ctx, v); err != nil {
		return "", err
	}
	return v.alter(ctx, offsets)
}

// ResetConnectorOffsets implements connect.Herder.
func (d *Distributed) ResetConnectorOffsets(ctx context.Context, name string) (string, error) {
	if err := d.leaderCheck(); err != nil {
		return "", err
	}
	v, err := d.offsetsView(ctx, name)
	if err != nil {
		return "", err
	}
	if err := d.fenceBeforeOffsetWrite(ctx, v); err != nil {
		return "", err
	}
	return v.reset(ctx)
}
