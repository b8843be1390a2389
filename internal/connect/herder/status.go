package herder

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/fjordstream/fjord/internal/connect"
)

func (h *Standalone) entry(name string) *statusState {
	s := h.status[name]
	if s == nil {
		s = &statusState{tasks: map[int]connect.ComponentState{}}
		h.status[name] = s
	}
	return s
}

func (h *Standalone) setConnector(name string, st connect.ComponentState) {
	h.statusMu.Lock()
	h.entry(name).connector = st
	h.statusMu.Unlock()
}

// updateConnectorState changes a connector's state unless it failed.
func (h *Standalone) updateConnectorState(name string, st connect.State) {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	e := h.entry(name)
	if e.connector.State != connect.Failed {
		e.connector = connect.ComponentState{State: st, WorkerID: h.cfg.WorkerID}
	}
}

func (h *Standalone) failConnector(name string, err error) {
	h.cfg.Logger.Error("connector failed", "connector", name, "err", err)
	h.setConnector(name, connect.ComponentState{State: connect.Failed, WorkerID: h.cfg.WorkerID, Trace: err.Error()})
}

func (h *Standalone) setTask(id connect.TaskID, st connect.ComponentState) {
	h.statusMu.Lock()
	h.entry(id.Connector).tasks[id.Task] = st
	h.statusMu.Unlock()
}

// taskListener turns the runtime's callbacks into task states; it never
// takes h.mu.
type taskListener struct{ h *Standalone }

func (h *Standalone) listener() taskListener { return taskListener{h} }

func (l taskListener) set(id connect.TaskID, st connect.State, trace string) {
	l.h.setTask(id, connect.ComponentState{State: st, WorkerID: l.h.cfg.WorkerID, Trace: trace})
}

func (l taskListener) OnStartup(id connect.TaskID) { l.set(id, connect.Unassigned, "") }
func (l taskListener) OnRunning(id connect.TaskID) { l.set(id, connect.Running, "") }
func (l taskListener) OnPause(id connect.TaskID)   { l.set(id, connect.Paused, "") }
func (l taskListener) OnResume(id connect.TaskID)  { l.set(id, connect.Running, "") }
func (l taskListener) OnFailure(id connect.TaskID, _ error, trace string) {
	l.set(id, connect.Failed, trace)
}

// OnShutdown forgets a stopped task's state: a task that no longer runs
// has none (Kafka deletes it).
func (l taskListener) OnShutdown(id connect.TaskID) {
	l.h.statusMu.Lock()
	if s := l.h.status[id.Connector]; s != nil {
		delete(s.tasks, id.Task)
	}
	l.h.statusMu.Unlock()
}

// ConnectorStatus implements connect.Herder.
func (h *Standalone) ConnectorStatus(_ context.Context, name string) (connect.ConnectorStateInfo, error) {
	h.mu.Lock()
	c, err := h.get(name)
	var typ connect.ConnectorType
	var n int
	if err == nil {
		typ, n = c.typ, len(c.tasks)
	}
	h.mu.Unlock()
	if err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	return h.stateInfo(name, typ, n), nil
}

func (h *Standalone) stateInfo(name string, typ connect.ConnectorType, tasks int) connect.ConnectorStateInfo {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	e := h.entry(name)
	out := connect.ConnectorStateInfo{Name: name, Connector: e.connector, Tasks: []connect.TaskState{}, Type: typ}
	if out.Connector.State == "" {
		out.Connector = connect.ComponentState{State: connect.Unassigned, WorkerID: h.cfg.WorkerID}
	}
	for i := range tasks {
		st, ok := e.tasks[i]
		if !ok {
			st = connect.ComponentState{State: connect.Unassigned, WorkerID: h.cfg.WorkerID}
		}
		out.Tasks = append(out.Tasks, connect.TaskState{ID: i, ComponentState: st})
	}
	return out
}

// TaskConfigs implements connect.Herder.
func (h *Standalone) TaskConfigs(_ context.Context, name string) ([]connect.TaskInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return nil, err
	}
	out := []connect.TaskInfo{}
	for i, t := range c.tasks {
		out = append(out, connect.TaskInfo{ID: connect.TaskID{Connector: name, Task: i}, Config: maps.Clone(t)})
	}
	return out, nil
}

// TaskStatus implements connect.Herder.
func (h *Standalone) TaskStatus(ctx context.Context, id connect.TaskID) (connect.TaskState, error) {
	info, err := h.ConnectorStatus(ctx, id.Connector)
	if err != nil {
		return connect.TaskState{}, err
	}
	i := slices.IndexFunc(info.Tasks, func(t connect.TaskState) bool { return t.ID == id.Task })
	if i < 0 {
		return connect.TaskState{}, connect.NotFoundError("No status found for task %s-%d", id.Connector, id.Task)
	}
	return info.Tasks[i], nil
}

// RestartConnector implements connect.Herder (KIP-745): the connector
// restarts unless onlyFailed and it did not fail; with includeTasks its
// tasks restart too, only the failed ones with onlyFailed.
func (h *Standalone) RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (connect.ConnectorStateInfo, error) {
	before, err := h.ConnectorStatus(ctx, name)
	if err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	if c.target == connect.TargetStopped {
		return before, nil
	}
	restartConn := !onlyFailed || before.Connector.State == connect.Failed
	var restartTasks []int
	if includeTasks {
		for _, t := range before.Tasks {
			if !onlyFailed || t.State == connect.Failed {
				restartTasks = append(restartTasks, t.ID)
			}
		}
	}
	out := before
	if restartConn {
		out.Connector.State = connect.Restarting
	}
	for i := range out.Tasks {
		if slices.Contains(restartTasks, out.Tasks[i].ID) {
			out.Tasks[i].State = connect.Restarting
		}
	}
	if restartConn {
		// A connector's restart restarts its instance; its tasks are
		// restarted only as asked (Kafka keeps them running).
		if c.instance != nil {
			_ = c.instance.Stop()
			c.instance = nil
		}
		inst, _, err := h.cfg.Registry.NewConnector(c.config[connect.KeyConnectorClass])
		if err == nil {
			c.ctx = &connectorContext{h: h, name: name}
			err = inst.Start(c.ctx, maps.Clone(c.config))
		}
		if err != nil {
			h.failConnector(name, err)
		} else {
			c.instance = inst
			state := connect.Running
			if c.target == connect.TargetPaused {
				state = connect.Paused
			}
			h.setConnector(name, connect.ComponentState{State: state, WorkerID: h.cfg.WorkerID})
			if len(c.tasks) == 0 {
				// Its start had failed, so it never split into tasks.
				if err := h.reconfigure(ctx, c); err != nil {
					h.failConnector(name, err)
				}
			}
		}
	}
	for _, i := range restartTasks {
		id := connect.TaskID{Connector: name, Task: i}
		_ = h.cfg.Worker.StopTask(id)
		if i < len(c.tasks) {
			h.startTask(c, i)
		}
	}
	return out, nil
}

// RestartTask implements connect.Herder.
func (h *Standalone) RestartTask(_ context.Context, id connect.TaskID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id.Connector)
	if err != nil {
		return err
	}
	if id.Task < 0 || id.Task >= len(c.tasks) {
		return connect.NotFoundError("Task %s-%d not found", id.Connector, id.Task)
	}
	_ = h.cfg.Worker.StopTask(id)
	h.startTask(c, id.Task)
	return nil
}

// connectorContext is a running connector's ConnectorContext; after
// close its calls do nothing (the instance was replaced).
type connectorContext struct {
	h    *Standalone
	name string

	mu     sync.Mutex
	closed bool
}

func (c *connectorContext) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *connectorContext) live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

// RequestTaskReconfiguration implements connect.ConnectorContext: the
// herder asks the connector for task configurations again and restarts
// the tasks when they changed (off the caller's goroutine: a connector
// may call it from its Start).
func (c *connectorContext) RequestTaskReconfiguration() {
	go func() {
		h := c.h
		h.mu.Lock()
		defer h.mu.Unlock()
		conn := h.connectors[c.name]
		if conn == nil || conn.instance == nil || conn.ctx != c || !c.live() {
			return
		}
		old := conn.tasks
		if err := h.reconfigure(context.Background(), conn); err != nil {
			h.failConnector(c.name, err)
		} else if slices.EqualFunc(old, conn.tasks, maps.Equal) {
			h.cfg.Logger.Debug("task configurations unchanged", "connector", c.name)
		}
	}()
}

// RaiseError implements connect.ConnectorContext.
func (c *connectorContext) RaiseError(err error) {
	if c.live() {
		c.h.failConnector(c.name, fmt.Errorf("connector raised an error: %w", err))
	}
}
