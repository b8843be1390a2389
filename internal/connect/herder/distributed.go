package herder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/distributed"
	"github.com/fjordstream/fjord/internal/connect/runtime"
	"github.com/fjordstream/fjord/internal/connect/storage"
	"github.com/fjordstream/fjord/internal/connect/workergroup"
)

var _ runtime.OffsetStore = (*storage.TopicOffsetStore)(nil)

// DistributedConfig is what a distributed worker's herder needs.
type DistributedConfig struct {
	// WorkerID is the worker's host:port, URL its advertised REST URL.
	WorkerID, URL string
	Seeds         []string
	ClientOptions []kgo.Opt
	Registry      *connect.Registry
	// Worker runs this worker's tasks; its offset store must be Offsets.
	Worker          *runtime.Worker
	Offsets         *storage.TopicOffsetStore
	Configs, Status storage.TopicSpec
	Group           workergroup.Config
	// MaxDelay is scheduled.rebalance.max.delay.ms.
	MaxDelay  time.Duration
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
	// ExactlyOnce is exactly.once.source.support. Enabled, the Worker
	// must run source tasks transactionally (runtime.WorkerConfig's
	// ExactlyOnce) and Offsets must read read_committed.
	ExactlyOnce connect.ExactlyOnceMode
}

// Distributed is Kafka Connect's DistributedHerder: workers sharing
// group.id split connectors and tasks through the group protocol, keep
// configurations in config.storage.topic (written by the leader; a
// connector's task configurations by the worker running it), statuses in
// status.storage.topic, and answer reads from any worker; writes reaching
// a follower are forwarded to the leader (connect.NotLeaderError).
type Distributed struct {
	cfg        DistributedConfig
	configs    *storage.ConfigStore
	statuses   *storage.StatusStore
	queue      *statusQueue
	taskWriter *taskConfigWriter
	admin      *kadm.Client
	groupCl    *kgo.Client
	member     *workergroup.Member

	mu         sync.Mutex // guards everything below
	snap       storage.ConfigSnapshot
	memberID   string
	leaderID   string
	leaderURL  string
	generation int32
	assignment distributed.Assignment
	assignor   distributed.AssignorState
	running    map[string]*runningConnector         // connector instances on this worker
	taskCfgs   map[connect.TaskID]map[string]string // what each running task was started with
	attempted  map[string]map[string]string         // the configuration each assigned connector was last started with
	closing    bool                                 // Close began: nothing starts any more
	owners     map[connect.TaskID]string            // on the leader: each task's worker URL
	fencing    map[string]bool                      // connectors whose fencing this worker is asking for
	runCtx     context.Context                      // ends at Close: the herder's own goroutines

	fenceMu sync.Mutex // on the leader: one round of zombie fencing at a time

	gen atomic.Int32 // the generation, for status writes from task goroutines

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type runningConnector struct {
	instance connect.Connector
	config   map[string]string
	ctx      *dConnectorContext
}

// NewDistributed returns a herder; Start joins the group.
func NewDistributed(cfg DistributedConfig) (*Distributed, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Distributed{cfg: cfg, running: map[string]*runningConnector{}, taskCfgs: map[connect.TaskID]map[string]string{},
		owners: map[connect.TaskID]string{}, attempted: map[string]map[string]string{}, fencing: map[string]bool{}, generation: -1}
	d.taskWriter = newTaskConfigWriter(d)
	var err error
	if d.configs, err = storage.NewConfigStore(cfg.Configs, cfg.Seeds, cfg.ClientOptions, d.onConfigChange, d.onRestart, cfg.Logger); err != nil {
		return nil, err
	}
	if d.statuses, err = storage.NewStatusStore(cfg.Status, cfg.Seeds, cfg.ClientOptions, cfg.Logger); err != nil {
		return nil, err
	}
	d.queue = newStatusQueue(d.statuses, cfg.Logger)
	d.queue.exists = d.configs.HasConnector
	if d.groupCl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Seeds...)}, cfg.ClientOptions...)...); err != nil {
		return nil, err
	}
	d.admin = kadm.NewClient(d.groupCl)
	d.member = workergroup.New(cfg.Group, d.groupCl, d)
	return d, nil
}

// Start reads the internal topics (creating them if missing) and joins the
// group; the membership runs until Close.
func (d *Distributed) Start(ctx context.Context) error {
	for _, start := range []func(context.Context) error{d.cfg.Offsets.Start, d.configs.Start, d.statuses.Start} {
		if err := start(ctx); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.snap = d.configs.Snapshot()
	d.mu.Unlock()
	runCtx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	d.cancel, d.runCtx = cancel, runCtx
	d.mu.Unlock()
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		_ = d.member.Run(runCtx)
	}()
	go func() {
		defer d.wg.Done()
		d.queue.run()
	}()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.taskWriter.run()
	}()
	return nil
}

// Close leaves the group and stops everything this worker runs.
func (d *Distributed) Close() {
	// Stop the work first, then leave the group: leaving first would let
	// the others start these tasks while they still run here.
	d.mu.Lock()
	d.closing = true
	for name := range d.running {
		d.stopConnectorLocked(name)
	}
	d.assignment, d.taskCfgs = distributed.Assignment{}, map[connect.TaskID]map[string]string{}
	d.mu.Unlock()
	_ = d.cfg.Worker.StopAll()
	if d.cancel != nil {
		d.cancel()
		d.taskWriter.close()
		d.queue.close()
	}
	d.wg.Wait()
	d.configs.Close()
	d.statuses.Close()
	d.cfg.Offsets.Close()
	d.groupCl.Close()
}

// State implements workergroup.Handler.
func (d *Distributed) State() distributed.WorkerState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return distributed.WorkerState{URL: d.cfg.URL, ConfigOffset: d.snap.Offset, Current: d.assignment}
}

// Assign implements workergroup.Handler (this worker leads): every
// configured connector and its committed tasks, by the cooperative
// assignor.
func (d *Distributed) Assign(ctx context.Context, leaderID string, version int16, members map[string]distributed.WorkerState) (map[string]distributed.LeaderAssignment, error) {
	if err := d.configs.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	snap := d.configs.Snapshot()
	in := distributed.AssignInput{MaxDelay: d.cfg.MaxDelay, Now: time.Now()}
	if version == 0 {
		in.MaxDelay = 0 // eager: everything is reassigned every round
	}
	for id, s := range members {
		cur := s.Current
		if version == 0 {
			cur = distributed.Assignment{}
		}
		in.Members = append(in.Members, distributed.Member{ID: id, Current: cur})
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Connectors)) {
		in.Connectors = append(in.Connectors, name)
		for i := range snap.TaskCount(name) {
			in.Tasks = append(in.Tasks, connect.TaskID{Connector: name, Task: i})
		}
	}
	d.mu.Lock()
	in.State = d.assignor
	out, st := distributed.Assign(in)
	d.assignor = st
	d.owners = map[connect.TaskID]string{}
	for id, a := range st.Previous {
		for _, t := range a.Tasks {
			d.owners[t] = members[id].URL
		}
	}
	d.mu.Unlock()
	res := map[string]distributed.LeaderAssignment{}
	for id, o := range out {
		res[id] = distributed.LeaderAssignment{Leader: leaderID, LeaderURL: members[leaderID].URL, ConfigOffset: snap.Offset,
			Assigned: o.Assigned, Revoked: o.Revoked, Delay: int32(o.Delay / time.Millisecond)}
	}
	return res, nil
}

// Assigned implements workergroup.Handler: it stops what is revoked,
// catches up with the config topic, and starts what is assigned.
func (d *Distributed) Assigned(ctx context.Context, a distributed.LeaderAssignment, generation int32, memberID string) {
	_ = d.configs.ReadToEnd(ctx)
	snap := d.configs.Snapshot()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	d.snap, d.memberID, d.leaderID, d.leaderURL = snap, memberID, a.Leader, a.LeaderURL
	d.generation = generation
	d.gen.Store(generation)
	// Revoked tasks stop in parallel: one after another, a few slow
	// stops would outlast the session while no heartbeat is sent.
	d.stopTasksLocked(a.Revoked.Tasks)
	for _, c := range a.Revoked.Connectors {
		d.stopConnectorLocked(c)
	}
	cur := map[string]bool{}
	for _, c := range d.assignment.Connectors {
		cur[c] = true
	}
	d.assignment.Connectors = slices.DeleteFunc(d.assignment.Connectors, func(c string) bool { return slices.Contains(a.Revoked.Connectors, c) })
	d.assignment.Tasks = slices.DeleteFunc(d.assignment.Tasks, func(t connect.TaskID) bool { return slices.Contains(a.Revoked.Tasks, t) })
	d.assignment.Connectors = append(d.assignment.Connectors, a.Assigned.Connectors...)
	d.assignment.Tasks = append(d.assignment.Tasks, a.Assigned.Tasks...)
	for _, c := range a.Assigned.Connectors {
		d.startConnectorLocked(ctx, c)
	}
	for _, t := range a.Assigned.Tasks {
		d.startTaskLocked(t)
	}
	if !a.Revoked.Empty() {
		d.member.RequestRejoin() // cooperative: what was revoked is reassigned next round
	}
	if a.Delay > 0 {
		// A departed worker's work waits: look again when the delay ends.
		delay := time.Duration(a.Delay) * time.Millisecond
		time.AfterFunc(delay, d.member.RequestRejoin)
	}
}

// Revoked implements workergroup.Handler: the membership ended, so
// nothing may run here.
func (d *Distributed) Revoked(context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.assignment.Tasks {
		d.stopTaskLocked(t)
	}
	for _, c := range d.assignment.Connectors {
		d.stopConnectorLocked(c)
	}
	d.assignment = distributed.Assignment{}
}

// startConnectorLocked starts a connector assigned here and writes its
// task configurations when they changed.
func (d *Distributed) startConnectorLocked(ctx context.Context, name string) {
	cfg, ok := d.snap.Connectors[name]
	if !ok || d.running[name] != nil || d.closing {
		return
	}
	d.attempted[name] = maps.Clone(cfg)
	target := d.snap.TargetStates[name]
	if target == connect.TargetStopped {
		d.putConnectorStatus(name, connect.Stopped, "")
		return
	}
	inst, _, err := d.cfg.Registry.NewConnector(cfg[connect.KeyConnectorClass])
	rc := &runningConnector{config: maps.Clone(cfg), ctx: &dConnectorContext{d: d, name: name}}
	if err == nil {
		err = inst.Start(rc.ctx, maps.Clone(cfg))
	}
	if err != nil {
		d.putConnectorStatus(name, connect.Failed, err.Error())
		return
	}
	rc.instance = inst
	d.running[name] = rc
	state := connect.Running
	if target == connect.TargetPaused {
		state = connect.Paused
	}
	d.putConnectorStatus(name, state, "")
	d.writeTaskConfigsLocked(ctx, name, rc)
}

// writeTaskConfigsLocked asks the running connector for its task
// configurations and writes them when they differ from the committed ones
// (the leader then rebalances).
func (d *Distributed) writeTaskConfigsLocked(ctx context.Context, name string, rc *runningConnector) {
	maxTasks, _ := strconv.Atoi(rc.config[connect.KeyTasksMax])
	tasks, err := rc.instance.TaskConfigs(max(maxTasks, 1))
	if err != nil {
		d.putConnectorStatus(name, connect.Failed, err.Error())
		return
	}
	if slices.EqualFunc(tasks, d.snap.Tasks[name], maps.Equal) {
		return
	}
	_ = ctx
	d.taskWriter.put(name, rc, tasks)
}

func (d *Distributed) stopConnectorLocked(name string) {
	rc := d.running[name]
	if rc == nil {
		return
	}
	rc.ctx.close()
	if err := rc.instance.Stop(); err != nil {
		d.cfg.Logger.Warn("stopping a connector", "connector", name, "err", err)
	}
	delete(d.running, name)
}

func (d *Distributed) startTaskLocked(id connect.TaskID) {
	tasks := d.snap.Tasks[id.Connector]
	if id.Task >= len(tasks) || d.snap.TargetStates[id.Connector] == connect.TargetStopped || d.closing {
		return
	}
	if d.needsFencingLocked(id) {
		// A new generation: the old one is fenced first (KIP-618);
		// the task count record that follows starts this task.
		d.requestFencingLocked(id.Connector)
		return
	}
	conn := d.snap.Connectors[id.Connector]
	if err := d.cfg.Worker.StartTask(id, maps.Clone(conn), maps.Clone(tasks[id.Task]), statusWriter{d}); err != nil {
		d.putTaskStatus(id, connect.Failed, err.Error())
		return
	}
	d.taskCfgs[id] = tasks[id.Task]
	if d.snap.TargetStates[id.Connector] == connect.TargetPaused {
		_ = d.cfg.Worker.PauseTask(id)
	}
}

// stopTasksLocked stops tasks at once and waits for them all.
func (d *Distributed) stopTasksLocked(ids []connect.TaskID) {
	var wg sync.WaitGroup
	for _, id := range ids {
		if _, ok := d.taskCfgs[id]; !ok {
			continue
		}
		delete(d.taskCfgs, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.cfg.Worker.StopTask(id); err != nil {
				d.cfg.Logger.Warn("stopping a task", "task", id, "err", err)
			}
		}()
	}
	wg.Wait()
}

func (d *Distributed) stopTaskLocked(id connect.TaskID) {
	if _, ok := d.taskCfgs[id]; !ok {
		return
	}
	if err := d.cfg.Worker.StopTask(id); err != nil {
		d.cfg.Logger.Warn("stopping a task", "task", id, "err", err)
	}
	delete(d.taskCfgs, id)
}

// onConfigChange runs on every worker when the config topic changes: the
// leader rebalances when connectors or task sets changed; every worker
// applies target states and new configurations to what it runs.
func (d *Distributed) onConfigChange(snap storage.ConfigSnapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snap
	d.snap = snap
	rebalance := !slices.Equal(slices.Sorted(maps.Keys(old.Connectors)), slices.Sorted(maps.Keys(snap.Connectors)))
	for name := range snap.Connectors {
		if old.TaskCount(name) != snap.TaskCount(name) {
			rebalance = true
		}
	}
	for _, name := range d.assignment.Connectors {
		cfg, ok := snap.Connectors[name]
		changed := !maps.Equal(cfg, d.attempted[name]) || snap.TargetStates[name] != old.TargetStates[name]
		switch {
		case !ok:
			d.stopConnectorLocked(name)
			delete(d.attempted, name)
		case changed:
			// A new configuration or target state restarts the
			// connector (and its tasks, below), including one whose
			// last start failed; stopped means shut down.
			d.stopConnectorLocked(name)
			d.startConnectorLocked(context.Background(), name)
		}
	}
	for _, id := range d.assignment.Tasks {
		tasks := snap.Tasks[id.Connector]
		started, running := d.taskCfgs[id]
		switch {
		case id.Task >= len(tasks) || snap.TargetStates[id.Connector] == connect.TargetStopped:
			d.stopTaskLocked(id)
		case !running:
			d.startTaskLocked(id)
		case !maps.Equal(started, tasks[id.Task]) || d.needsFencingLocked(id):
			// A new generation of an exactly-once source connector
			// stops even its unchanged tasks: the fencing it waits for
			// would fence them mid-transaction (KIP-618 stops them
			// first too).
			d.stopTaskLocked(id)
			d.startTaskLocked(id)
		case snap.TargetStates[id.Connector] != old.TargetStates[id.Connector]:
			if snap.TargetStates[id.Connector] == connect.TargetPaused {
				_ = d.cfg.Worker.PauseTask(id)
			} else {
				_ = d.cfg.Worker.ResumeTask(id)
			}
		}
	}
	for name := range d.running {
		if old.TargetStates[name] != snap.TargetStates[name] {
			st := connect.Running
			if snap.TargetStates[name] == connect.TargetPaused {
				st = connect.Paused
			}
			d.putConnectorStatus(name, st, "")
		}
	}
	if rebalance && d.memberID != "" && d.memberID == d.leaderID {
		d.member.RequestRejoin()
	}
}

// onRestart applies a restart request to what this worker runs.
func (d *Distributed) onRestart(r storage.RestartRequest) {
	st, _ := d.statuses.Connector(r.Connector)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	if slices.Contains(d.assignment.Connectors, r.Connector) && (!r.OnlyFailed || st.State == connect.Failed) {
		d.stopConnectorLocked(r.Connector)
		d.startConnectorLocked(context.Background(), r.Connector)
	}
	if !r.IncludeTasks {
		return
	}
	for _, id := range d.assignment.Tasks {
		if id.Connector != r.Connector {
			continue
		}
		if ts, _ := d.statuses.Task(id); r.OnlyFailed && ts.State != connect.Failed {
			continue
		}
		d.stopTaskLocked(id)
		d.startTaskLocked(id)
	}
}

// statusWriter writes task states to the status topic (off the task's
// goroutine: the runtime's callbacks must not block).
type statusWriter struct{ d *Distributed }

func (s statusWriter) OnStartup(id connect.TaskID) { s.d.putTaskStatus(id, connect.Unassigned, "") }
func (s statusWriter) OnRunning(id connect.TaskID) { s.d.putTaskStatus(id, connect.Running, "") }
func (s statusWriter) OnPause(id connect.TaskID)   { s.d.putTaskStatus(id, connect.Paused, "") }
func (s statusWriter) OnResume(id connect.TaskID)  { s.d.putTaskStatus(id, connect.Running, "") }
func (s statusWriter) OnFailure(id connect.TaskID, _ error, trace string) {
	s.d.putTaskStatus(id, connect.Failed, trace)
}
func (s statusWriter) OnShutdown(id connect.TaskID) { s.d.putTaskStatus(id, connect.Unassigned, "") }

func (d *Distributed) status(state connect.State, trace string) storage.Status {
	st := storage.Status{State: state, WorkerID: d.cfg.WorkerID, Generation: d.gen.Load()}
	if trace != "" {
		st.Trace = &trace
	}
	return st
}

func (d *Distributed) putTaskStatus(id connect.TaskID, state connect.State, trace string) {
	d.queue.putTask(id, d.status(state, trace))
}

func (d *Distributed) putConnectorStatus(name string, state connect.State, trace string) {
	d.queue.putConnector(name, d.status(state, trace))
}

// dConnectorContext is a running connector's ConnectorContext here.
type dConnectorContext struct {
	d    *Distributed
	name string

	mu     sync.Mutex
	closed bool
}

func (c *dConnectorContext) close() { c.mu.Lock(); c.closed = true; c.mu.Unlock() }

func (c *dConnectorContext) live() bool { c.mu.Lock(); defer c.mu.Unlock(); return !c.closed }

// RequestTaskReconfiguration implements connect.ConnectorContext.
func (c *dConnectorContext) RequestTaskReconfiguration() {
	go func() {
		d := c.d
		d.mu.Lock()
		defer d.mu.Unlock()
		if rc := d.running[c.name]; rc != nil && rc.ctx == c && c.live() {
			d.writeTaskConfigsLocked(context.Background(), c.name, rc)
		}
	}()
}

// RaiseError implements connect.ConnectorContext.
func (c *dConnectorContext) RaiseError(err error) {
	if c.live() {
		c.d.putConnectorStatus(c.name, connect.Failed, err.Error())
	}
}

// errNoLeader: a write arrived before this worker knows the group's leader.
var errNoLeader = errors.New("the worker has not joined its group yet")

// leaderCheck returns nil on the leader, a NotLeaderError (forwarded by
// the REST API) elsewhere.
func (d *Distributed) leaderCheck() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.memberID == "":
		return fmt.Errorf("%w: %w", connect.ErrRebalancing, errNoLeader)
	case d.memberID != d.leaderID:
		return &connect.NotLeaderError{LeaderURL: d.leaderURL}
	}
	return nil
}
