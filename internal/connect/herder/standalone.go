// Package herder runs connectors: it validates and stores their
// configurations, starts each connector, asks it for task configurations,
// runs the tasks on a runtime.Worker, tracks the states the REST API
// reports, and applies pause, resume, stop, restart and offset changes,
// as Kafka Connect's herders do. Standalone is one worker with its
// configurations in memory (connect-standalone.sh).
//
// Invariants: operations on connectors run one at a time (mu), so a
// connector's tasks always belong to its current configuration; states
// change only from the runtime's callbacks or an operation, under a
// separate lock (statusMu) that callbacks take, never mu, so a task
// reporting while an operation waits for it cannot deadlock.
package herder

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// StandaloneConfig is what a standalone herder needs.
type StandaloneConfig struct {
	WorkerID  string
	Worker    *runtime.Worker
	Registry  *connect.Registry
	Offsets   runtime.OffsetStore
	Admin     *kadm.Client // sink connectors' consumer group offsets
	ClusterID string
	Logger    *slog.Logger
	// OverridePolicy is connector.client.config.override.policy (empty:
	// All).
	OverridePolicy connect.ClientOverridePolicy
	// TopicTrackingDisabled is topic.tracking.enable=false: the topics
	// tasks use are not recorded.
	TopicTrackingDisabled bool
	// TopicCreationDisabled is topic.creation.enable=false: source
	// connectors' topic.creation.* keys are ignored, not validated.
	TopicCreationDisabled bool
}

// Standalone is Kafka Connect's StandaloneHerder.
type Standalone struct {
	cfg StandaloneConfig

	mu         sync.Mutex // one operation at a time
	connectors map[string]*connState

	statusMu sync.Mutex
	status   map[string]*statusState
	// topicsEpoch changes when a connector's topics are reset, so that
	// its tasks report again the topics they use.
	topicsEpoch atomic.Uint64
}

// connState is a connector's configuration and what runs for it.
type connState struct {
	name     string
	config   map[string]string
	typ      connect.ConnectorType
	target   connect.TargetState
	instance connect.Connector // nil while not started
	tasks    []map[string]string
	ctx      *connectorContext
}

// statusState is a connector's and its tasks' states.
type statusState struct {
	connector connect.ComponentState
	tasks     map[int]connect.ComponentState
	topics    map[string]bool // used by the connector's tasks (KIP-558)
}

// NewStandalone returns a herder with no connectors.
func NewStandalone(cfg StandaloneConfig) *Standalone {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Standalone{cfg: cfg, connectors: map[string]*connState{}, status: map[string]*statusState{}}
}

// KafkaClusterID implements connect.Herder.
func (h *Standalone) KafkaClusterID() string { return h.cfg.ClusterID }

// Plugins implements connect.Herder.
func (h *Standalone) Plugins() *connect.Registry { return h.cfg.Registry }

// Connectors implements connect.Herder.
func (h *Standalone) Connectors(context.Context) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.connectors)), nil
}

func (h *Standalone) get(name string) (*connState, error) {
	c := h.connectors[name]
	if c == nil {
		return nil, connect.NotFoundError("Connector %s not found", name)
	}
	return c, nil
}

// ConnectorInfo implements connect.Herder.
func (h *Standalone) ConnectorInfo(_ context.Context, name string) (connect.ConnectorInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return connect.ConnectorInfo{}, err
	}
	return h.info(c), nil
}

func (h *Standalone) info(c *connState) connect.ConnectorInfo {
	info := connect.ConnectorInfo{Name: c.name, Config: maps.Clone(c.config), Tasks: []connect.TaskID{}, Type: c.typ}
	for i := range c.tasks {
		info.Tasks = append(info.Tasks, connect.TaskID{Connector: c.name, Task: i})
	}
	return info
}

// ConnectorConfig implements connect.Herder.
func (h *Standalone) ConnectorConfig(_ context.Context, name string) (map[string]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(c.config), nil
}

// ValidateConnectorConfig implements connect.Herder.
func (h *Standalone) ValidateConnectorConfig(_ context.Context, config map[string]string) (connect.ConfigInfos, error) {
	infos, _ := validateConnector(h.cfg.Registry, h.cfg.OverridePolicy, connect.ValidateOptions{TopicCreationDisabled: h.cfg.TopicCreationDisabled}, config)
	return infos, nil
}

// PutConnectorConfig implements connect.Herder: it validates the
// configuration, stops the connector's old instance and tasks when it
// replaces one, and starts it anew (unless paused or stopped).
func (h *Standalone) PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool) (connect.ConnectorInfo, bool, error) {
	config = maps.Clone(config)
	config[connect.KeyName] = name
	infos, typ := validateConnector(h.cfg.Registry, h.cfg.OverridePolicy, connect.ValidateOptions{TopicCreationDisabled: h.cfg.TopicCreationDisabled}, config)
	if infos.ErrorCount > 0 {
		return connect.ConnectorInfo{}, false, &connect.BadConfigError{Infos: infos}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.connectors[name]
	created := c == nil
	if !created && !allowReplace {
		return connect.ConnectorInfo{}, false, fmt.Errorf("%w: Connector %s already exists", connect.ErrConflict, name)
	}
	if created {
		c = &connState{name: name, target: connect.TargetStarted}
		h.connectors[name] = c
	} else {
		h.stopConnector(c)
	}
	c.config, c.typ = config, typ
	if c.target != connect.TargetStopped {
		h.startConnector(ctx, c)
	}
	return h.info(c), created, nil
}

// startConnector starts the connector, computes its task configurations
// and starts its tasks (paused when the target is PAUSED). A failure is
// the connector's state, not the caller's error, as in Kafka.
func (h *Standalone) startConnector(ctx context.Context, c *connState) {
	h.setConnector(c.name, connect.ComponentState{State: connect.Unassigned, WorkerID: h.cfg.WorkerID})
	inst, _, err := h.cfg.Registry.NewConnector(c.config[connect.KeyConnectorClass])
	if err == nil {
		c.ctx = &connectorContext{h: h, name: c.name}
		if err = inst.Start(c.ctx, maps.Clone(c.config)); err == nil {
			c.instance = inst
		}
	}
	if err != nil {
		h.failConnector(c.name, err)
		return
	}
	state := connect.Running
	if c.target == connect.TargetPaused {
		state = connect.Paused
	}
	h.setConnector(c.name, connect.ComponentState{State: state, WorkerID: h.cfg.WorkerID})
	if err := h.reconfigure(ctx, c); err != nil {
		h.failConnector(c.name, err)
	}
}

// reconfigure asks the connector for task configurations and runs them.
func (h *Standalone) reconfigure(_ context.Context, c *connState) error {
	maxTasks, _ := strconv.Atoi(c.config[connect.KeyTasksMax])
	if maxTasks < 1 {
		maxTasks = 1
	}
	tasks, err := c.instance.TaskConfigs(maxTasks)
	if err != nil {
		return fmt.Errorf("connector %s: task configurations: %w", c.name, err)
	}
	if len(tasks) > maxTasks {
		return fmt.Errorf("connector %s produced %d task configurations, more than tasks.max (%d)", c.name, len(tasks), maxTasks)
	}
	if c.tasks != nil && slices.EqualFunc(tasks, c.tasks, maps.Equal) {
		return nil // unchanged: the running tasks go on, as Kafka's
	}
	h.stopTasks(c)
	c.tasks = tasks
	for i := range tasks {
		h.startTask(c, i)
	}
	return nil
}

func (h *Standalone) startTask(c *connState, i int) {
	id := connect.TaskID{Connector: c.name, Task: i}
	taskCfg := maps.Clone(c.tasks[i])
	if err := h.cfg.Worker.StartTask(id, maps.Clone(c.config), taskCfg, h.listener()); err != nil {
		h.setTask(id, connect.ComponentState{State: connect.Failed, WorkerID: h.cfg.WorkerID, Trace: err.Error()})
		return
	}
	if c.target == connect.TargetPaused {
		_ = h.cfg.Worker.PauseTask(id)
	}
}

// stopTasks stops every task of c and forgets their states.
func (h *Standalone) stopTasks(c *connState) {
	for i := range c.tasks {
		id := connect.TaskID{Connector: c.name, Task: i}
		if err := h.cfg.Worker.StopTask(id); err != nil {
			h.cfg.Logger.Warn("stopping a task", "task", id, "err", err)
		}
	}
	h.statusMu.Lock()
	if s := h.status[c.name]; s != nil {
		s.tasks = map[int]connect.ComponentState{}
	}
	h.statusMu.Unlock()
	c.tasks = nil
}

// stopConnector stops c's tasks and its instance.
func (h *Standalone) stopConnector(c *connState) {
	h.stopTasks(c)
	if c.instance != nil {
		if err := c.instance.Stop(); err != nil {
			h.cfg.Logger.Warn("stopping a connector", "connector", c.name, "err", err)
		}
		c.instance = nil
	}
	if c.ctx != nil {
		c.ctx.close()
		c.ctx = nil
	}
}

// DeleteConnector implements connect.Herder.
func (h *Standalone) DeleteConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return err
	}
	h.stopConnector(c)
	delete(h.connectors, name)
	h.statusMu.Lock()
	delete(h.status, name)
	h.statusMu.Unlock()
	return nil
}

// PauseConnector implements connect.Herder: tasks stay assigned but stop
// processing, as Kafka's.
func (h *Standalone) PauseConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return err
	}
	if c.target == connect.TargetStopped {
		return fmt.Errorf("%w: connector %s is stopped; resume it first", connect.ErrBadRequest, name)
	}
	c.target = connect.TargetPaused
	for i := range c.tasks {
		_ = h.cfg.Worker.PauseTask(connect.TaskID{Connector: name, Task: i})
	}
	h.updateConnectorState(name, connect.Paused)
	return nil
}

// ResumeConnector implements connect.Herder; a stopped connector starts
// again.
func (h *Standalone) ResumeConnector(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return err
	}
	was := c.target
	c.target = connect.TargetStarted
	if was == connect.TargetStopped || c.instance == nil {
		h.startConnector(ctx, c)
		return nil
	}
	for i := range c.tasks {
		_ = h.cfg.Worker.ResumeTask(connect.TaskID{Connector: name, Task: i})
	}
	h.updateConnectorState(name, connect.Running)
	return nil
}

// StopConnector implements connect.Herder (KIP-875): the connector and its
// tasks are shut down, and it has no tasks until resumed.
func (h *Standalone) StopConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return err
	}
	h.stopConnector(c)
	c.target = connect.TargetStopped
	h.setConnector(name, connect.ComponentState{State: connect.Stopped, WorkerID: h.cfg.WorkerID})
	return nil
}

var _ connect.Herder = (*Standalone)(nil)
