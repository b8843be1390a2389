package txn

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// KIP-890 part 2 (transaction.version 2, Kafka 4.0): every EndTxn v5 bumps
// the producer's epoch, and the transaction's markers carry the bumped
// epoch, so a write of the ended transaction that arrives late (a retry
// stuck in the network) is refused by the partition as an older epoch
// instead of opening a hanging transaction. The producer learns its new
// epoch from the EndTxn answer. When the epochs of a producer ID run out
// (32766), the markers carry 32767 and the producer moves to a fresh
// producer ID at epoch 0 once the transaction completes (NextProducerID).

// EndRequest is an EndTxn.
type EndRequest struct {
	ID            string
	ProducerID    int64
	ProducerEpoch int16
	Commit        bool
	// FreshProducerID is a producer ID nobody holds, for an end whose
	// bump exhausts the producer ID's epochs (-1: none; EndTV2 then
	// answers ErrNeedProducerID).
	FreshProducerID int64
}

// EndResult is a successful EndTxn v5's answer: the producer ID and epoch
// the producer continues with.
type EndResult struct {
	ProducerID    int64
	ProducerEpoch int16
	// Pending: markers are due (the transaction is in Prepare*); false
	// for a retry answered from a completed end, or an empty abort.
	Pending bool
}

// EndTV2 serves EndTxn v5 (KIP-890 part 2), as Kafka 4.0's
// TransactionCoordinator.endTransaction: an ongoing transaction is
// prepared with the epoch bumped; a retry presenting the epoch before the
// bump is recognized (CONCURRENT_TRANSACTIONS while the end completes, its
// result once complete); an abort with no ongoing transaction bumps the
// epoch too ("empty abort"). The response is an EndResult or a kerr error.
func (c *Coordinator) EndTV2(req EndRequest, now time.Time) coordinator.Result {
	now = ms(now)
	fail := func(err error) coordinator.Result { return coordinator.Result{Response: err} }
	t := c.txns[req.ID]
	if t == nil {
		return fail(fmt.Errorf("%w: %s", kerr.InvalidProducerIDMapping, req.ID))
	}
	retryOfBump := t.ProducerID == req.ProducerID && t.ProducerEpoch == req.ProducerEpoch+1
	retryOfOverflow := t.PreviousProducerID == req.ProducerID && req.ProducerEpoch == maxEpoch && t.ProducerEpoch == 0
	if t.ProducerID != req.ProducerID && !retryOfOverflow {
		return fail(fmt.Errorf("%w: %s is producer %d, not %d", kerr.InvalidProducerIDMapping, req.ID, t.ProducerID, req.ProducerID))
	}
	retry := retryOfBump || retryOfOverflow
	current := !retry && t.ProducerEpoch == req.ProducerEpoch
	fenced := fmt.Errorf("%w: epoch %d, %s is at %d", kerr.ProducerFenced, req.ProducerEpoch, req.ID, t.ProducerEpoch)
	prepare, complete := kmsg.TransactionStatePrepareAbort, kmsg.TransactionStateCompleteAbort
	if req.Commit {
		prepare, complete = kmsg.TransactionStatePrepareCommit, kmsg.TransactionStateCompleteCommit
	}
	wrongState := fmt.Errorf("%w: %s is in state %s, cannot %s", kerr.InvalidTxnState, req.ID, StateName(t.State),
		map[bool]string{true: "commit", false: "abort"}[req.Commit])
	switch t.State {
	case kmsg.TransactionStateOngoing:
		if !current {
			return fail(fenced)
		}
		return c.prepareTV2(t.clone(), prepare, req.FreshProducerID, now)
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		switch {
		case retry && t.State == prepare:
			return fail(fmt.Errorf("%w: %s is completing this end", kerr.ConcurrentTransactions, req.ID))
		case retry:
			return fail(wrongState)
		}
		return fail(fenced)
	case kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort, kmsg.TransactionStateEmpty:
		switch {
		case retry && t.State == kmsg.TransactionStateEmpty:
			return fail(fenced) // Empty follows an InitProducerId's bump, not an end
		case retry && t.State == complete:
			return coordinator.Result{Response: EndResult{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}}
		case retry:
			return fail(wrongState)
		case !current:
			return fail(fenced)
		case req.Commit:
			return fail(wrongState)
		}
		// An abort with nothing ongoing still ends an (empty)
		// transaction: the epoch moves on, as a producer that aborts
		// after a failed write relies on.
		return c.prepareTV2(t.clone(), kmsg.TransactionStatePrepareAbort, req.FreshProducerID, now)
	}
	return fail(wrongState)
}

// prepareTV2 moves t to prepare with its epoch bumped (or, out of epochs,
// to 32767 with fresh as its next producer ID). A transaction with no
// partition has no markers: it completes at once.
func (c *Coordinator) prepareTV2(t *Txn, prepare kmsg.TransactionState, fresh int64, now time.Time) coordinator.Result {
	// LastProducerEpoch keeps the epoch before the bump, as Kafka's
	// prepareAbortOrCommit: a producer that lost the answer and
	// re-initializes naming it (KIP-360) is not fenced.
	last := t.ProducerEpoch
	if t.ProducerEpoch >= maxEpoch {
		if fresh < 0 {
			return coordinator.Result{Response: ErrNeedProducerID}
		}
		t.NextProducerID, t.ProducerEpoch = fresh, maxEpoch+1
	} else {
		t.ProducerEpoch++
	}
	t.LastProducerEpoch, t.TV2, t.State, t.LastUpdate = last, true, prepare, now
	if len(t.Partitions) == 0 {
		if t.StartTime.IsZero() {
			t.StartTime = now
		}
		t.State = kmsg.TransactionStateCompleteAbort
		if prepare == kmsg.TransactionStatePrepareCommit {
			t.State = kmsg.TransactionStateCompleteCommit
		}
		rotate(t)
		c.txns[t.ID] = t
		return coordinator.Result{Response: EndResult{ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch},
			Records: []coordinator.Record{record(t)}}
	}
	c.txns[t.ID] = t
	pid, epoch := t.ProducerID, t.ProducerEpoch
	if t.NextProducerID >= 0 {
		pid, epoch = t.NextProducerID, 0
	}
	return coordinator.Result{Response: EndResult{ProducerID: pid, ProducerEpoch: epoch, Pending: true},
		Records: []coordinator.Record{record(t)}}
}

// rotate moves a completed transaction's ID to its next producer ID, if
// its end ran out of epochs.
func rotate(t *Txn) {
	if t.NextProducerID < 0 {
		return
	}
	t.PreviousProducerID, t.ProducerID, t.ProducerEpoch, t.NextProducerID = t.ProducerID, t.NextProducerID, 0, -1
}
