package txn

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// Kafka's defaults of the coordinator's settings.
const (
	DefaultMaxTimeout                 = 15 * time.Minute   // transaction.max.timeout.ms
	DefaultIDExpiration               = 7 * 24 * time.Hour // transactional.id.expiration.ms
	DefaultAbortCheckInterval         = 10 * time.Second   // transaction.abort.timed.out.transaction.cleanup.interval.ms
	DefaultExpiredCheckInterval       = time.Hour          // transaction.remove.expired.transaction.cleanup.interval.ms
	maxEpoch                          = 32766              // Kafka's Short.MaxValue - 1: past it, a new producer ID
	noEpoch                     int16 = -1
)

// Config is what a Coordinator is built from; zero durations take Kafka's
// defaults.
type Config struct {
	MaxTimeout           time.Duration
	IDExpiration         time.Duration
	AbortCheckInterval   time.Duration
	ExpiredCheckInterval time.Duration
}

func (c Config) normalized() Config {
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = DefaultIDExpiration
	}
	if c.AbortCheckInterval <= 0 {
		c.AbortCheckInterval = DefaultAbortCheckInterval
	}
	if c.ExpiredCheckInterval <= 0 {
		c.ExpiredCheckInterval = DefaultExpiredCheckInterval
	}
	return c
}

// TopicPartition names a partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Txn is a transactional ID's state: Kafka's TransactionMetadata.
type Txn struct {
	ID            string
	ProducerID    int64
	ProducerEpoch int16
	// LastProducerEpoch is the epoch before the last bump (noEpoch when
	// none): a producer retrying InitProducerId after a lost answer
	// (KIP-360) presents it.
	LastProducerEpoch int16
	Timeout           time.Duration
	State             kmsg.TransactionState
	Partitions        map[TopicPartition]struct{}
	// StartTime is when the ongoing transaction began (zero when none);
	// LastUpdate when the state last changed.
	StartTime, LastUpdate time.Time
}

// SortedPartitions returns the transaction's partitions in order.
func (t *Txn) SortedPartitions() []TopicPartition {
	out := slices.Collect(maps.Keys(t.Partitions))
	slices.SortFunc(out, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

func (t *Txn) clone() *Txn {
	c := *t
	c.Partitions = maps.Clone(t.Partitions)
	return &c
}

// Coordinator is the state machine of one __transaction_state partition.
// Its methods are called from one goroutine (the runtime's loop).
type Coordinator struct {
	cfg        Config
	txns       map[string]*Txn
	nextAbort  time.Time // next check for timed-out transactions (zero until Loaded)
	nextExpire time.Time // next check for expired transactional IDs
}

var _ coordinator.Core = (*Coordinator)(nil)

// New returns an empty Coordinator; Replay fills it and Loaded arms its
// timers.
func New(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.normalized(), txns: map[string]*Txn{}}
}

// Get returns a copy of a transactional ID's state, or nil.
func (c *Coordinator) Get(id string) *Txn {
	if t := c.txns[id]; t != nil {
		return t.clone()
	}
	return nil
}

// IDs returns the transactional IDs held, sorted.
func (c *Coordinator) IDs() []string { return slices.Sorted(maps.Keys(c.txns)) }

// InitRequest is an InitProducerId with a transactional ID.
type InitRequest struct {
	ID      string
	Timeout time.Duration
	// ProducerID and ProducerEpoch are the producer's current ones
	// (KIP-360, InitProducerId v3+), -1 and -1 for a new producer.
	ProducerID    int64
	ProducerEpoch int16
	// FreshProducerID is a producer ID nobody holds, from the shell's
	// block: used when the ID is new or its epochs are exhausted.
	FreshProducerID int64
}

// InitResponse answers InitProducerId.
type InitResponse struct {
	ProducerID    int64
	ProducerEpoch int16
	Err           error // a kerr error, nil on success
}

// Init serves InitProducerId for a transactional ID: a new ID gets a
// producer ID and epoch 0; a known one gets its epoch bumped, fencing the
// previous producer. An ongoing transaction is aborted first (its epoch
// bumped, so its producer is fenced) and the caller is told to retry
// (CONCURRENT_TRANSACTIONS) until the abort completed.
func (c *Coordinator) Init(req InitRequest, now time.Time) coordinator.Result {
	fail := func(err error) coordinator.Result {
		return coordinator.Result{Response: InitResponse{ProducerID: -1, ProducerEpoch: -1, Err: err}}
	}
	if req.Timeout <= 0 || req.Timeout > c.cfg.MaxTimeout {
		return fail(fmt.Errorf("%w: %s, transaction.max.timeout.ms is %s", kerr.InvalidTransactionTimeout, req.Timeout, c.cfg.MaxTimeout))
	}
	t := c.txns[req.ID]
	if t == nil {
		if req.FreshProducerID < 0 {
			return fail(kerr.CoordinatorNotAvailable)
		}
		t = &Txn{ID: req.ID, ProducerID: req.FreshProducerID, ProducerEpoch: noEpoch, LastProducerEpoch: noEpoch,
			State: kmsg.TransactionStateEmpty, Partitions: map[TopicPartition]struct{}{}}
	} else {
		t = t.clone()
	}
	if req.ProducerID >= 0 {
		// KIP-360: the producer names itself; a retry of the last
		// bump is answered with its result.
		switch {
		case req.ProducerID != t.ProducerID:
			return fail(fmt.Errorf("%w: producer %d is not %s's (%d)", kerr.ProducerFenced, req.ProducerID, req.ID, t.ProducerID))
		case req.ProducerEpoch == t.LastProducerEpoch && t.State == kmsg.TransactionStateEmpty:
			return coordinator.Result{Response: InitResponse{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}}
		case req.ProducerEpoch != t.ProducerEpoch:
			return fail(fmt.Errorf("%w: epoch %d, %s is at %d", kerr.ProducerFenced, req.ProducerEpoch, req.ID, t.ProducerEpoch))
		}
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return fail(fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, req.ID))
	case kmsg.TransactionStateOngoing:
		// Fence the producer of the ongoing transaction and abort it;
		// the new producer retries once the abort completed.
		fence(t)
		t.State, t.LastUpdate = kmsg.TransactionStatePrepareAbort, now
		c.txns[req.ID] = t
		return coordinator.Result{Response: InitResponse{ProducerID: -1, ProducerEpoch: -1,
			Err: fmt.Errorf("%w: aborting %s's ongoing transaction", kerr.ConcurrentTransactions, req.ID)}, Records: []coordinator.Record{record(t)}}
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
	default:
		return fail(fmt.Errorf("%w: %s is in state %d", kerr.InvalidTxnState, req.ID, t.State))
	}
	if !c.bump(t, req.FreshProducerID) {
		return fail(kerr.CoordinatorNotAvailable)
	}
	t.Timeout, t.State, t.LastUpdate, t.StartTime = req.Timeout, kmsg.TransactionStateEmpty, now, time.Time{}
	clear(t.Partitions)
	c.txns[req.ID] = t
	return coordinator.Result{Response: InitResponse{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}, Records: []coordinator.Record{record(t)}}
}

// bump moves t to its next epoch, or to fresh's epoch 0 once its epochs
// are exhausted; false when that needs a fresh ID and none was given.
func (c *Coordinator) bump(t *Txn, fresh int64) bool {
	if t.ProducerEpoch >= maxEpoch || t.ProducerEpoch == noEpoch && t.ProducerID < 0 {
		if fresh < 0 {
			return false
		}
		t.ProducerID, t.LastProducerEpoch, t.ProducerEpoch = fresh, noEpoch, 0
		return true
	}
	t.LastProducerEpoch = t.ProducerEpoch
	t.ProducerEpoch++
	return true
}

// fence bumps t's epoch so that its producer's writes and EndTxn are
// refused, keeping its producer ID (the abort's markers carry it): up to
// 32767, one past what a producer is given, as Kafka's
// prepareFenceProducerEpoch.
func fence(t *Txn) {
	t.LastProducerEpoch = t.ProducerEpoch
	if t.ProducerEpoch < maxEpoch+1 {
		t.ProducerEpoch++
	}
}

// check validates a producer's identity for a transaction operation.
func (c *Coordinator) check(id string, pid int64, epoch int16) (*Txn, error) {
	t := c.txns[id]
	switch {
	case t == nil || t.ProducerID != pid:
		return nil, fmt.Errorf("%w: %s", kerr.InvalidProducerIDMapping, id)
	case epoch < t.ProducerEpoch:
		return nil, fmt.Errorf("%w: epoch %d, %s is at %d", kerr.ProducerFenced, epoch, id, t.ProducerEpoch)
	case epoch > t.ProducerEpoch:
		return nil, fmt.Errorf("%w: epoch %d, %s is at %d", kerr.InvalidProducerEpoch, epoch, id, t.ProducerEpoch)
	}
	return t.clone(), nil
}

// AddPartitions serves AddPartitionsToTxn (and AddOffsetsToTxn, whose
// partition is the group's of __consumer_offsets): the partitions join the
// transaction, which becomes Ongoing. The response is nil or a kerr error
// for every partition.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) coordinator.Result {
	t, err := c.check(id, pid, epoch)
	if err != nil {
		return coordinator.Result{Response: err}
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return coordinator.Result{Response: fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, id)}
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateOngoing, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
	default:
		return coordinator.Result{Response: fmt.Errorf("%w: %s is in state %d", kerr.InvalidTxnState, id, t.State)}
	}
	added := false
	for _, p := range parts {
		if _, ok := t.Partitions[p]; !ok {
			t.Partitions[p], added = struct{}{}, true
		}
	}
	if !added && t.State == kmsg.TransactionStateOngoing {
		return coordinator.Result{} // a retry: nothing to write
	}
	if t.State != kmsg.TransactionStateOngoing {
		t.State, t.StartTime = kmsg.TransactionStateOngoing, now
	}
	t.LastUpdate = now
	c.txns[id] = t
	return coordinator.Result{Records: []coordinator.Record{record(t)}}
}

// End serves EndTxn: an ongoing transaction moves to PrepareCommit or
// PrepareAbort (its markers are then due: MarkerJobs); a retry of a
// completed end is answered as done. The response is nil or a kerr error.
func (c *Coordinator) End(id string, pid int64, epoch int16, commit bool, now time.Time) coordinator.Result {
	t, err := c.check(id, pid, epoch)
	if err != nil {
		return coordinator.Result{Response: err}
	}
	prepare, complete := kmsg.TransactionStatePrepareAbort, kmsg.TransactionStateCompleteAbort
	if commit {
		prepare, complete = kmsg.TransactionStatePrepareCommit, kmsg.TransactionStateCompleteCommit
	}
	switch t.State {
	case kmsg.TransactionStateOngoing:
		t.State, t.LastUpdate = prepare, now
		c.txns[id] = t
		return coordinator.Result{Records: []coordinator.Record{record(t)}}
	case complete:
		return coordinator.Result{} // a retry of the end that completed
	case prepare:
		return coordinator.Result{Response: fmt.Errorf("%w: %s is completing this end", kerr.ConcurrentTransactions, id)}
	default:
		return coordinator.Result{Response: fmt.Errorf("%w: %s is in state %d, cannot %s", kerr.InvalidTxnState, id, t.State, map[bool]string{true: "commit", false: "abort"}[commit])}
	}
}

// MarkerJob is a transaction whose markers are due: a WriteTxnMarkers of
// Commit (or abort) with the producer ID and epoch to every partition.
type MarkerJob struct {
	ID            string
	ProducerID    int64
	ProducerEpoch int16
	Commit        bool
	Partitions    []TopicPartition
}

// MarkerJobs returns the transactions in PrepareCommit or PrepareAbort,
// sorted by ID: after an EndTxn, a fencing, a timeout, or a takeover of
// the partition.
func (c *Coordinator) MarkerJobs() []MarkerJob {
	var out []MarkerJob
	for _, id := range c.IDs() {
		t := c.txns[id]
		if t.State != kmsg.TransactionStatePrepareCommit && t.State != kmsg.TransactionStatePrepareAbort {
			continue
		}
		out = append(out, MarkerJob{ID: id, ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch,
			Commit: t.State == kmsg.TransactionStatePrepareCommit, Partitions: t.SortedPartitions()})
	}
	return out
}

// MarkersWritten completes a transaction whose markers are all written:
// Prepare* becomes Complete*. A late report (another epoch, or already
// complete) changes nothing.
func (c *Coordinator) MarkersWritten(job MarkerJob, now time.Time) coordinator.Result {
	t := c.txns[job.ID]
	want := kmsg.TransactionStatePrepareAbort
	if job.Commit {
		want = kmsg.TransactionStatePrepareCommit
	}
	if t == nil || t.ProducerID != job.ProducerID || t.ProducerEpoch != job.ProducerEpoch || t.State != want {
		return coordinator.Result{}
	}
	t = t.clone()
	t.State = kmsg.TransactionStateCompleteAbort
	if job.Commit {
		t.State = kmsg.TransactionStateCompleteCommit
	}
	t.LastUpdate, t.StartTime = now, time.Time{}
	clear(t.Partitions)
	c.txns[job.ID] = t
	return coordinator.Result{Records: []coordinator.Record{record(t)}}
}
