package txn

import (
	"cmp"
	"fmt"
	"maps"
	"math"
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
	// MaxTimeout is transaction.max.timeout.ms: the longest timeout a
	// producer may ask for (at most MaxInt32 ms, what the record holds).
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms: an ID with no
	// transaction for this long is removed.
	IDExpiration time.Duration
	// AbortCheckInterval and ExpiredCheckInterval are how often timed-out
	// transactions and expired IDs are looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms,
	// transaction.remove.expired.transaction.cleanup.interval.ms).
	AbortCheckInterval, ExpiredCheckInterval time.Duration
}

func (c Config) normalized() Config {
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	c.MaxTimeout = min(c.MaxTimeout, math.MaxInt32*time.Millisecond)
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
	Topic     string // the topic's name
	Partition int32  // the partition's index
}

// Txn is a transactional ID's state: Kafka's TransactionMetadata.
type Txn struct {
	ID            string // the transactional ID
	ProducerID    int64  // the producer ID its producer writes with
	ProducerEpoch int16  // the current epoch: older ones are fenced
	// LastProducerEpoch is the epoch before the last bump a producer
	// asked for naming itself (KIP-360), and PreviousProducerID the
	// producer ID before the last rotation it asked for: its retry of
	// InitProducerId after a lost answer presents them. -1 when none:
	// neither is in the record (as in Kafka's v0), so a coordinator move
	// forgets them.
	LastProducerEpoch  int16
	PreviousProducerID int64
	Timeout            time.Duration         // the producer's transaction.timeout.ms
	State              kmsg.TransactionState // Empty, Ongoing, Prepare*, Complete*
	Partitions         map[TopicPartition]struct{}
	// NextProducerID is the producer ID a KIP-890 part 2 end moves to
	// once its transaction completes, when the epochs of ProducerID ran
	// out (-1: none); its markers carry ProducerID at epoch 32767.
	NextProducerID int64
	// TV2 records that the producer runs KIP-890 part 2 transactions
	// (transaction.version 2: EndTxn v5, implicit partition adds),
	// Kafka's ClientTransactionVersion.
	TV2 bool
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

// ErrNeedProducerID: Init needs a fresh producer ID (a new transactional
// ID, or one whose epochs are exhausted) and the request carried none;
// the shell asks again with one. It reads as COORDINATOR_NOT_AVAILABLE.
var ErrNeedProducerID = fmt.Errorf("%w: a fresh producer ID is needed", kerr.CoordinatorNotAvailable)

// InitRequest is an InitProducerId with a transactional ID.
type InitRequest struct {
	ID      string        // the transactional ID, not empty
	Timeout time.Duration // the producer's transaction.timeout.ms
	// ProducerID and ProducerEpoch are the producer's current ones
	// (KIP-360, InitProducerId v3+), -1 and -1 for a new producer.
	ProducerID    int64
	ProducerEpoch int16
	// FreshProducerID is a producer ID nobody holds, from the shell's
	// block: used when the ID is new or its epochs are exhausted (-1:
	// none; Init then answers ErrNeedProducerID).
	FreshProducerID int64
}

// InitResponse answers InitProducerId.
type InitResponse struct {
	ProducerID    int64 // -1 on an error
	ProducerEpoch int16 // -1 on an error
	Err           error // a kerr error, nil on success
}

// Init serves InitProducerId for a transactional ID: a new ID gets a
// producer ID and epoch 0; a known one gets its epoch bumped, fencing the
// previous producer. An ongoing transaction is aborted first (its epoch
// bumped, so its producer is fenced) and the caller is told to retry
// (CONCURRENT_TRANSACTIONS) until the abort completed.
func (c *Coordinator) Init(req InitRequest, now time.Time) coordinator.Result {
	now = ms(now)
	fail := func(err error) coordinator.Result {
		return coordinator.Result{Response: InitResponse{ProducerID: -1, ProducerEpoch: -1, Err: err}}
	}
	if req.ID == "" {
		return fail(fmt.Errorf("%w: an empty transactional ID", kerr.InvalidRequest))
	}
	if req.Timeout <= 0 || req.Timeout > c.cfg.MaxTimeout {
		return fail(fmt.Errorf("%w: %s, transaction.max.timeout.ms is %s", kerr.InvalidTransactionTimeout, req.Timeout, c.cfg.MaxTimeout))
	}
	t := c.txns[req.ID]
	if t == nil {
		if req.FreshProducerID < 0 {
			return fail(ErrNeedProducerID)
		}
		t = &Txn{ID: req.ID, ProducerID: req.FreshProducerID, ProducerEpoch: noEpoch, LastProducerEpoch: noEpoch, PreviousProducerID: -1,
			NextProducerID: -1, State: kmsg.TransactionStateEmpty, Partitions: map[TopicPartition]struct{}{}}
	} else {
		t = t.clone()
	}
	identity := req.ProducerID >= 0
	if identity && t.ProducerEpoch != noEpoch {
		// KIP-360: the producer names itself. The retry of the bump (or
		// the producer ID rotation) it asked for last is answered with
		// its result; a producer other than the current one is fenced,
		// unless a transaction is completing (it retries until then).
		retryOfBump := req.ProducerID == t.ProducerID && req.ProducerEpoch == t.LastProducerEpoch
		retryOfRotation := req.ProducerID == t.PreviousProducerID && req.ProducerEpoch == t.LastProducerEpoch
		switch {
		case t.LastProducerEpoch != noEpoch && (retryOfBump || retryOfRotation) && t.State == kmsg.TransactionStateEmpty:
			return coordinator.Result{Response: InitResponse{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}}
		case t.State == kmsg.TransactionStatePrepareCommit || t.State == kmsg.TransactionStatePrepareAbort:
			return fail(fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, req.ID))
		case t.TV2 && t.LastProducerEpoch != noEpoch && req.ProducerID == t.ProducerID && req.ProducerEpoch == t.LastProducerEpoch:
			// The epoch before a KIP-890 part 2 end's bump: the
			// producer lost the end's answer. Valid, as in Kafka
			// (isValidProducerId); the epoch is bumped below.
		case req.ProducerID != t.ProducerID || req.ProducerEpoch != t.ProducerEpoch:
			return fail(fmt.Errorf("%w: producer %d epoch %d, %s is producer %d epoch %d", kerr.ProducerFenced,
				req.ProducerID, req.ProducerEpoch, req.ID, t.ProducerID, t.ProducerEpoch))
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
	if !bump(t, req.FreshProducerID, identity) {
		return fail(ErrNeedProducerID)
	}
	t.Timeout, t.State, t.LastUpdate, t.StartTime = req.Timeout, kmsg.TransactionStateEmpty, now, time.Time{}
	clear(t.Partitions)
	c.txns[req.ID] = t
	return coordinator.Result{Response: InitResponse{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}, Records: []coordinator.Record{record(t)}}
}

// bump moves t to its next epoch, or to fresh's epoch 0 once its epochs
// are exhausted (a new ID starts at 0 too); false when that needs a fresh
// ID and none was given. Only a producer that named itself (KIP-360) may
// retry the bump, so only then is the epoch it had remembered, as Kafka's
// prepareIncrementProducerEpoch and prepareProducerIdRotation do: a
// zombie presenting its old epoch must not get the new one.
func bump(t *Txn, fresh int64, identity bool) bool {
	last, prev := noEpoch, int64(-1)
	if identity {
		last = t.ProducerEpoch
	}
	if t.ProducerEpoch >= maxEpoch || t.ProducerEpoch == noEpoch && t.ProducerID < 0 {
		if fresh < 0 {
			return false
		}
		if identity {
			prev = t.ProducerID
		}
		t.PreviousProducerID, t.ProducerID, t.LastProducerEpoch, t.ProducerEpoch = prev, fresh, last, 0
		return true
	}
	t.PreviousProducerID, t.LastProducerEpoch = -1, last
	t.ProducerEpoch++
	return true
}

// fence bumps t's epoch so that its producer's writes and EndTxn are
// refused, keeping its producer ID (the abort's markers carry it): up to
// 32767, one past what a producer is given, as Kafka's
// prepareFenceProducerEpoch. Nobody may retry into it.
func fence(t *Txn) {
	t.LastProducerEpoch, t.PreviousProducerID = noEpoch, -1
	if t.ProducerEpoch < maxEpoch+1 {
		t.ProducerEpoch++
	}
}

// ms is now at Kafka's precision: the records keep milliseconds, so the
// state a replay rebuilds equals the live one.
func ms(now time.Time) time.Time { return time.UnixMilli(now.UnixMilli()) }

// check validates a producer's identity for a transaction operation.
func (c *Coordinator) check(id string, pid int64, epoch int16) (*Txn, error) {
	t := c.txns[id]
	switch {
	case t != nil && t.NextProducerID >= 0 && t.NextProducerID == pid:
		// The producer ID an end that ran out of epochs answered
		// (KIP-890 part 2), before that end completed: retry.
		return nil, fmt.Errorf("%w: %s is completing the transaction of its previous producer ID", kerr.ConcurrentTransactions, id)
	case t == nil || t.ProducerID != pid:
		return nil, fmt.Errorf("%w: %s", kerr.InvalidProducerIDMapping, id)
	case epoch != t.ProducerEpoch:
		// Kafka answers PRODUCER_FENCED for any other epoch (the
		// shell downgrades it to INVALID_PRODUCER_EPOCH for the old
		// request versions, KIP-588).
		return nil, fmt.Errorf("%w: epoch %d, %s is at %d", kerr.ProducerFenced, epoch, id, t.ProducerEpoch)
	}
	return t.clone(), nil
}

// AddPartitions serves AddPartitionsToTxn (and AddOffsetsToTxn, whose
// partition is the group's of __consumer_offsets): the partitions join the
// transaction, which becomes Ongoing. The response is nil or a kerr error
// for every partition.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) coordinator.Result {
	return c.addPartitions(id, pid, epoch, parts, false, now)
}

// AddPartitionsTV2 is AddPartitions for a partition leader's implicit add
// of a KIP-890 part 2 write (Produce v12+, TxnOffsetCommit v5+): the same
// checks, and the transaction is marked as the producer's TV2 one.
func (c *Coordinator) AddPartitionsTV2(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) coordinator.Result {
	return c.addPartitions(id, pid, epoch, parts, true, now)
}

func (c *Coordinator) addPartitions(id string, pid int64, epoch int16, parts []TopicPartition, tv2 bool, now time.Time) coordinator.Result {
	now = ms(now)
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
	if len(parts) == 0 {
		return coordinator.Result{} // nothing joins: no transaction starts
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
	t.TV2 = t.TV2 || tv2
	t.LastUpdate = now
	c.txns[id] = t
	return coordinator.Result{Records: []coordinator.Record{record(t)}}
}

// End serves EndTxn: an ongoing transaction moves to PrepareCommit or
// PrepareAbort (its markers are then due: MarkerJobs); a retry of a
// completed end is answered as done. The response is nil or a kerr error.
func (c *Coordinator) End(id string, pid int64, epoch int16, commit bool, now time.Time) coordinator.Result {
	now = ms(now)
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
	ID            string           // the transactional ID
	ProducerID    int64            // the markers' producer ID
	ProducerEpoch int16            // the markers' epoch (a fenced transaction's is the bumped one)
	Commit        bool             // commit markers, else abort
	Partitions    []TopicPartition // every partition of the transaction, sorted
	// Prepared is when the transaction entered Prepare*: with the rest,
	// it tells this transaction's markers from the next one's (a
	// producer keeps its epoch across transactions).
	Prepared time.Time
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
			Commit: t.State == kmsg.TransactionStatePrepareCommit, Partitions: t.SortedPartitions(), Prepared: t.LastUpdate})
	}
	return out
}

// MarkersWritten completes a transaction whose markers are all written:
// Prepare* becomes Complete*. A late report (another epoch, or already
// complete) changes nothing.
func (c *Coordinator) MarkersWritten(job MarkerJob, now time.Time) coordinator.Result {
	now = ms(now)
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
	t.LastUpdate = now // StartTime stays: DescribeTransactions shows it, as Kafka's
	clear(t.Partitions)
	rotate(t)
	c.txns[job.ID] = t
	return coordinator.Result{Records: []coordinator.Record{record(t)}}
}

// Verify answers a partition leader's check of a transactional write
// (AddPartitionsToTxn v4+ with verify_only, KIP-890 part 1): each partition
// gets nil when the producer's transaction is ongoing and holds it, and
// otherwise the error the write is refused with. Nothing changes.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, parts []TopicPartition) []error {
	out := make([]error, len(parts))
	t, err := c.check(id, pid, epoch)
	for i, p := range parts {
		switch {
		case err != nil:
			out[i] = err
		case t.State != kmsg.TransactionStateOngoing:
			out[i] = fmt.Errorf("%w: %s has no ongoing transaction (state %s)", kerr.InvalidTxnState, id, StateName(t.State))
		default:
			if _, ok := t.Partitions[p]; !ok {
				out[i] = fmt.Errorf("%w: %s-%d is not in %s's transaction", kerr.InvalidTxnState, p.Topic, p.Partition, id)
			}
		}
	}
	return out
}

// Describe returns a transactional ID's state for DescribeTransactions,
// or TRANSACTIONAL_ID_NOT_FOUND.
func (c *Coordinator) Describe(id string) (*Txn, error) {
	if t := c.Get(id); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s", kerr.TransactionalIDNotFound, id)
}
