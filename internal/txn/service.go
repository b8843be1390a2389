package txn

// Service is the shell the server calls: one coordinator Runtime per
// __transaction_state partition this node leads, each running a
// Coordinator, and per partition a marker loop that writes the markers of
// the transactions in Prepare* (MarkerJobs) through the MarkerWriter and
// then completes them (MarkersWritten). It routes each transactional ID to
// its partition (PartitionFor, Kafka's formula) and returns the runtime's
// errors and the core's kerr errors as they are; the server maps them to
// codes. Service.mu guards the map of partitions only and is never held
// while calling into a Runtime or the MarkerWriter.
//
// Invariants: a transaction's markers are written with the leader epoch
// the partition was loaded in as coordinator epoch, so a partition refuses
// the markers of a coordinator that lost the partition
// (TRANSACTION_COORDINATOR_FENCED) once its successor wrote one; a
// transaction is completed only after every partition of it holds its
// marker; every marker loop stops before its Runtime is closed.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// StateTopic is Kafka's internal topic of the transaction coordinator.
const StateTopic = "__transaction_state"

// ErrAlreadyLoaded is returned by Load for a partition already served.
var ErrAlreadyLoaded = errors.New("txn: partition already loaded")

// markerPoll is how often a marker loop looks for due markers without
// being told (transactions a timeout aborted, a takeover's leftovers).
const markerPoll = time.Second

// markerRetry is the pause before writing markers that failed again;
// markerWarnEvery spaces the warnings of a partition's failing writes.
const (
	markerRetry     = 100 * time.Millisecond
	markerRetryMax  = 2 * time.Second
	markerWarnEvery = 5 * time.Second
)

// MarkerWriter writes transaction markers to the partitions' leaders
// (WriteTxnMarkers). For each job it returns the partitions that do not
// hold the marker yet (none once every partition holds it, or no longer
// exists) and the first error (they are tried again). It returns when ctx
// ends.
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, coordinatorEpoch int32, jobs []MarkerJob) []MarkerResult
}

// MarkerResult is what writing one job's markers left to do.
type MarkerResult struct {
	Failed []TopicPartition // the partitions to try again
	Err    error            // why the first of them failed
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Txn configures every Coordinator.
	Txn Config
	// NumPartitions is transaction.state.log.num.partitions.
	NumPartitions int32
	// Runtime configures every Runtime (Topic and Partition are set).
	Runtime coordinator.Config
	// Markers writes the markers (required).
	Markers MarkerWriter
	// ProducerID returns a producer ID nobody holds (required).
	ProducerID func(ctx context.Context) (int64, error)
}

// served is one loaded partition.
type served struct {
	rt     *coordinator.Runtime[*Coordinator]
	epoch  int32         // the partition's leader epoch: the markers' coordinator epoch
	poke   chan struct{} // wakes the marker loop (capacity 1)
	cancel context.CancelFunc
	done   chan struct{} // closed when the marker loop returned
	// The marker loop's own (its goroutine only): its last warning, and
	// the partitions each transaction due still lacks a marker on.
	warned time.Time
	left   map[jobKey][]TopicPartition

	waitMu  sync.Mutex // guards waiters
	waiters map[jobKey][]*endWaiter
}

// jobKey names a transaction's markers: which ID, producer and epoch,
// commit or abort, prepared when (Kafka part 1 producers keep their epoch
// from one transaction to the next).
type jobKey struct {
	id       string
	pid      int64
	epoch    int16
	commit   bool
	prepared int64 // Unix ms; 0 for an End's waiter (matched without it)
}

func keyOf(job MarkerJob) jobKey {
	return jobKey{job.ID, job.ProducerID, job.ProducerEpoch, job.Commit, job.Prepared.UnixMilli()}
}

// Service serves the transaction coordinator partitions of one node.
type Service struct {
	cfg ServiceConfig
	log *slog.Logger

	mu    sync.RWMutex // guards parts
	parts map[int32]*served
}

// NewService returns a Service serving no partition yet.
func NewService(cfg ServiceConfig, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 50
	}
	return &Service{cfg: cfg, log: logger, parts: map[int32]*served{}}
}

// NumPartitions is transaction.state.log.num.partitions.
func (s *Service) NumPartitions() int32 { return s.cfg.NumPartitions }

// PartitionFor is the __transaction_state partition of a transactional ID.
func (s *Service) PartitionFor(id string) int32 {
	return coordinator.PartitionFor(id, s.cfg.NumPartitions)
}

// Load starts serving a partition led here in leaderEpoch: its Runtime
// replays it through loader, then appends through appender, and its
// marker loop writes the markers due. Requests meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS. Both stop on Unload, Close, or when ctx
// ends.
func (s *Service) Load(ctx context.Context, partition, leaderEpoch int32, appender coordinator.Appender, loader coordinator.Loader) error {
	if partition < 0 || partition >= s.cfg.NumPartitions {
		return fmt.Errorf("load %s-%d: no such partition (transaction.state.log.num.partitions is %d)", StateTopic, partition, s.cfg.NumPartitions)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parts[partition]; ok {
		return fmt.Errorf("load %s-%d: %w", StateTopic, partition, ErrAlreadyLoaded)
	}
	rcfg := s.cfg.Runtime
	rcfg.Topic, rcfg.Partition = StateTopic, partition
	rt, err := coordinator.New(rcfg, coordinator.Deps[*Coordinator]{
		NewCore:  func() *Coordinator { return New(s.cfg.Txn) },
		Appender: appender,
		Loader:   loader,
		Logger:   s.log,
	})
	if err != nil {
		return fmt.Errorf("load %s-%d: %w", StateTopic, partition, err)
	}
	rt.Start(ctx)
	lctx, cancel := context.WithCancel(ctx)
	sp := &served{rt: rt, epoch: leaderEpoch, poke: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), left: map[jobKey][]TopicPartition{},
		waiters: map[jobKey][]*endWaiter{}}
	s.parts[partition] = sp
	go s.markerLoop(lctx, partition, sp)
	return nil
}

// Unload stops serving a partition (leadership moved, or shutdown): the
// marker loop stops, then the Runtime, whose parked requests are answered
// NOT_COORDINATOR. Transactions left in Prepare* are completed by the
// partition's next coordinator.
func (s *Service) Unload(partition int32) error {
	s.mu.Lock()
	sp := s.parts[partition]
	delete(s.parts, partition)
	s.mu.Unlock()
	if sp == nil {
		return nil
	}
	return sp.stop()
}

func (sp *served) stop() error {
	sp.cancel()
	<-sp.done
	return sp.rt.Close()
}

// Close unloads every partition.
func (s *Service) Close() error {
	s.mu.Lock()
	parts := s.parts
	s.parts = map[int32]*served{}
	s.mu.Unlock()
	var errs []error
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		errs = append(errs, parts[p].stop())
	}
	return errors.Join(errs...)
}

// Status reports the state of a partition's Runtime; StatusClosed if it is
// not served here.
func (s *Service) Status(partition int32) coordinator.Status {
	if sp := s.served(partition); sp != nil {
		return sp.rt.Status()
	}
	return coordinator.StatusClosed
}

func (s *Service) served(partition int32) *served {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[partition]
}

// do runs op on the partition of id and waits for its response.
func (s *Service) do(ctx context.Context, id string, op coordinator.Op[*Coordinator]) (any, error) {
	sp := s.served(s.PartitionFor(id))
	if sp == nil {
		return nil, coordinator.ErrNotCoordinator
	}
	return sp.rt.Do(ctx, op)
}

// poke wakes the marker loop of id's partition.
func (s *Service) poke(id string) {
	if sp := s.served(s.PartitionFor(id)); sp != nil {
		select {
		case sp.poke <- struct{}{}:
		default:
		}
	}
}

// InitProducerID serves InitProducerId with a transactional ID (req's
// FreshProducerID is filled here, when the coordinator needs one). The error is a runtime sentinel or a
// kerr error.
func (s *Service) InitProducerID(ctx context.Context, req InitRequest) (int64, int16, error) {
	if s.served(s.PartitionFor(req.ID)) == nil {
		return -1, -1, coordinator.ErrNotCoordinator
	}
	// A producer ID is taken from the block only when the coordinator
	// needs one (each block costs the controller a commit).
	req.FreshProducerID = -1
	resp, err := s.do(ctx, req.ID, func(c *Coordinator, now time.Time) coordinator.Result { return c.Init(req, now) })
	if err == nil && errors.Is(resp.(InitResponse).Err, ErrNeedProducerID) {
		fresh, perr := s.cfg.ProducerID(ctx)
		if perr != nil {
			return -1, -1, fmt.Errorf("%w: no producer ID: %w", kerr.CoordinatorNotAvailable, perr)
		}
		req.FreshProducerID = fresh
		resp, err = s.do(ctx, req.ID, func(c *Coordinator, now time.Time) coordinator.Result { return c.Init(req, now) })
	}
	if err != nil {
		return -1, -1, err
	}
	r := resp.(InitResponse)
	if errors.Is(r.Err, kerr.ConcurrentTransactions) {
		s.poke(req.ID) // an ongoing transaction is being aborted
	}
	return r.ProducerID, r.ProducerEpoch, r.Err
}

// errOf reads an operation's response that is nil or an error.
func errOf(resp any, err error) error {
	if err != nil {
		return err
	}
	if e, ok := resp.(error); ok {
		return e
	}
	return nil
}

// AddPartitions serves AddPartitionsToTxn (and AddOffsetsToTxn): nil, or
// the error every partition is answered with.
func (s *Service) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) error {
	return errOf(s.do(ctx, id, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.AddPartitions(id, pid, epoch, parts, now)
	}))
}

// AddPartitionsTV2 serves a partition leader's implicit add of a KIP-890
// part 2 write (AddPartitionsToTxn v5 with verify_only false, or this
// node's own produce): nil, or the error the write is refused with.
func (s *Service) AddPartitionsTV2(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) error {
	return errOf(s.do(ctx, id, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.AddPartitionsTV2(id, pid, epoch, parts, now)
	}))
}

// Verify serves a partition leader's check of a transactional write
// (AddPartitionsToTxn v4+ verify_only): one error (or nil) per partition.
func (s *Service) Verify(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) []error {
	resp, err := s.do(ctx, id, func(c *Coordinator, _ time.Time) coordinator.Result {
		return coordinator.Result{Response: c.Verify(id, pid, epoch, parts)}
	})
	if err != nil {
		out := make([]error, len(parts))
		for i := range out {
			out[i] = err
		}
		return out
	}
	return resp.([]error)
}

// End serves EndTxn: decided once the Prepare* state is durable; the
// markers follow. tv2 is EndTxn v5 (KIP-890 part 2): the epoch is bumped
// and the producer ID and epoch to continue with are returned (the
// request's own for older versions).
//
// Then it waits, up to endWait, for the markers to be written and the
// transaction completed: the producer's next transaction would otherwise
// be told CONCURRENT_TRANSACTIONS and back off (20 ms and more in the
// clients) until then. The answer is the same either way: the end is
// decided once durable.
func (s *Service) End(ctx context.Context, id string, pid int64, epoch int16, commit, tv2 bool) (int64, int16, error) {
	sp := s.served(s.PartitionFor(id))
	if sp == nil {
		return -1, -1, coordinator.ErrNotCoordinator
	}
	req := EndRequest{ID: id, ProducerID: pid, ProducerEpoch: epoch, Commit: commit, FreshProducerID: -1}
	var done atomic.Pointer[endWaiter] // set by the operation, which may run after a cancelled Do returned
	end := func(c *Coordinator, now time.Time) coordinator.Result {
		var res coordinator.Result
		if tv2 {
			res = c.EndTV2(req, now)
		} else {
			res = c.End(id, pid, epoch, commit, now)
			if res.Response == nil && len(res.Records) == 0 {
				res.Response = errEndDone // a retry of an end already completed
			}
		}
		// The waiter is registered as the end is applied, keyed by the
		// markers' producer and epoch (bumped under KIP-890 part 2):
		// the marker loop cannot complete the job before.
		if t := c.txns[id]; len(res.Records) > 0 && t != nil && ctx.Err() == nil &&
			(t.State == kmsg.TransactionStatePrepareCommit || t.State == kmsg.TransactionStatePrepareAbort) {
			done.Store(sp.waitFor(jobKey{id, t.ProducerID, t.ProducerEpoch, commit, 0}))
		}
		return res
	}
	resp, err := sp.rt.Do(ctx, end)
	if err == nil && errors.Is(errOf(resp, nil), ErrNeedProducerID) {
		fresh, perr := s.cfg.ProducerID(ctx)
		if perr != nil {
			return -1, -1, fmt.Errorf("%w: no producer ID: %w", kerr.CoordinatorNotAvailable, perr)
		}
		req.FreshProducerID = fresh
		resp, err = sp.rt.Do(ctx, end)
	}
	if err == nil && resp == errEndDone {
		return pid, epoch, nil
	}
	w := done.Load()
	if err := errOf(resp, err); err != nil { // an EndResult is no error
		if w != nil {
			sp.forget(w)
		}
		return -1, -1, err
	}
	outPID, outEpoch := pid, epoch
	if r, ok := resp.(EndResult); ok {
		outPID, outEpoch = r.ProducerID, r.ProducerEpoch
	}
	if w == nil {
		return outPID, outEpoch, nil // nothing to wait for: a retry, or an empty abort
	}
	s.poke(id)
	t := time.NewTimer(endWait)
	defer t.Stop()
	select {
	case <-w.ch:
	case <-t.C:
	case <-ctx.Done():
	}
	sp.forget(w)
	return outPID, outEpoch, nil
}

// endWait bounds how long End waits for the markers.
const endWait = 2 * time.Second

// errEndDone marks, inside End, an end that had already completed.
var errEndDone = errors.New("txn: end already completed")

// endWaiter is an End waiting for its transaction's completion.
type endWaiter struct {
	key jobKey
	ch  chan struct{}
}

// waitFor registers a waiter for the completion of key's markers.
func (sp *served) waitFor(key jobKey) *endWaiter {
	w := &endWaiter{key: key, ch: make(chan struct{})}
	sp.waitMu.Lock()
	sp.waiters[key] = append(sp.waiters[key], w)
	sp.waitMu.Unlock()
	return w
}

// forget drops a waiter (answered or given up).
func (sp *served) forget(w *endWaiter) {
	sp.waitMu.Lock()
	defer sp.waitMu.Unlock()
	ws := sp.waiters[w.key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(sp.waiters, w.key)
	} else {
		sp.waiters[w.key] = ws
	}
}

// completed wakes the waiters of key.
func (sp *served) completed(key jobKey) {
	sp.waitMu.Lock()
	defer sp.waitMu.Unlock()
	for _, w := range sp.waiters[key] {
		close(w.ch)
	}
	delete(sp.waiters, key)
}

// Describe returns a transactional ID's state (a copy) for
// DescribeTransactions, or the error to answer it with.
func (s *Service) Describe(ctx context.Context, id string) (*Txn, error) {
	resp, err := s.do(ctx, id, func(c *Coordinator, _ time.Time) coordinator.Result {
		t, err := c.Describe(id)
		if err != nil {
			return coordinator.Result{Response: err}
		}
		return coordinator.Result{Response: t}
	})
	if err := errOf(resp, err); err != nil {
		return nil, err
	}
	return resp.(*Txn), nil
}

// List serves ListTransactions over every partition served here: the
// transactions in one of states, of one of producerIDs, and running for
// at least minDuration (when positive, KIP-994), sorted by ID. Partitions
// still loading are skipped, and reported by loading.
func (s *Service) List(ctx context.Context, states []kmsg.TransactionState, producerIDs []int64, minDuration time.Duration) (out []Listing, loading bool, err error) {
	s.mu.RLock()
	parts := maps.Clone(s.parts)
	s.mu.RUnlock()
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		resp, err := parts[p].rt.Do(ctx, func(c *Coordinator, now time.Time) coordinator.Result {
			ls := c.List(states, producerIDs)
			if minDuration > 0 {
				ls = slices.DeleteFunc(ls, func(l Listing) bool {
					t := c.txns[l.ID]
					return t.State != kmsg.TransactionStateOngoing || now.Sub(t.StartTime) < minDuration
				})
			}
			return coordinator.Result{Response: ls}
		})
		switch {
		case errors.Is(err, coordinator.ErrLoadInProgress):
			loading = true
		case errors.Is(err, coordinator.ErrNotCoordinator):
		case err != nil:
			return nil, loading, err
		default:
			out = append(out, resp.([]Listing)...)
		}
	}
	slices.SortFunc(out, func(a, b Listing) int { return cmpString(a.ID, b.ID) })
	return out, loading, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// markerLoop writes the markers due on one partition until ctx ends:
// when poked (an EndTxn, a fencing), and every markerPoll (timeouts,
// a takeover). All the jobs due go to the MarkerWriter at once, so the
// markers of concurrent transactions share requests and fsyncs.
func (s *Service) markerLoop(ctx context.Context, partition int32, sp *served) {
	defer close(sp.done)
	tick := time.NewTicker(markerPoll)
	defer tick.Stop()
	backoff := markerRetry
	for {
		var retry <-chan time.Time
		if s.writeDue(ctx, partition, sp) {
			retry = time.After(backoff)
			backoff = min(2*backoff, markerRetryMax)
		} else {
			backoff = markerRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-sp.poke:
		case <-tick.C:
		case <-retry:
		}
	}
}

// writeDue writes the markers of every transaction in Prepare* (to the
// partitions that do not hold them yet) and completes those written; it
// reports whether some must be tried again.
func (s *Service) writeDue(ctx context.Context, partition int32, sp *served) bool {
	resp, err := sp.rt.Do(ctx, func(c *Coordinator, _ time.Time) coordinator.Result {
		return coordinator.Result{Response: c.MarkerJobs()}
	})
	if err != nil {
		return false // loading, closing or closed: the poll or Unload comes
	}
	jobs := resp.([]MarkerJob)
	due := make(map[jobKey]bool, len(jobs))
	for i, job := range jobs {
		k := keyOf(job)
		due[k] = true
		if left, ok := sp.left[k]; ok {
			jobs[i].Partitions = left
		}
	}
	for k := range sp.left {
		if !due[k] {
			delete(sp.left, k) // completed, or superseded by a newer epoch
		}
	}
	if len(jobs) == 0 {
		return false
	}
	results := s.cfg.Markers.WriteMarkers(ctx, sp.epoch, jobs)
	failed := false
	for i, job := range jobs {
		k := keyOf(job)
		if r := results[i]; len(r.Failed) > 0 {
			failed = true
			sp.left[k] = r.Failed
			if ctx.Err() == nil && time.Since(sp.warned) >= markerWarnEvery {
				sp.warned = time.Now()
				s.log.Warn("writing transaction markers failed; retrying", "topic", StateTopic, "partition", partition,
					"transactional_id", job.ID, "producer_id", job.ProducerID, "commit", job.Commit,
					"partitions_left", len(r.Failed), "err", r.Err)
			}
			continue
		}
		// Every partition holds the marker: nothing is left of this
		// transaction's, whatever becomes of its completion below.
		delete(sp.left, k)
		done := jobKey{job.ID, job.ProducerID, job.ProducerEpoch, job.Commit, 0}
		if _, err := sp.rt.Do(ctx, func(c *Coordinator, now time.Time) coordinator.Result {
			res := c.MarkersWritten(job, now)
			// The End waiting for this transaction is released as the
			// completion is applied, not once it is durable (one
			// replicated write less on every commit's path): the
			// producer's next request is applied after it, and its own
			// answer waits for its records, so for this one too. The
			// end itself was decided, durably, at Prepare*; a
			// completion lost with the coordinator is redone from
			// there.
			sp.completed(done)
			return res
		}); err != nil {
			failed = true
			continue
		}
	}
	return failed
}
