package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/connect"
)

// Sink defaults.
const (
	maxPollRecords     = 500         // Kafka's max.poll.records
	defaultPutBackoff  = time.Second // a retriable Put's wait when the task set no Timeout
	maxPollWait        = time.Second // a poll's longest block, so commits and stops are timely
	dlqPartitions      = 1
	sinkGroupPrefix    = "connect-"
	taskPutClassPrefix = "sink task "
)

// sinkRunner is Kafka Connect's WorkerSinkTask: a consumer in the
// connector's group, records converted and transformed, Put in batches,
// offsets committed after Flush.
//
// Calls into the task are serialized by taskMu (the loop's and kgo's
// rebalance callbacks'); the context's methods, which the task calls
// while taskMu is held, use ctxMu.
type sinkRunner struct {
	tracker  *topicTracker // used on the run goroutine only
	w        *Worker
	id       connect.TaskID
	log      *slog.Logger
	task     connect.SinkTask
	taskCfg  map[string]string
	conv     *converters
	chain    transformChain
	op       *retryOperator
	dlq      *dlqReporter
	admin    *taskAdmin   // creates the dead-letter queue topic; nil without one
	metrics  *taskMetrics // nil: none
	client   *kgo.Client
	listener StatusListener
	gate     *pauseGate

	taskMu  sync.Mutex
	started bool // Start returned: callbacks may call the task
	closed  bool // partitions closed for good: callbacks do nothing
	// current is the next offset to commit per partition: past every
	// record Put (or skipped); base is the last committed one (or the
	// first read), where a failed Flush rewinds to.
	current, base map[connect.TopicPartition]int64
	retry         []connect.SinkRecord // a batch whose Put failed retriably
	fatal         error                // a failure in a rebalance callback (Open)
	retryOffsets  map[connect.TopicPartition]int64

	ctxMu           sync.Mutex
	assigned        map[connect.TopicPartition]bool
	rewinds         map[connect.TopicPartition]int64
	timeout         time.Duration
	commitRequested bool
	reportFailure   error
	batch           map[connect.TopicPartition]map[int64]*kgo.Record // the batch being Put, for ReportError
	topics          []string                                         // the topics key (none with topics.regex)
	pausedTopics    []string                                         // paused by PauseTask
}

func newSinkRunner(ctx context.Context, w *Worker, id connect.TaskID, conn, taskCfg map[string]string, task connect.SinkTask, l StatusListener) (*sinkRunner, error) {
	props, err := connect.SinkConfig().Parse(conn)
	if err != nil {
		return nil, fmt.Errorf("connector configuration: %w", err)
	}
	topics, regex := props.List(connect.KeyTopics), props.String(connect.KeyTopicsRegex)
	if (len(topics) == 0) == (regex == "") {
		return nil, errors.New("exactly one of topics and topics.regex must be set")
	}
	if regex != "" {
		if _, err := regexp.Compile(regex); err != nil {
			return nil, fmt.Errorf("topics.regex: %w", err)
		}
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
	s := &sinkRunner{w: w, id: id, log: log, task: task, taskCfg: taskCfg, conv: conv, chain: chain, listener: l, tracker: newTopicTracker(id, l),
		gate: newPauseGate(id, l), current: map[connect.TopicPartition]int64{}, base: map[connect.TopicPartition]int64{},
		assigned: map[connect.TopicPartition]bool{}, rewinds: map[connect.TopicPartition]int64{}, topics: topics}
	ecfg := parseErrorConfig(props)
	s.op = &retryOperator{cfg: ecfg, log: log, task: id, ctx: ctx}
	s.metrics = w.cfg.Metrics.forTask(id)
	s.op.reporters = append(s.op.reporters, func(*errorContext) { s.metrics.add(errsC, 1) })
	opts := []kgo.Opt{
		kgo.ConsumerGroup(sinkGroupPrefix + conn[connect.KeyName]),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
	}
	if regex != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(regex))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topics...))
	}
	overrides, err := connectorOverrides(log, w.cfg.OverridePolicy, conn, connect.ConsumerOverridePrefix)
	if err != nil {
		return nil, err
	}
	if s.client, err = kgo.NewClient(append(append(w.clientOpts(id, opts...), w.cfg.ConsumerOptions...), overrides...)...); err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	if ecfg.dlqTopic != "" {
		// The dead-letter queue has its own producer and admin client,
		// as in Kafka, so the worker's producer.* and admin.* keys and
		// the connector's producer.override.* and admin.override.* keys
		// apply to them.
		if s.admin, err = newTaskAdmin(w, id, log, conn); err != nil {
			s.client.Close()
			return nil, err
		}
		poverrides, err := connectorOverrides(log, w.cfg.OverridePolicy, conn, connect.ProducerOverridePrefix)
		if err != nil {
			s.client.Close()
			return nil, err
		}
		popts := append(w.clientOpts(id, kgo.ClientID("connector-dlq-producer-"+taskName(id))), w.cfg.ProducerOptions...)
		dlqClient, err := kgo.NewClient(append(popts, poverrides...)...)
		if err != nil {
			s.client.Close()
			return nil, fmt.Errorf("dead-letter queue producer: %w", err)
		}
		s.dlq = &dlqReporter{client: dlqClient, topic: ecfg.dlqTopic, headers: ecfg.dlqHeaders, task: id}
		s.op.reporters = append(s.op.reporters, s.dlq.report, func(ec *errorContext) {
			if ec.consumed != nil { // what dlqReporter sends
				s.metrics.add(dlqC, 1)
			}
		})
	}
	return s, nil
}

// setPaused pauses or resumes the task. Fetching stops too (kgo's topic
// pauses, independent of the partitions the task paused itself), so no
// records pile up in the client while the loop does not poll.
func (s *sinkRunner) setPaused(p bool) {
	s.ctxMu.Lock()
	if p {
		topics := map[string]bool{}
		for _, t := range s.topics {
			topics[t] = true
		}
		for tp := range s.assigned {
			topics[tp.Topic] = true
		}
		s.pausedTopics = s.pausedTopics[:0]
		for t := range topics {
			s.pausedTopics = append(s.pausedTopics, t)
		}
		s.client.PauseFetchTopics(s.pausedTopics...)
	} else {
		s.client.ResumeFetchTopics(s.pausedTopics...)
		s.pausedTopics = nil
	}
	s.ctxMu.Unlock()
	s.gate.set(p)
}

// interrupt does nothing: a sink task's calls return by themselves and
// the loop's polls are bounded.
func (s *sinkRunner) interrupt() {}

func (s *sinkRunner) run(ctx context.Context) (err error) {
	defer s.metrics.release()
	defer s.client.Close()
	if s.dlq != nil {
		defer s.dlq.client.Close()
		defer s.admin.close() // in case createDLQ did not run
	}
	defer func() {
		// Whatever way run ends (a failure, a panic), leaving the group
		// must not call into the task again.
		s.taskMu.Lock()
		s.closed = true
		s.taskMu.Unlock()
	}()
	if s.dlq != nil {
		err := s.createDLQ(ctx)
		s.admin.close() // needed once, as Kafka's sink closes its admin client once the queue is set up
		if err != nil {
			return err
		}
	}
	s.taskMu.Lock()
	err = s.task.Start(&sinkContext{s: s}, s.taskCfg)
	s.started = err == nil
	if tps := s.assignment(); s.started && len(tps) > 0 {
		if oerr := s.task.Open(tps); oerr != nil {
			s.fatal = fmt.Errorf("open %v: %w", tps, oerr)
		}
	}
	s.taskMu.Unlock()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	s.gate.running()
	err = s.loop(ctx)

	// Stop as Kafka does: commit and close the partitions, stop the
	// task, then leave the group (client.Close) with nothing to do in
	// the revocation callback.
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	if err == nil {
		cctx, cancel := context.WithTimeout(context.Background(), s.w.cfg.OffsetFlushTimeout)
		err = s.commit(cctx, nil)
		cancel()
	}
	if cerr := s.task.Close(s.assignment()); cerr != nil && err == nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	s.closed = true
	if serr := s.task.Stop(); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	return err
}

// createDLQ creates the dead-letter topic unless it exists, as Kafka
// does (errors.deadletterqueue.topic.replication.factor).
func (s *sinkRunner) createDLQ(ctx context.Context) error {
	adm, err := s.admin.client()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.admin.settings.APITimeout)
	defer cancel()
	resp, err := adm.CreateTopic(cctx, dlqPartitions, s.op.cfg.dlqRF, nil, s.dlq.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create dead-letter queue topic %s: %w", s.dlq.topic, err)
	}
	return nil
}

func (s *sinkRunner) loop(ctx context.Context) error {
	nextCommit := time.Now().Add(s.w.cfg.OffsetFlushInterval)
	for ctx.Err() == nil {
		if s.commitDue(nextCommit) {
			s.taskMu.Lock()
			err := s.commit(ctx, nil)
			s.taskMu.Unlock()
			if err != nil {
				return err
			}
			nextCommit = time.Now().Add(s.w.cfg.OffsetFlushInterval)
		}
		wait := min(time.Until(nextCommit), maxPollWait)
		if s.gate.isPaused() {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-s.gate.wait():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		s.taskMu.Lock()
		pending, fatal := s.retry != nil, s.fatal
		s.taskMu.Unlock()
		if fatal != nil {
			return fatal
		}
		if pending {
			if err := s.retryPut(ctx, nextCommit); err != nil {
				return err
			}
			continue
		}
		if err := s.pollOnce(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

func (s *sinkRunner) commitDue(next time.Time) bool {
	s.ctxMu.Lock()
	req := s.commitRequested
	s.ctxMu.Unlock()
	return req || !time.Now().Before(next)
}

// pollOnce fetches a batch, converts, transforms and Puts it; rebalances
// wait until the batch is handed over (BlockRebalanceOnPoll).
func (s *sinkRunner) pollOnce(ctx context.Context, wait time.Duration) error {
	s.applyRewinds()
	pctx, cancel := context.WithTimeout(ctx, wait)
	fetches := s.client.PollRecords(pctx, maxPollRecords)
	cancel()
	defer s.client.AllowRebalance()
	if fetches.IsClientClosed() {
		return errors.New("consumer closed")
	}
	fetches.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		}
	})
	if fetches.NumRecords() == 0 {
		return nil
	}
	s.metrics.add(readC, fetches.NumRecords())
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	batch := make([]connect.SinkRecord, 0, fetches.NumRecords())
	offsets := map[connect.TopicPartition]int64{}
	raw := map[connect.TopicPartition]map[int64]*kgo.Record{}
	var ferr error
	fetches.EachRecord(func(kr *kgo.Record) {
		if ferr != nil {
			return
		}
		tp := connect.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}
		if _, ok := s.base[tp]; !ok {
			s.base[tp] = kr.Offset
		}
		offsets[tp] = kr.Offset + 1
		if raw[tp] == nil {
			raw[tp] = map[int64]*kgo.Record{}
		}
		raw[tp][kr.Offset] = kr
		sr, ok, err := s.convertRecord(kr)
		if err != nil {
			ferr = err
			return
		}
		if ok {
			batch = append(batch, sr)
		}
	})
	if ferr != nil {
		return ferr
	}
	s.ctxMu.Lock()
	s.batch = raw
	s.ctxMu.Unlock()
	return s.deliver(batch, offsets)
}

// deliver Puts a batch; on success its offsets become committable, on a
// retriable error it is kept for retryPut.
func (s *sinkRunner) deliver(batch []connect.SinkRecord, offsets map[connect.TopicPartition]int64) error {
	err := s.put(batch)
	var re *connect.RetriableError
	switch {
	case err == nil:
		s.metrics.add(putC, len(batch))
		maps.Copy(s.current, offsets)
		s.retry, s.retryOffsets = nil, nil
		return nil
	case errors.As(err, &re):
		s.log.Warn("retriable error from Put; the batch is passed again after a backoff", "records", len(batch), "err", err)
		s.retry, s.retryOffsets = batch, offsets
		if s.retry == nil {
			s.retry = []connect.SinkRecord{}
		}
		return nil
	}
	return err
}

func (s *sinkRunner) put(batch []connect.SinkRecord) error {
	err := s.task.Put(batch)
	s.ctxMu.Lock()
	rf := s.reportFailure
	s.ctxMu.Unlock()
	if err == nil && rf != nil {
		err = rf
	}
	if err != nil {
		var re *connect.RetriableError
		if errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("put: %w", err)
	}
	return nil
}

// retryPut waits the task's Timeout (or a second) and passes the held
// batch again; the commit deadline still comes first.
func (s *sinkRunner) retryPut(ctx context.Context, nextCommit time.Time) error {
	s.ctxMu.Lock()
	d := s.timeout
	s.timeout = 0
	s.ctxMu.Unlock()
	if d <= 0 {
		d = defaultPutBackoff
	}
	if until := time.Until(nextCommit); until < d {
		d = max(until, 0)
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return nil
	case <-t.C:
	}
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	if s.retry == nil { // a revocation or a failed flush dropped it
		return nil
	}
	return s.deliver(s.retry, s.retryOffsets)
}

// convertRecord turns a consumed record into a SinkRecord: headers, key
// and value through the converters, then the transforms. ok is false when
// a transform dropped it or a tolerated error skipped it.
func (s *sinkRunner) convertRecord(kr *kgo.Record) (connect.SinkRecord, bool, error) {
	s.tracker.used(kr.Topic)
	ec := &errorContext{consumed: kr}
	sr := connect.SinkRecord{KafkaOffset: kr.Offset, TimestampType: connect.TimestampType(kr.Attrs.TimestampType()),
		OriginalTopic: kr.Topic, OriginalPartition: kr.Partition, OriginalOffset: kr.Offset}
	sr.Topic, sr.Partition, sr.Timestamp = kr.Topic, kr.Partition, kr.Timestamp
	ok, err := s.op.execute(ec, stageHeaderConverter, s.conv.headerClass, func() error {
		sr.Headers = make([]connect.Header, 0, len(kr.Headers))
		for _, h := range kr.Headers {
			schema, v, err := s.conv.header.ToConnectHeader(kr.Topic, h.Key, h.Value)
			if err != nil {
				return err
			}
			sr.Headers = append(sr.Headers, connect.Header{Key: h.Key, Schema: schema, Value: v})
		}
		return nil
	})
	if !ok {
		return sr, false, err
	}
	ok, err = s.op.execute(ec, stageKeyConverter, s.conv.keyClass, func() (err error) {
		sr.KeySchema, sr.Key, err = s.conv.key.ToConnectData(kr.Topic, sr.Headers, kr.Key)
		return err
	})
	if !ok {
		return sr, false, err
	}
	ok, err = s.op.execute(ec, stageValueConverter, s.conv.valueClass, func() (err error) {
		sr.ValueSchema, sr.Value, err = s.conv.value.ToConnectData(kr.Topic, sr.Headers, kr.Value)
		return err
	})
	if !ok {
		return sr, false, err
	}
	out, keep, err := s.chain.apply(s.op, ec, sr.Record)
	if err != nil || !keep {
		return sr, false, err
	}
	sr.Record = out
	return sr, true, nil
}

// commit flushes the task and commits its offsets, of the given
// partitions (all assigned when nil). Called with taskMu held. A failed
// Flush is not fatal, as in Kafka: the partitions are rewound to their
// last committed offsets, so the records are passed again.
func (s *sinkRunner) commit(ctx context.Context, only []connect.TopicPartition) error {
	start := time.Now()
	s.ctxMu.Lock()
	s.commitRequested = false
	s.ctxMu.Unlock()
	parts := only
	if parts == nil {
		parts = s.assignment()
	}
	offsets := map[connect.TopicPartition]int64{}
	for _, tp := range parts {
		if o, ok := s.current[tp]; ok {
			offsets[tp] = o
		}
	}
	if s.dlq != nil {
		// Offsets must not pass a dead-lettered record the queue lacks.
		dctx, cancel := context.WithTimeout(ctx, s.w.cfg.OffsetFlushTimeout)
		err := s.dlq.wait(dctx)
		cancel()
		if err != nil {
			return err
		}
	}
	committable := offsets
	var err error
	if pc, ok := s.task.(connect.PreCommitter); ok {
		committable, err = pc.PreCommit(maps.Clone(offsets))
	} else {
		err = s.task.Flush(maps.Clone(offsets))
	}
	if err != nil {
		s.log.Error("flush failed; rewinding to the last committed offsets", "err", err)
		s.rewindToBase(parts)
		return nil
	}
	toCommit := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range committable {
		if _, ok := offsets[tp]; !ok {
			continue // only partitions this commit covers
		}
		if b, ok := s.base[tp]; ok && b == o {
			continue
		}
		if toCommit[tp.Topic] == nil {
			toCommit[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		toCommit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	if len(toCommit) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	var cerr error
	defer s.metrics.committed(start)
	s.client.CommitOffsetsSync(cctx, toCommit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = commitError(resp, err)
	})
	if cerr != nil {
		// Not fatal: the next commit covers these offsets too.
		s.log.Warn("offset commit failed", "err", cerr)
		return nil
	}
	for t, ps := range toCommit {
		for p, eo := range ps {
			s.base[connect.TopicPartition{Topic: t, Partition: p}] = eo.Offset
		}
	}
	return nil
}

// rewindToBase seeks partitions back to their last committed offsets.
func (s *sinkRunner) rewindToBase(parts []connect.TopicPartition) {
	set := map[string]map[int32]kgo.EpochOffset{}
	for _, tp := range parts {
		b, ok := s.base[tp]
		if !ok {
			continue
		}
		s.current[tp] = b
		if set[tp.Topic] == nil {
			set[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: b}
	}
	s.retry, s.retryOffsets = nil, nil
	s.client.SetOffsets(set)
}

// applyRewinds seeks the assigned partitions the task asked to move
// (SinkTaskContext.Offset); those not assigned yet wait for
// adjustOffsets.
func (s *sinkRunner) applyRewinds() {
	s.ctxMu.Lock()
	set := map[string]map[int32]kgo.EpochOffset{}
	moved := map[connect.TopicPartition]int64{}
	for tp, o := range s.rewinds {
		if !s.assigned[tp] {
			continue
		}
		delete(s.rewinds, tp)
		moved[tp] = o
		if set[tp.Topic] == nil {
			set[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	s.ctxMu.Unlock()
	if len(set) == 0 {
		return
	}
	s.taskMu.Lock()
	for tp, o := range moved {
		s.current[tp] = o
	}
	s.taskMu.Unlock()
	s.client.SetOffsets(set)
}

func (s *sinkRunner) assignment() []connect.TopicPartition {
	s.ctxMu.Lock()
	defer s.ctxMu.Unlock()
	out := make([]connect.TopicPartition, 0, len(s.assigned))
	for tp := range s.assigned {
		out = append(out, tp)
	}
	return out
}
