package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/connect"
)

// The rebalance callbacks run on kgo's goroutine; taskMu keeps them from
// overlapping the loop's calls into the task.

func toTPs(m map[string][]int32) []connect.TopicPartition {
	var out []connect.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, connect.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// onAssigned opens the new partitions (SinkTask.Open).
func (s *sinkRunner) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	tps := toTPs(m)
	// assigned changes under taskMu so run's first Open (for partitions
	// assigned before Start) and this one never overlap.
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	s.ctxMu.Lock()
	for _, tp := range tps {
		s.assigned[tp] = true
	}
	s.ctxMu.Unlock()
	if !s.started || s.closed {
		return
	}
	if err := s.task.Open(tps); err != nil && s.fatal == nil {
		s.fatal = fmt.Errorf("open %v: %w", tps, err) // the loop fails the task, as Kafka's poll would throw
	}
}

// onRevoked commits and closes the revoked partitions (Flush, commit,
// Close), dropping a held retry batch's records of them: they will be
// read again by whoever gets the partitions.
func (s *sinkRunner) onRevoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	s.release(ctx, toTPs(m), true)
}

// onLost closes partitions lost without a chance to commit.
func (s *sinkRunner) onLost(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	s.release(ctx, toTPs(m), false)
}

func (s *sinkRunner) release(ctx context.Context, tps []connect.TopicPartition, commit bool) {
	s.taskMu.Lock()
	defer s.taskMu.Unlock()
	if s.started && !s.closed {
		if commit {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.w.cfg.OffsetFlushTimeout)
			if err := s.commit(cctx, tps); err != nil {
				s.log.Error("commit of revoked partitions failed", "err", err)
			}
			cancel()
		}
		if err := s.task.Close(tps); err != nil {
			s.log.Error("Close failed", "partitions", tps, "err", err)
		}
	}
	gone := map[connect.TopicPartition]bool{}
	for _, tp := range tps {
		gone[tp] = true
		delete(s.current, tp)
		delete(s.base, tp)
		delete(s.retryOffsets, tp)
	}
	if s.retry != nil {
		kept := s.retry[:0:0]
		for _, r := range s.retry {
			if !gone[connect.TopicPartition{Topic: r.OriginalTopic, Partition: r.OriginalPartition}] {
				kept = append(kept, r)
			}
		}
		s.retry = kept
		if len(kept) == 0 && len(s.retryOffsets) == 0 {
			s.retry, s.retryOffsets = nil, nil
		}
	}
	s.ctxMu.Lock()
	for _, tp := range tps {
		delete(s.assigned, tp)
		delete(s.rewinds, tp)
	}
	s.ctxMu.Unlock()
}

// adjustOffsets applies the rewinds the task asked for (typically in
// Open) to partitions just assigned, after kgo fetched their committed
// offsets, which would otherwise win.
func (s *sinkRunner) adjustOffsets(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.ctxMu.Lock()
	defer s.ctxMu.Unlock()
	for t, ps := range offs {
		for p := range ps {
			tp := connect.TopicPartition{Topic: t, Partition: p}
			if o, ok := s.rewinds[tp]; ok {
				ps[p] = kgo.NewOffset().At(o)
				delete(s.rewinds, tp)
			}
		}
	}
	return offs, nil
}

// commitError is the first error of an offset commit.
func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// sinkContext is the SinkTaskContext the runtime hands a task. Its
// methods may be called from Put, Flush, Open (taskMu held): they take
// ctxMu only.
type sinkContext struct{ s *sinkRunner }

// Config is the task's configuration.
func (c *sinkContext) Config() map[string]string { return c.s.taskCfg }

// Assignment is the partitions the task holds.
func (c *sinkContext) Assignment() []connect.TopicPartition { return c.s.assignment() }

// Offset records rewinds, applied before the next poll.
func (c *sinkContext) Offset(offsets map[connect.TopicPartition]int64) {
	c.s.ctxMu.Lock()
	defer c.s.ctxMu.Unlock()
	for tp, o := range offsets {
		c.s.rewinds[tp] = o
	}
}

// Timeout sets the wait before a retriable Put is retried.
func (c *sinkContext) Timeout(d time.Duration) {
	c.s.ctxMu.Lock()
	c.s.timeout = d
	c.s.ctxMu.Unlock()
}

// Pause stops fetching the partitions.
func (c *sinkContext) Pause(partitions ...connect.TopicPartition) {
	c.s.client.PauseFetchPartitions(fromTPs(partitions))
}

// Resume restarts fetching the partitions.
func (c *sinkContext) Resume(partitions ...connect.TopicPartition) {
	c.s.client.ResumeFetchPartitions(fromTPs(partitions))
}

// RequestCommit makes the loop commit at its next turn.
func (c *sinkContext) RequestCommit() {
	c.s.ctxMu.Lock()
	c.s.commitRequested = true
	c.s.ctxMu.Unlock()
}

// ReportError is the errant record reporter: the record's consumed bytes
// go to the dead-letter queue (and the log) as a TASK_PUT failure; under
// errors.tolerance=none it also fails the task.
func (c *sinkContext) ReportError(r connect.SinkRecord, err error) error {
	s := c.s
	s.ctxMu.Lock()
	kr := s.batch[connect.TopicPartition{Topic: r.OriginalTopic, Partition: r.OriginalPartition}][r.OriginalOffset]
	s.ctxMu.Unlock()
	if kr == nil {
		// Not of the current batch: serialize it again.
		kr = &kgo.Record{Topic: r.OriginalTopic, Partition: r.OriginalPartition, Offset: r.OriginalOffset}
		kr.Key, _ = s.conv.key.FromConnectData(r.Topic, r.Headers, r.KeySchema, r.Key)
		kr.Value, _ = s.conv.value.FromConnectData(r.Topic, r.Headers, r.ValueSchema, r.Value)
	}
	ec := &errorContext{consumed: kr, stage: stageTaskPut, class: fmt.Sprintf("%T", s.task), err: err}
	s.op.report(ec)
	if s.op.cfg.tolerateAll {
		return nil
	}
	ferr := fmt.Errorf("%w: reported by the task: %w", errToleranceExceeded, err)
	s.ctxMu.Lock()
	if s.reportFailure == nil {
		s.reportFailure = ferr
	}
	s.ctxMu.Unlock()
	return ferr
}

func fromTPs(tps []connect.TopicPartition) map[string][]int32 {
	m := map[string][]int32{}
	for _, tp := range tps {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}
