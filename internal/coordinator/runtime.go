package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes one Runtime.
type Config struct {
	// Topic and Partition name the coordinator partition, for logs.
	Topic     string
	Partition int32
	// QueueSize bounds the operations waiting for the event loop
	// (default 1024). Submit fails with ErrQueueFull beyond it.
	QueueSize int
	// MaxBatch bounds the operations applied before one Append
	// (default 256): larger batches share one fsync, smaller ones answer
	// sooner.
	MaxBatch int
	// AppendTimeout bounds one Append, as Kafka's offsets.commit.timeout.ms
	// does (default 5s).
	AppendTimeout time.Duration
	// Now is the clock (default time.Now); the Core never reads a clock.
	Now func() time.Time
}

func (c *Config) withDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.AppendTimeout <= 0 {
		c.AppendTimeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deps are the collaborators of a Runtime.
type Deps[C Core] struct {
	// NewCore returns an empty Core; called on load and on every rebuild.
	NewCore  func() C
	Appender Appender
	Loader   Loader
	Logger   *slog.Logger
}

// Status is the lifecycle state of a Runtime.
type Status int32

// Runtime states.
const (
	StatusNew     Status = iota // constructed, not started
	StatusLoading               // replaying the partition
	StatusActive                // serving
	StatusFailed                // load failed; serving nothing until closed
	StatusClosed                // closed
)

// String returns the status name, for logs.
func (s Status) String() string {
	switch s {
	case StatusNew:
		return "new"
	case StatusLoading:
		return "loading"
	case StatusActive:
		return "active"
	case StatusFailed:
		return "failed"
	case StatusClosed:
		return "closed"
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Op is an operation run on the event loop against the Core.
type Op[C Core] func(core C, now time.Time) Result

type event[C Core] struct {
	op Op[C]
	p  *Pending
}

type reply struct {
	resp any
	err  error
}

// Pending is the future response of a submitted operation.
type Pending struct {
	ch chan reply // capacity 1: the loop never blocks delivering
}

// Wait returns the response once it is released, or ctx's error.
func (p *Pending) Wait(ctx context.Context) (any, error) {
	select {
	case r := <-p.ch:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// deliver never blocks: a Pending is answered once; a second answer would
// be a bug, and it must not stall the event loop.
func (p *Pending) deliver(resp any, err error) {
	select {
	case p.ch <- reply{resp, err}:
	default:
	}
}

// Runtime serves one coordinator partition with one event loop goroutine.
type Runtime[C Core] struct {
	cfg  Config
	deps Deps[C]
	log  *slog.Logger

	status atomic.Int32

	// mu orders Submit against shutdown: Submit sends (never blocking)
	// under the read lock, shutdown marks the Runtime closed under the write
	// lock and then drains the queue, so nothing is left in it unanswered.
	mu     sync.RWMutex
	closed bool // guarded by mu
	queue  chan event[C]

	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the loop goroutine.
	core    C
	waiting map[Handle]*Pending
}

// New builds a Runtime; Start begins loading and serving.
func New[C Core](cfg Config, deps Deps[C]) (*Runtime[C], error) {
	if deps.NewCore == nil || deps.Appender == nil || deps.Loader == nil {
		return nil, errors.New("coordinator: NewCore, Appender and Loader are required")
	}
	cfg.withDefaults()
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime[C]{
		cfg:     cfg,
		deps:    deps,
		log:     logger.With("topic", cfg.Topic, "partition", cfg.Partition),
		queue:   make(chan event[C], cfg.QueueSize),
		done:    make(chan struct{}),
		waiting: make(map[Handle]*Pending),
	}, nil
}

// Start launches the event loop: it loads the partition, then serves until
// Close is called or ctx ends. Start must be called once.
func (r *Runtime[C]) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.status.Store(int32(StatusLoading))
	go r.run(ctx)
}

// Close stops the event loop and waits for it. Operations still queued or
// waiting get ErrNotCoordinator. Close after Close is a no-op.
func (r *Runtime[C]) Close() error {
	if r.cancel == nil { // never started
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.status.Store(int32(StatusClosed))
		return nil
	}
	r.cancel()
	<-r.done
	return nil
}

// Status reports the lifecycle state.
func (r *Runtime[C]) Status() Status { return Status(r.status.Load()) }

// Submit queues op without blocking. It fails with ErrLoadInProgress while
// the partition loads, ErrNotCoordinator once closed or failed, and
// ErrQueueFull when the queue is full.
func (r *Runtime[C]) Submit(op Op[C]) (*Pending, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, ErrNotCoordinator
	}
	switch r.Status() {
	case StatusNew, StatusLoading:
		return nil, ErrLoadInProgress
	case StatusFailed, StatusClosed:
		return nil, ErrNotCoordinator
	}
	p := &Pending{ch: make(chan reply, 1)}
	select {
	case r.queue <- event[C]{op: op, p: p}:
		return p, nil
	default:
		return nil, ErrQueueFull
	}
}

// Do submits op and waits for its response.
func (r *Runtime[C]) Do(ctx context.Context, op Op[C]) (any, error) {
	p, err := r.Submit(op)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

func (r *Runtime[C]) run(ctx context.Context) {
	defer close(r.done)
	defer r.shutdown()
	if err := r.load(ctx); err != nil {
		if ctx.Err() == nil {
			r.log.Error("coordinator load failed", "err", err)
		}
		r.fail()
		<-ctx.Done()
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]event[C], 0, r.cfg.MaxBatch)
	for {
		r.armTimer(timer)
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			batch = append(batch[:0], ev)
		drain:
			for len(batch) < r.cfg.MaxBatch {
				select {
				case ev := <-r.queue:
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			r.process(ctx, batch)
			clear(batch) // drop references to delivered Pendings
		case <-timer.C:
			r.process(ctx, nil)
		}
		if r.Status() == StatusFailed {
			r.fail()
			<-ctx.Done()
			return
		}
	}
}

func (r *Runtime[C]) armTimer(t *time.Timer) {
	d := r.core.NextDeadline()
	if d.IsZero() {
		t.Stop()
		return
	}
	t.Reset(max(d.Sub(r.cfg.Now()), 0))
}

// load replays the partition into a fresh Core.
func (r *Runtime[C]) load(ctx context.Context) error {
	r.status.Store(int32(StatusLoading))
	start := r.cfg.Now()
	rp := &replayer[C]{core: r.deps.NewCore(), log: r.log}
	if err := r.deps.Loader.Load(ctx, rp); err != nil {
		return fmt.Errorf("load %s-%d: %w", r.cfg.Topic, r.cfg.Partition, err)
	}
	r.core = rp.core
	n, bad := rp.n, rp.bad
	if err := r.apply(ctx, func(c C, now time.Time) Result { return c.Loaded(now) }, nil); err != nil {
		return fmt.Errorf("load %s-%d: %w", r.cfg.Topic, r.cfg.Partition, err)
	}
	r.status.Store(int32(StatusActive))
	r.log.Debug("coordinator loaded", "records", n, "skipped", bad, "took", r.cfg.Now().Sub(start))
	return nil
}

type delivery struct {
	p    *Pending
	resp any
}

// batchState collects what one batch produced.
type batchState struct {
	records []Record
	deliver []delivery
}

// replayer feeds a loading Core.
type replayer[C Core] struct {
	core   C
	log    interface{ Warn(string, ...any) }
	n, bad int
}

func (rp *replayer[C]) Replay(rec Record) error {
	rp.n++
	var err error
	switch tc, ok := any(rp.core).(TxnCore); {
	case rec.Producer == nil:
		err = rp.core.Replay(rec.Key, rec.Value)
	case ok:
		err = tc.ReplayTxn(*rec.Producer, rec.Key, rec.Value)
	}
	if err != nil {
		if rp.bad == 0 { // the count follows in the summary
			rp.log.Warn("coordinator record skipped", "err", err)
		}
		rp.bad++
	}
	return nil
}

func (rp *replayer[C]) Marker(producerID int64, commit bool) {
	if tc, ok := any(rp.core).(TxnCore); ok {
		tc.ReplayMarker(producerID, commit)
	}
}

func (r *Runtime[C]) collect(b *batchState, res Result, p *Pending) {
	if res.Wait != 0 {
		if p != nil {
			r.waiting[res.Wait] = p
		}
	} else if p != nil {
		b.deliver = append(b.deliver, delivery{p, res.Response})
	}
	for _, c := range res.Completions {
		if w, ok := r.waiting[c.Handle]; ok {
			delete(r.waiting, c.Handle)
			b.deliver = append(b.deliver, delivery{w, c.Response})
		}
	}
	b.records = append(b.records, res.Records...)
}

// process applies due timers and the batch, appends the records and
// releases the responses; on failure it rebuilds the Core.
func (r *Runtime[C]) process(ctx context.Context, batch []event[C]) {
	var b batchState
	now := r.cfg.Now()
	var failure error
	if d := r.core.NextDeadline(); !d.IsZero() && !now.Before(d) {
		failure = r.applyInto(&b, func(c C, now time.Time) Result { return c.Tick(now) }, nil, now)
	}
	for i := 0; failure == nil && i < len(batch); i++ {
		failure = r.applyInto(&b, batch[i].op, batch[i].p, now)
		if failure != nil {
			// Answer the operations not applied; the state is rebuilt below.
			for _, ev := range batch[i+1:] {
				if ev.p != nil {
					ev.p.deliver(nil, ErrInternal)
				}
			}
		}
	}
	if failure == nil && len(b.records) > 0 {
		actx, cancel := context.WithTimeout(ctx, r.cfg.AppendTimeout)
		_, err := r.deps.Appender.Append(actx, b.records)
		cancel()
		if err != nil {
			failure = fmt.Errorf("%w: %w", ErrWriteFailed, err)
		}
	}
	if failure != nil {
		// Refuse new requests before answering the failed ones, so that a
		// client retrying at once is told the partition is loading.
		r.status.Store(int32(StatusLoading))
		if ctx.Err() == nil {
			r.log.Error("coordinator batch failed; rebuilding state from the partition", "err", failure)
		}
		for _, d := range b.deliver {
			d.p.deliver(nil, failure)
		}
		r.failWaiting(failure)
		if err := r.load(ctx); err != nil {
			if ctx.Err() == nil {
				r.log.Error("coordinator reload failed", "err", err)
			}
			r.status.Store(int32(StatusFailed))
		}
		return
	}
	for _, d := range b.deliver {
		d.p.deliver(d.resp, nil)
	}
}

// applyInto runs one operation, recovering a panic into ErrInternal.
func (r *Runtime[C]) applyInto(b *batchState, op Op[C], p *Pending, now time.Time) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: operation panicked: %v", ErrInternal, v)
			if p != nil {
				p.deliver(nil, err)
			}
		}
	}()
	res := op(r.core, now)
	r.collect(b, res, p)
	return nil
}

// apply runs an operation outside a batch (Loaded): its records are appended
// at once.
func (r *Runtime[C]) apply(ctx context.Context, op Op[C], p *Pending) error {
	var b batchState
	if err := r.applyInto(&b, op, p, r.cfg.Now()); err != nil {
		return err
	}
	if len(b.records) > 0 {
		actx, cancel := context.WithTimeout(ctx, r.cfg.AppendTimeout)
		defer cancel()
		if _, err := r.deps.Appender.Append(actx, b.records); err != nil {
			return fmt.Errorf("%w: %w", ErrWriteFailed, err)
		}
	}
	for _, d := range b.deliver {
		d.p.deliver(d.resp, nil)
	}
	return nil
}

func (r *Runtime[C]) failWaiting(err error) {
	for h, p := range r.waiting {
		p.deliver(nil, err)
		delete(r.waiting, h)
	}
}

// fail stops serving after a failed load: everything queued or waiting is
// answered ErrNotCoordinator at once, not at Close.
func (r *Runtime[C]) fail() { r.refuse(StatusFailed) }

// shutdown answers everything still queued or waiting.
func (r *Runtime[C]) shutdown() { r.refuse(StatusClosed) }

// refuse closes the queue (Submit fails from now on) and answers what it
// holds and every parked request with ErrNotCoordinator.
func (r *Runtime[C]) refuse(status Status) {
	r.mu.Lock()
	r.closed = true
	r.status.Store(int32(status))
	r.mu.Unlock()
	for {
		select {
		case ev := <-r.queue:
			ev.p.deliver(nil, ErrNotCoordinator)
		default:
			r.failWaiting(ErrNotCoordinator)
			return
		}
	}
}
