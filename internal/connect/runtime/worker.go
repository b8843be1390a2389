package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// Defaults of the worker's keys, Kafka's.
const (
	DefaultOffsetFlushInterval = 60 * time.Second // offset.flush.interval.ms
	DefaultOffsetFlushTimeout  = 5 * time.Second  // offset.flush.timeout.ms
	DefaultShutdownTimeout     = 5 * time.Second  // task.shutdown.graceful.timeout.ms
)

// WorkerConfig is what a Worker needs: the worker.properties keys the
// runtime reads, and its collaborators.
type WorkerConfig struct {
	// WorkerID names the worker in task states (host:port in Kafka).
	WorkerID string
	// BootstrapServers and ClientOptions make every task's Kafka client
	// (ClientOptions come after the runtime's own, so they win: TLS,
	// SASL, client IDs).
	BootstrapServers []string
	ClientOptions    []kgo.Opt
	// ProducerOptions and ConsumerOptions come last for source tasks'
	// producers and sink tasks' consumers: the worker's producer.* and
	// consumer.* keys (ClientOverrides).
	ProducerOptions, ConsumerOptions []kgo.Opt
	// AdminProps are the worker's admin.* keys, prefix removed
	// (WorkerAdminProps): the settings of each task's admin client, under
	// the connector's admin.override.* keys.
	AdminProps map[string]string
	// Metrics records the tasks' metrics; nil records none.
	Metrics *Metrics
	// ConverterProps holds the worker's converter keys as
	// worker.properties writes them: key.converter, value.converter,
	// header.converter and their prefixed settings
	// (key.converter.schemas.enable=false). A connector's own
	// key.converter (and its key.converter.* keys) overrides them.
	ConverterProps map[string]string
	// OffsetFlushInterval is offset.flush.interval.ms (0: 60 s): how
	// often source offsets are stored and sink offsets committed.
	OffsetFlushInterval time.Duration
	// OffsetFlushTimeout is offset.flush.timeout.ms (0: 5 s): how long a
	// commit waits for outstanding records.
	OffsetFlushTimeout time.Duration
	// ShutdownTimeout is task.shutdown.graceful.timeout.ms (0: 5 s).
	ShutdownTimeout time.Duration
	// Logger receives the runtime's logs (nil: slog.Default()).
	Logger *slog.Logger
	// Registry instantiates connectors, converters, transforms and
	// predicates by class name.
	Registry *connect.Registry
	// Offsets stores source offsets.
	Offsets OffsetStore
	// TopicCreationDisabled is topic.creation.enable=false: source
	// connectors' topic.creation.* keys are ignored (KIP-158).
	TopicCreationDisabled bool
	// OverridePolicy is connector.client.config.override.policy, checked
	// again when a task starts (empty: All): a configuration accepted by
	// a worker with a looser policy must not slip through here.
	OverridePolicy connect.ClientOverridePolicy
	// ExactlyOnce is exactly.once.source.support=enabled (distributed
	// workers, KIP-618): every source task writes its records and their
	// offsets in one transaction at a time, with the transactional ID
	// <GroupID>-<connector>-<task>. Offsets must then be a
	// TransactionalOffsetStore.
	ExactlyOnce bool
	// GroupID is the distributed worker's group.id.
	GroupID string
	// TaskIsCurrent, when set, is asked after an exactly-once task's
	// producer was initialized, before the task starts (Kafka's
	// post-producer check): whether its configuration is still the
	// newest generation's. A task of an older generation that starts
	// late, after the fencing round for a newer one, was not fenced by
	// it; the error stops it.
	TaskIsCurrent func(ctx context.Context, id connect.TaskID, taskConfig map[string]string) error
}

// TransactionalOffsetStore is an OffsetStore kept in a topic: an
// exactly-once source task writes the records that store its offsets
// itself, in its transaction, and the store reads them back.
type TransactionalOffsetStore interface {
	OffsetStore
	// OffsetRecords returns the records that store offsets.
	OffsetRecords(connector string, offsets []connect.ConnectorOffset) ([]*kgo.Record, error)
}

// TransactionalID is the transactional ID of an exactly-once source task,
// Kafka's: ${group.id}-${connector}-${task}.
func TransactionalID(groupID string, id connect.TaskID) string {
	return fmt.Sprintf("%s-%s-%d", groupID, id.Connector, id.Task)
}

// StatusListener hears a task's state changes, Kafka Connect's
// TaskStatus.Listener: a herder turns them into task states. Calls come
// from the task's goroutine (or StartTask's caller); they must not block
// nor call the Worker (a restart after OnFailure goes through the
// herder's own goroutine).
type StatusListener interface {
	// OnStartup: the task is being started.
	OnStartup(id connect.TaskID)
	// OnRunning: the task's Start returned; it is processing records.
	OnRunning(id connect.TaskID)
	// OnPause and OnResume follow PauseTask and ResumeTask.
	OnPause(id connect.TaskID)
	OnResume(id connect.TaskID)
	// OnFailure: the task failed with err; trace is the error chain
	// (the REST API's "trace"). No OnShutdown follows.
	OnFailure(id connect.TaskID, err error, trace string)
	// OnShutdown: the task stopped cleanly.
	OnShutdown(id connect.TaskID)
}

// runner is a source or sink task's engine.
type runner interface {
	// run processes records until ctx ends (nil) or the task fails.
	run(ctx context.Context) error
	// interrupt is called when a stop is requested, before ctx ends,
	// to unblock the task (a source task's Stop ends its Poll).
	interrupt()
	setPaused(paused bool)
}

// workerTask is one running task and what stops it.
type workerTask struct {
	r      runner
	cancel context.CancelFunc
	done   chan struct{}
	failed atomic.Bool // set before the listener hears the failure
}

// Worker runs tasks, Kafka Connect's Worker. Safe for concurrent use.
type Worker struct {
	cfg WorkerConfig
	log *slog.Logger

	mu    sync.Mutex
	tasks map[connect.TaskID]*workerTask
}

// NewWorker checks cfg and returns a Worker with no task.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Registry == nil || cfg.Offsets == nil {
		return nil, errors.New("worker: Registry and Offsets are required")
	}
	if _, ok := cfg.Offsets.(TransactionalOffsetStore); cfg.ExactlyOnce && (!ok || cfg.GroupID == "") {
		return nil, errors.New("worker: exactly-once source tasks need a topic offset store and a group.id (distributed mode)")
	}
	if cfg.OffsetFlushInterval <= 0 {
		cfg.OffsetFlushInterval = DefaultOffsetFlushInterval
	}
	if cfg.OffsetFlushTimeout <= 0 {
		cfg.OffsetFlushTimeout = DefaultOffsetFlushTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.WorkerID), tasks: map[connect.TaskID]*workerTask{}}, nil
}

// ID is the worker's ID.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// Offsets is the worker's offset store (the herder's offsets endpoints).
func (w *Worker) Offsets() OffsetStore { return w.cfg.Offsets }

// StartTask builds task id of the connector (its converters, transforms,
// Kafka clients) and starts it on a goroutine of its own. An error here
// (bad configuration, unknown class) is also reported to listener as a
// failure, as Kafka does; the task is then not running.
func (w *Worker) StartTask(id connect.TaskID, connectorConfig, taskConfig map[string]string, listener StatusListener) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.tasks[id]; ok {
		if !t.failed.Load() {
			return fmt.Errorf("task %s is already running on this worker", taskName(id))
		}
		// Failed: a restart replaces it once its goroutine is gone (it
		// is, or is about to be after telling the listener).
		timer := time.NewTimer(w.cfg.ShutdownTimeout)
		select {
		case <-t.done:
		case <-timer.C:
		}
		timer.Stop()
		t.cancel()
	}
	listener.OnStartup(id)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := w.newRunner(ctx, id, connectorConfig, taskConfig, listener)
	if err != nil {
		cancel()
		err = fmt.Errorf("task %s: %w", taskName(id), err)
		listener.OnFailure(id, err, errorTrace(err))
		return err
	}
	t := &workerTask{r: r, cancel: cancel, done: make(chan struct{})}
	w.tasks[id] = t
	go func() {
		defer close(t.done)
		defer func() {
			// A panic in a task's code fails that task, not the worker
			// (Kafka catches Throwable the same way).
			if p := recover(); p != nil {
				err := fmt.Errorf("task %s panicked: %v", taskName(id), p)
				w.log.Error("task panicked", "task", taskName(id), "panic", p)
				t.failed.Store(true)
				listener.OnFailure(id, err, err.Error()+"\n"+string(debug.Stack()))
			}
		}()
		if err := r.run(ctx); err != nil {
			err = fmt.Errorf("task %s: %w", taskName(id), err)
			w.log.Error("task failed", "task", taskName(id), "err", err)
			t.failed.Store(true)
			listener.OnFailure(id, err, errorTrace(err))
			return
		}
		listener.OnShutdown(id)
	}()
	return nil
}

func (w *Worker) newRunner(ctx context.Context, id connect.TaskID, conn, task map[string]string, l StatusListener) (runner, error) {
	c, typ, err := w.cfg.Registry.NewConnector(conn[connect.KeyConnectorClass])
	if err != nil {
		return nil, err
	}
	switch typ {
	case connect.SourceType:
		sc, ok := c.(connect.SourceConnector)
		if !ok {
			return nil, fmt.Errorf("%s is not a SourceConnector", conn[connect.KeyConnectorClass])
		}
		return newSourceRunner(ctx, w, id, conn, task, sc.NewTask(), l)
	case connect.SinkType:
		sc, ok := c.(connect.SinkConnector)
		if !ok {
			return nil, fmt.Errorf("%s is not a SinkConnector", conn[connect.KeyConnectorClass])
		}
		return newSinkRunner(ctx, w, id, conn, task, sc.NewTask(), l)
	}
	return nil, fmt.Errorf("connector %s has unknown type %s", conn[connect.KeyConnectorClass], typ)
}

// StopTask stops a task and waits for it, up to the shutdown timeout: a
// task stuck in its own code past that is abandoned (reported as an
// error), as Kafka does.
func (w *Worker) StopTask(id connect.TaskID) error {
	w.mu.Lock()
	t, ok := w.tasks[id]
	delete(w.tasks, id)
	w.mu.Unlock()
	if !ok {
		return connect.NotFoundError("task %s is not running on this worker", taskName(id))
	}
	return w.awaitStop(id, t)
}

func (w *Worker) awaitStop(id connect.TaskID, t *workerTask) error {
	t.r.interrupt()
	t.cancel()
	timer := time.NewTimer(w.cfg.ShutdownTimeout + w.cfg.OffsetFlushTimeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("task %s did not stop within %v", taskName(id), w.cfg.ShutdownTimeout+w.cfg.OffsetFlushTimeout)
	}
}

// StopAll stops every task, in parallel, and returns the errors joined.
func (w *Worker) StopAll() error {
	w.mu.Lock()
	tasks := w.tasks
	w.tasks = map[connect.TaskID]*workerTask{}
	w.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 0, len(tasks))
	var mu sync.Mutex
	for id, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.awaitStop(id, t); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PauseTask pauses a task (target state PAUSED): a source task stops
// polling, a sink task stops consuming; offsets are still committed.
func (w *Worker) PauseTask(id connect.TaskID) error { return w.setPaused(id, true) }

// ResumeTask resumes a paused task.
func (w *Worker) ResumeTask(id connect.TaskID) error { return w.setPaused(id, false) }

func (w *Worker) setPaused(id connect.TaskID, p bool) error {
	w.mu.Lock()
	t, ok := w.tasks[id]
	w.mu.Unlock()
	if !ok {
		return connect.NotFoundError("task %s is not running on this worker", taskName(id))
	}
	t.r.setPaused(p)
	return nil
}

// Tasks lists the tasks running on the worker.
func (w *Worker) Tasks() []connect.TaskID {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]connect.TaskID, 0, len(w.tasks))
	for id := range w.tasks {
		out = append(out, id)
	}
	return out
}

// clientOpts are the options of a task's Kafka client.
func (w *Worker) clientOpts(id connect.TaskID, extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.BootstrapServers...), kgo.ClientID("connector-" + taskName(id))}
	opts = append(opts, extra...)
	return append(opts, w.cfg.ClientOptions...)
}

// pauseGate is a task's paused flag with a channel to wait on.
type pauseGate struct {
	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed when not paused
	l       StatusListener
	id      connect.TaskID
}

func newPauseGate(id connect.TaskID, l StatusListener) *pauseGate {
	ch := make(chan struct{})
	close(ch)
	return &pauseGate{resumed: ch, l: l, id: id}
}

func (g *pauseGate) set(p bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p == g.paused {
		return
	}
	g.paused = p
	if p {
		g.resumed = make(chan struct{})
		g.l.OnPause(g.id)
		return
	}
	close(g.resumed)
	g.l.OnResume(g.id)
}

// wait returns a channel closed once the task is not paused.
func (g *pauseGate) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resumed
}

// running reports that the task's Start returned: RUNNING, or PAUSED when
// it was paused meanwhile (a paused connector's task restarting), under
// the gate's lock so a pause cannot slip between the check and the
// report.
func (g *pauseGate) running() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.l.OnPause(g.id)
		return
	}
	g.l.OnRunning(g.id)
}

func (g *pauseGate) isPaused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}
