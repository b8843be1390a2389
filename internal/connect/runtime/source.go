package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// maxUncommitted bounds the records a source task holds between poll and
// offset commit; past it the task commits early and then waits for acks
// before polling again.
const maxUncommitted = 10000

// sourceRunner is Kafka Connect's WorkerSourceTask: Poll, transforms,
// converters, produce; source offsets stored once acknowledged.
type sourceRunner struct {
	topics   *topicTracker          // used on the run goroutine only
	creation *connect.TopicCreation // nil: the broker's auto-creation (KIP-158)
	created  map[string]bool        // topics created or found; run goroutine only
	admin    *taskAdmin             // creates those topics
	w        *Worker
	id       connect.TaskID
	log      *slog.Logger
	task     connect.SourceTask
	taskCfg  map[string]string
	conv     *converters
	chain    transformChain
	op       *retryOperator
	client   *kgo.Client
	listener StatusListener
	gate     *pauseGate

	submitted *submittedRecords
	stopOnce  sync.Once
	metrics   *taskMetrics // nil: none

	// commitMu serializes offset commits (the flusher's and the final
	// one) and guards unstored.
	commitMu sync.Mutex
	unstored map[string]connect.ConnectorOffset // committable, not yet stored

	cbMu      sync.Mutex                  // serializes CommitRecord calls from producer callbacks
	committer connect.SourceTaskCommitter // the task, if it wants CommitRecord and Commit
	promise   func(*kgo.Record, error)    // every record's produce callback (see inflight)

	failMu  sync.Mutex
	failure error // first producer failure: fails the task

	eos *eosState // exactly-once (KIP-618); nil: at least once
}

func newSourceRunner(ctx context.Context, w *Worker, id connect.TaskID, conn, taskCfg map[string]string, task connect.SourceTask, l StatusListener) (*sourceRunner, error) {
	props, err := connect.SourceConfig().Parse(conn)
	if err != nil {
		return nil, fmt.Errorf("connector configuration: %w", err)
	}
	conv, err := buildConverters(w.cfg.Registry, w.cfg.ConverterProps, conn)
	if err != nil {
		return nil, err
	}
	chain, err := buildChain(w.cfg.Registry, conn)
	if err != nil {
		return nil, err
	}
	log := w.log.With("task", taskName(id))
	s := &sourceRunner{w: w, id: id, log: log, task: task, taskCfg: taskCfg, conv: conv, chain: chain,
		listener: l, gate: newPauseGate(id, l), submitted: newSubmittedRecords(), unstored: map[string]connect.ConnectorOffset{},
		topics: newTopicTracker(id, l)}
	s.op = &retryOperator{cfg: parseErrorConfig(props), log: log, task: id, ctx: ctx}
	s.metrics = w.cfg.Metrics.forTask(id)
	s.op.reporters = append(s.op.reporters, func(*errorContext) { s.metrics.add(errsC, 1) })
	s.committer, _ = task.(connect.SourceTaskCommitter)
	s.promise = func(r *kgo.Record, err error) {
		f, ok := r.Context.(*inflight)
		if !ok { // never: every record this runner produces carries one
			s.log.Error("a produced record without its runtime state; its offset is never committed", "topic", r.Topic)
			return
		}
		s.produced(f, r, err)
	}
	// kgo's defaults are what Kafka Connect sets: an idempotent producer
	// with acks=all; the partitioner honours a record's own partition.
	if !w.cfg.TopicCreationDisabled {
		if s.creation, err = connect.ParseTopicCreation(conn); err != nil {
			return nil, err
		}
		s.created = map[string]bool{}
		if s.admin, err = newTaskAdmin(w, id, log, conn); err != nil {
			return nil, err
		}
	}
	overrides, err := connectorOverrides(log, w.cfg.OverridePolicy, conn, connect.ProducerOverridePrefix)
	if err != nil {
		return nil, err
	}
	opts := append(w.clientOpts(id, kgo.RecordPartitioner(connectPartitioner{kgo.StickyKeyPartitioner(nil)}),
		kgo.MaxBufferedRecords(maxUncommitted)), w.cfg.ProducerOptions...)
	opts = append(opts, overrides...)
	if w.cfg.ExactlyOnce {
		// Last, so no override replaces the ID: its InitProducerId is
		// what fences the task's previous instance.
		s.eos = newEOSState(w, conn)
		opts = append(opts, kgo.TransactionalID(TransactionalID(w.cfg.GroupID, id)))
		s.promise = func(r *kgo.Record, err error) { s.producedTxn(r.Context.(*inflight), r, err) }
	}
	s.client, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return s, nil
}

func (s *sourceRunner) setPaused(p bool) { s.gate.set(p) }

// interrupt calls the task's Stop so a blocked Poll returns.
func (s *sourceRunner) interrupt() { s.stopTask() }

func (s *sourceRunner) stopTask() {
	s.stopOnce.Do(func() {
		if err := s.task.Stop(); err != nil {
			s.log.Warn("source task Stop failed", "err", err)
		}
	})
}

func (s *sourceRunner) run(ctx context.Context) (err error) {
	defer s.metrics.release()
	// Records in flight outlive ctx (they are flushed on stop), so they
	// get a context that ends only after the final flush, or the flush
	// timeout after ctx ends if the loop is stuck producing.
	produceCtx, cancelProduce := context.WithCancel(context.WithoutCancel(ctx))
	var (
		abandonMu sync.Mutex
		abandon   *time.Timer
		finished  bool
	)
	stopWatch := context.AfterFunc(ctx, func() {
		abandonMu.Lock()
		defer abandonMu.Unlock()
		if !finished {
			abandon = time.AfterFunc(s.w.cfg.OffsetFlushTimeout, cancelProduce)
		}
	})
	defer func() {
		stopWatch()
		abandonMu.Lock()
		finished = true
		if abandon != nil {
			abandon.Stop()
		}
		abandonMu.Unlock()
		cancelProduce()
		s.client.Close()
		if s.admin != nil {
			s.admin.close()
		}
	}()
	if s.eos != nil {
		// InitProducerId before the task reads its offsets: it fences the
		// task's previous instance and returns only once that instance's
		// transaction is complete, so the offsets read are final.
		pctx, cancel := context.WithTimeout(ctx, txnCommitTimeout)
		_, _, perr := s.client.ProducerID(pctx)
		cancel()
		if perr != nil {
			return fmt.Errorf("initialize the transactional producer %s: %w", TransactionalID(s.w.cfg.GroupID, s.id), perr)
		}
		if check := s.w.cfg.TaskIsCurrent; check != nil {
			cctx, cancel := context.WithTimeout(ctx, txnCommitTimeout)
			err := check(cctx, s.id, s.taskCfg)
			cancel()
			if err != nil {
				return fmt.Errorf("not started: %w", err)
			}
		}
	}
	if err := s.task.Start(&sourceContext{s: s}, s.taskCfg); err != nil {
		s.stopTask()
		return fmt.Errorf("start: %w", err)
	}
	s.gate.running()
	if s.eos != nil {
		err = s.eosLoop(ctx, produceCtx)
		s.stopTask()
		if err == nil {
			err = s.failed()
		}
		return err
	}

	flushCtx, stopFlusher := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.flusher(flushCtx)
	}()
	defer func() { // also on a panic in the task's code
		stopFlusher()
		wg.Wait()
	}()
	err = s.loop(ctx, produceCtx)
	stopFlusher()
	wg.Wait()
	s.stopTask()

	// The final commit: wait (bounded) for what was sent, store what was
	// acknowledged.
	fctx, cancel := context.WithTimeout(context.Background(), s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	if ferr := s.client.Flush(fctx); ferr != nil {
		s.log.Warn("records still unacknowledged at stop: their offsets are not committed", "err", ferr)
	}
	if cerr := s.commitOffsets(fctx); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		err = s.failed()
	}
	return err
}

// flusher commits offsets every offset.flush.interval.ms.
func (s *sourceRunner) flusher(ctx context.Context) {
	t := time.NewTicker(s.w.cfg.OffsetFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, s.w.cfg.OffsetFlushTimeout)
			if err := s.commitOffsets(cctx); err != nil {
				s.log.Error("offset commit failed; it is retried at the next flush", "err", err)
			}
			cancel()
		}
	}
}

func (s *sourceRunner) loop(ctx, produceCtx context.Context) error {
	for ctx.Err() == nil {
		if err := s.failed(); err != nil {
			return err
		}
		if s.gate.isPaused() {
			select {
			case <-ctx.Done():
				return nil
			case <-s.gate.wait():
			}
			continue
		}
		if s.submitted.size() >= maxUncommitted {
			s.waitForRoom(ctx)
			continue
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
		// The converted headers of the batch share one slab too (a
		// transform that adds headers grows its record's own slice).
		nh := 0
		for i := range recs {
			nh += len(recs[i].Headers)
		}
		hslab := make([]kgo.RecordHeader, nh)
		for i := range recs {
			f := &batch[i]
			f.Context, f.rec = produceCtx, recs[i]
			f.ec.source = &f.rec
			n := min(len(recs[i].Headers), len(hslab))
			f.kr.Headers, hslab = hslab[:0:n], hslab[n:]
			if err := s.send(produceCtx, f); err != nil {
				if ctx.Err() != nil {
					// Stopping (a retry was cut short): the rest of the
					// batch is not submitted, so not committed either.
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// waitForRoom commits what it can and, if the task still holds too many
// records, waits for an ack (bounded, so a stop is seen).
func (s *sourceRunner) waitForRoom(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, s.w.cfg.OffsetFlushTimeout)
	if err := s.commitOffsets(cctx); err != nil {
		s.log.Error("offset commit failed", "err", err)
	}
	cancel()
	if s.submitted.size() < maxUncommitted {
		return
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.submitted.acked:
	case <-t.C:
	}
}

// inflight is one record between Poll and its acknowledgement: the source
// record, the Kafka record made of it, its error context and its place in
// the submitted queue. They are allocated a poll batch at a time, and the
// inflight is the Kafka record's Context (wrapping the produce context,
// so cancellation is kgo's as before): the one promise function finds the
// record's state there, and the runtime adds no allocation of its own per
// record.
type inflight struct {
	context.Context
	rec     connect.SourceRecord
	kr      kgo.Record
	ec      errorContext
	sub     submittedRecord
	tracked bool // sub is in the submitted queue
}

// send transforms, converts and produces one record. A record a
// transform drops or errors.tolerance skips is acknowledged at once (its
// offset may be committed).
func (s *sourceRunner) send(ctx context.Context, f *inflight) error {
	out, keep, err := s.chain.apply(s.op, &f.ec, f.rec.Record)
	if err != nil {
		return err
	}
	if keep {
		if keep, err = s.convert(&f.ec, out, &f.kr); err != nil {
			return err
		}
	}
	if keep && s.creation != nil && !s.created[f.kr.Topic] {
		if err := s.createTopic(ctx, f.kr.Topic); err != nil {
			return err
		}
	}
	if s.eos != nil {
		return s.sendTxn(ctx, f, keep)
	}
	if f.tracked, err = s.submitted.submit(&f.sub, f.rec.SourcePartition, f.rec.SourceOffset); err != nil {
		return fmt.Errorf("record of source partition %v: %w", f.rec.SourcePartition, err)
	}
	if !keep {
		f.ack()
		s.commitRecord(f.rec, nil)
		f.done()
		return nil
	}
	s.topics.used(f.kr.Topic)
	f.kr.Context = f
	s.client.Produce(ctx, &f.kr, s.promise)
	return nil
}

// ack acknowledges the record in the submitted queue, if it is there.
func (f *inflight) ack() {
	if f.tracked {
		f.sub.ack()
	}
}

// done drops the record's payload once it is acknowledged: the submitted
// queue keeps the batch's array until the next offset commit, and only
// the offset (in sub) is needed until then.
func (f *inflight) done() {
	f.rec, f.kr, f.ec = connect.SourceRecord{}, kgo.Record{}, errorContext{}
}

// produced is the promise of every record: the broker's answer.
func (s *sourceRunner) produced(f *inflight, r *kgo.Record, err error) {
	if err != nil {
		s.produceFailed(f, err)
		return
	}
	f.ack()
	s.metrics.add(writtenC, 1)
	if s.committer != nil {
		s.commitRecord(f.rec, &connect.RecordMetadata{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp})
	}
	f.done()
}

// produceFailed handles a record the brokers refused: skipped under
// errors.tolerance=all (KIP-779), the task's failure otherwise.
func (s *sourceRunner) produceFailed(f *inflight, err error) {
	rec := &f.rec
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		// Abandoned at stop after the flush timeout: left unacknowledged,
		// so its offset is not committed and it is sent again.
		s.log.Warn("record abandoned at stop", "topic", rec.Topic, "err", err)
		return
	}
	ec := &errorContext{source: rec, stage: stageKafkaProduce, class: "kgo.Client", err: err}
	s.op.report(ec)
	if s.op.cfg.tolerateAll {
		f.ack()
		s.commitRecord(*rec, nil)
		f.done()
		return
	}
	s.setFailure(fmt.Errorf("produce to %s: %w", rec.Topic, err))
}

// setFailure records the task's first failure.
func (s *sourceRunner) setFailure(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failure == nil {
		s.failure = err
	}
}

func (s *sourceRunner) failed() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failure
}

func (s *sourceRunner) commitRecord(rec connect.SourceRecord, meta *connect.RecordMetadata) {
	if s.committer == nil {
		return
	}
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	if err := s.committer.CommitRecord(rec, meta); err != nil {
		s.log.Warn("CommitRecord failed", "err", err)
	}
}

// convert serializes a transformed record into kr; false: a tolerated
// error skipped it.
func (s *sourceRunner) convert(ec *errorContext, r connect.Record, kr *kgo.Record) (bool, error) {
	kr.Topic, kr.Partition, kr.Timestamp = r.Topic, r.Partition, r.Timestamp
	ok, err := s.op.execute(ec, stageKeyConverter, s.conv.keyClass, func() (err error) {
		kr.Key, err = s.conv.key.FromConnectData(r.Topic, r.Headers, r.KeySchema, r.Key)
		return err
	})
	if !ok {
		return false, err
	}
	ok, err = s.op.execute(ec, stageValueConverter, s.conv.valueClass, func() (err error) {
		kr.Value, err = s.conv.value.FromConnectData(r.Topic, r.Headers, r.ValueSchema, r.Value)
		return err
	})
	if !ok {
		return false, err
	}
	ok, err = s.op.execute(ec, stageHeaderConverter, s.conv.headerClass, func() error {
		kr.Headers = kr.Headers[:0]
		for _, h := range r.Headers {
			b, err := s.conv.header.FromConnectHeader(r.Topic, h.Key, h.Schema, h.Value)
			if err != nil {
				return err
			}
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: b})
		}
		return nil
	})
	if !ok {
		return false, err
	}
	return true, nil
}

// commitOffsets stores the offsets of every source partition's
// acknowledged prefix, then tells the task (SourceTaskCommitter.Commit).
// Offsets a failed store could not keep are retried with the next
// commit, newer ones replacing them.
func (s *sourceRunner) commitOffsets(ctx context.Context) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	start := time.Now()
	for _, o := range s.submitted.committable() {
		k, _ := partitionKey(o.Partition) // submit checked it
		s.unstored[k] = o
	}
	if len(s.unstored) > 0 {
		batch := make([]connect.ConnectorOffset, 0, len(s.unstored))
		for _, o := range s.unstored {
			batch = append(batch, o)
		}
		if err := s.w.cfg.Offsets.Set(ctx, s.id.Connector, batch); err != nil {
			return fmt.Errorf("store offsets: %w", err)
		}
		clear(s.unstored)
		s.metrics.committed(start)
	}
	if s.committer != nil {
		if err := s.committer.Commit(); err != nil {
			s.log.Warn("source task Commit failed", "err", err)
		}
	}
	return nil
}

// sourceContext is the SourceTaskContext the runtime hands a task.
type sourceContext struct{ s *sourceRunner }

// Config is the task's configuration.
func (c *sourceContext) Config() map[string]string { return c.s.taskCfg }

// Offset reads the partition's stored offset (bounded by the flush
// timeout).
func (c *sourceContext) Offset(partition map[string]any) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	offs, err := c.s.w.cfg.Offsets.Get(ctx, c.s.id.Connector, []map[string]any{partition})
	if err != nil {
		return nil, fmt.Errorf("read offset of %v: %w", partition, err)
	}
	return offs[0], nil
}

// connectPartitioner sends a record with a partition (>= 0) there and
// lets the default partitioner pick for the others (NoPartition).
type connectPartitioner struct{ def kgo.Partitioner }

// ForTopic implements kgo.Partitioner.
func (p connectPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return connectTopicPartitioner{p.def.ForTopic(t)}
}

type connectTopicPartitioner struct{ def kgo.TopicPartitioner }

// RequiresConsistency keeps a record with a partition there.
func (p connectTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.def.RequiresConsistency(r)
}

// Partition honours the record's own partition.
func (p connectTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.def.Partition(r, n)
}

// createTopic creates topic by the connector's topic.creation rules
// before its first record is sent, as Kafka's WorkerSourceTask does; a
// topic that exists is left as it is.
func (s *sourceRunner) createTopic(ctx context.Context, topic string) error {
	g := s.creation.For(topic)
	adm, err := s.admin.client()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.admin.settings.APITimeout)
	defer cancel()
	resp, err := adm.CreateTopic(cctx, g.Partitions, g.ReplicationFactor, g.Configs, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAuthorizationFailed) {
		// Without CREATE rights the broker refuses even a topic that
		// exists: one that exists is all the task needs.
		if d, lerr := adm.ListTopics(cctx, topic); lerr == nil && d.Has(topic) && d[topic].Err == nil {
			err = kerr.TopicAlreadyExists
		}
	}
	switch {
	case err == nil:
		s.log.Info("created topic", "topic", topic, "topic.creation.group", g.Name, "partitions", g.Partitions, "replication.factor", g.ReplicationFactor)
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("create topic %s (topic.creation group %s): %w", topic, g.Name, err)
	}
	s.created[topic] = true
	return nil
}
