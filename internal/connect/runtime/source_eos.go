package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// txnCommitTimeout bounds a transaction's commit (flushing its records and
// offsets, then EndTxn): past it the transaction is aborted and the task
// fails, as a producer whose commit times out does in Kafka.
const txnCommitTimeout = time.Minute

// eosState is an exactly-once source task's transaction (KIP-618's
// ExactlyOnceWorkerSourceTask): records of one or more Polls and the
// offsets they reach are produced in one transaction, so the offsets are
// committed exactly when the records are. Used on the run goroutine only.
type eosState struct {
	cfg      connect.ExactlyOnceConfig
	interval time.Duration // transaction.boundary=interval
	store    TransactionalOffsetStore
	txnCtx   *txnContext // transaction.boundary=connector only

	open  bool
	began time.Time
	// abandoned: a record of the open transaction was given up (the
	// produce context ended at stop, past the flush timeout); the
	// transaction must not commit its offsets, so it is aborted.
	abandoned atomic.Bool
	pending   map[string]connect.ConnectorOffset // the transaction's offsets, by partition key
	records   []*inflight                        // kept for CommitRecord after the commit (committer only)
}

func newEOSState(w *Worker, conn map[string]string) *eosState {
	e := &eosState{cfg: connect.ParseExactlyOnceConfig(conn), store: w.cfg.Offsets.(TransactionalOffsetStore),
		pending: map[string]connect.ConnectorOffset{}}
	e.interval = time.Duration(e.cfg.IntervalMs) * time.Millisecond
	if e.cfg.IntervalMs == 0 {
		e.interval = w.cfg.OffsetFlushInterval
	}
	if e.cfg.Boundary == connect.BoundaryConnector {
		e.txnCtx = &txnContext{after: map[*connect.SourceRecord]txnAction{}}
	}
	return e
}

// eosLoop is the exactly-once task's loop: Poll, produce in the open
// transaction, commit at the boundary. A graceful stop commits the open
// transaction; a failure aborts it (a SIGKILLed worker's is aborted by
// the next instance's InitProducerId, or by the coordinator's timeout).
func (s *sourceRunner) eosLoop(ctx, produceCtx context.Context) (err error) {
	e := s.eos
	defer func() {
		if !e.open {
			return
		}
		fctx, cancel := context.WithTimeout(context.Background(), txnCommitTimeout)
		defer cancel()
		if err == nil && s.failed() == nil && !e.abandoned.Load() {
			err = s.commitTxn(fctx)
			return
		}
		if e.abandoned.Load() {
			s.log.Warn("records abandoned at stop: the open transaction is aborted, its records are sent again by the next instance")
		}
		s.abortTxn(fctx)
	}()
	for ctx.Err() == nil {
		if err := s.failed(); err != nil {
			return err
		}
		if s.gate.isPaused() {
			if err := s.commitIfOpen(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case <-s.gate.wait():
			}
			continue
		}
		if e.cfg.Boundary == connect.BoundaryInterval && e.open && time.Since(e.began) >= e.interval {
			if err := s.commitIfOpen(); err != nil {
				return err
			}
		}
		recs, err := s.task.Poll(ctx)
		s.metrics.add(polledC, len(recs))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("poll: %w", err)
		}
		batch := make([]inflight, len(recs))
		for i := range recs {
			if !e.open {
				if err := s.client.BeginTransaction(); err != nil {
					return fmt.Errorf("begin transaction: %w", err)
				}
				e.open, e.began = true, time.Now()
			}
			f := &batch[i]
			f.Context, f.rec = produceCtx, recs[i]
			f.ec.source = &f.rec
			if err := s.send(produceCtx, f); err != nil {
				if ctx.Err() != nil {
					return nil // stopping: the deferred commit keeps what was sent
				}
				return err
			}
			if e.txnCtx != nil {
				if err := s.endTxnAs(e.txnCtx.takeRecord(&recs[i])); err != nil {
					return err
				}
			}
		}
		switch e.cfg.Boundary {
		case connect.BoundaryPoll:
			err = s.commitIfOpen()
		case connect.BoundaryConnector:
			err = s.endTxnAs(e.txnCtx.takeBatch())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sendTxn finishes send for an exactly-once task: the record's offset
// joins the transaction's whether the record is produced or was dropped
// (by a transform, or skipped by errors.tolerance).
func (s *sourceRunner) sendTxn(ctx context.Context, f *inflight, keep bool) error {
	e := s.eos
	if f.rec.SourcePartition != nil {
		k, err := partitionKey(f.rec.SourcePartition)
		if err != nil {
			return fmt.Errorf("record of source partition %v: %w", f.rec.SourcePartition, err)
		}
		e.pending[k] = connect.ConnectorOffset{Partition: f.rec.SourcePartition, Offset: f.rec.SourceOffset}
	}
	if s.committer != nil {
		e.records = append(e.records, f)
	}
	if !keep {
		f.kr = kgo.Record{} // no topic: CommitRecord hears nil metadata
		return nil
	}
	s.topics.used(f.kr.Topic)
	f.kr.Context = f
	s.client.Produce(ctx, &f.kr, s.promise)
	return nil
}

// producedTxn is an exactly-once task's promise: a refused record fails
// the transaction and the task (errors.tolerance does not cover produce
// errors here: the transaction could not commit without the record).
func (s *sourceRunner) producedTxn(f *inflight, _ *kgo.Record, err error) {
	if err == nil {
		s.metrics.add(writtenC, 1)
		if s.committer == nil {
			f.done()
		}
		return
	}
	if errors.Is(err, kgo.ErrAborting) {
		return // the transaction is being aborted: nothing of it counts
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		// Given up at stop: the transaction must not commit without it.
		s.eos.abandoned.Store(true)
		return
	}
	s.op.report(&errorContext{source: &f.rec, stage: stageKafkaProduce, class: "kgo.Client", err: err})
	s.setFailure(fmt.Errorf("produce to %s in a transaction: %w", f.rec.Topic, err))
}

func (s *sourceRunner) commitIfOpen() error {
	if !s.eos.open {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnCommitTimeout)
	defer cancel()
	return s.commitTxn(ctx)
}

// endTxnAs commits or aborts the open transaction, as the task asked.
func (s *sourceRunner) endTxnAs(a txnAction) error {
	if a == txnNone || !s.eos.open {
		return nil
	}
	if a == txnCommit {
		return s.commitIfOpen()
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnCommitTimeout)
	defer cancel()
	s.abortTxn(ctx)
	return s.failed()
}

// commitTxn writes the transaction's offsets in it, waits for every record
// and commits. Any failure aborts the transaction and fails the task: its
// records are then invisible to read_committed consumers and its offsets
// were never committed, so the next instance polls them again.
func (s *sourceRunner) commitTxn(ctx context.Context) error {
	e := s.eos
	start := time.Now()
	if len(e.pending) > 0 {
		offs := make([]connect.ConnectorOffset, 0, len(e.pending))
		for _, o := range e.pending {
			offs = append(offs, o)
		}
		recs, err := e.store.OffsetRecords(s.id.Connector, offs)
		if err != nil {
			s.abortTxn(ctx)
			return fmt.Errorf("offsets of the transaction: %w", err)
		}
		for _, r := range recs {
			s.client.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrAborting) {
					s.setFailure(fmt.Errorf("write offsets to %s in a transaction: %w", r.Topic, err))
				}
			})
		}
	}
	if err := s.client.Flush(ctx); err != nil {
		s.abortTxn(ctx)
		return fmt.Errorf("flush the transaction: %w", err)
	}
	if err := s.failed(); err != nil {
		s.abortTxn(ctx)
		return err
	}
	if e.abandoned.Load() {
		s.abortTxn(ctx)
		return errors.New("records of the transaction were abandoned; it is aborted")
	}
	if err := s.client.EndTransaction(ctx, kgo.TryCommit); err != nil {
		e.reset()
		return fmt.Errorf("commit the transaction: %w", err)
	}
	records := e.records
	e.reset()
	s.metrics.committed(start)
	for _, f := range records {
		var meta *connect.RecordMetadata
		if f.kr.Topic != "" {
			meta = &connect.RecordMetadata{Topic: f.kr.Topic, Partition: f.kr.Partition, Offset: f.kr.Offset, Timestamp: f.kr.Timestamp}
		}
		s.commitRecord(f.rec, meta)
		f.done()
	}
	if s.committer != nil {
		if err := s.committer.Commit(); err != nil {
			s.log.Warn("source task Commit failed", "err", err)
		}
	}
	return nil
}

// abortTxn drops what the transaction buffered and aborts it; an abort
// that fails is the task's failure (its producer is unusable).
func (s *sourceRunner) abortTxn(ctx context.Context) {
	err := s.client.AbortBufferedRecords(ctx)
	if err == nil {
		err = s.client.EndTransaction(ctx, kgo.TryAbort)
	}
	s.eos.reset()
	if err != nil {
		s.setFailure(fmt.Errorf("abort the transaction: %w", err))
	}
}

func (e *eosState) reset() {
	e.open = false
	clear(e.pending)
	e.records = nil
}

// txnAction is what a task asked of its transaction.
type txnAction int

const (
	txnNone txnAction = iota
	txnCommit
	txnAbort
)

// txnContext is connect.TransactionContext: the task's requests, taken by
// the run goroutine after each record and each Poll.
type txnContext struct {
	mu    sync.Mutex
	batch txnAction
	after map[*connect.SourceRecord]txnAction
}

func (c *txnContext) set(r *connect.SourceRecord, a txnAction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r == nil {
		c.batch = max(c.batch, a) // an abort wins over a commit
		return
	}
	c.after[r] = max(c.after[r], a)
}

// CommitTransaction implements connect.TransactionContext.
func (c *txnContext) CommitTransaction() { c.set(nil, txnCommit) }

// CommitTransactionAfter implements connect.TransactionContext.
func (c *txnContext) CommitTransactionAfter(r *connect.SourceRecord) { c.set(r, txnCommit) }

// AbortTransaction implements connect.TransactionContext.
func (c *txnContext) AbortTransaction() { c.set(nil, txnAbort) }

// AbortTransactionAfter implements connect.TransactionContext.
func (c *txnContext) AbortTransactionAfter(r *connect.SourceRecord) { c.set(r, txnAbort) }

func (c *txnContext) takeRecord(r *connect.SourceRecord) txnAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.after[r]
	delete(c.after, r)
	return a
}

// takeBatch returns the request for the Poll just processed; requests
// naming records of no Poll (stale pointers) are dropped with it.
func (c *txnContext) takeBatch() txnAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.batch
	c.batch = txnNone
	clear(c.after)
	return a
}

// TransactionContext implements connect.TransactionalSourceTaskContext.
func (c *sourceContext) TransactionContext() connect.TransactionContext {
	if c.s.eos == nil || c.s.eos.txnCtx == nil {
		return nil
	}
	return c.s.eos.txnCtx
}
