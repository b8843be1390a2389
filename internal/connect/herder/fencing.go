package herder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/rest"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// fenceTimeout bounds one round of zombie fencing, asked of the leader or
// run by it.
const fenceTimeout = time.Minute

var _ connect.ZombieFencer = (*Distributed)(nil)

// exactlyOnce reports whether this worker runs exactly-once source tasks
// (exactly.once.source.support=enabled).
func (d *Distributed) exactlyOnce() bool { return d.cfg.ExactlyOnce == connect.ExactlyOnceEnabled }

// FenceZombies implements connect.ZombieFencer, on the leader (KIP-618's
// round of zombie fencing): when a connector's task configurations are
// newer than its last task count record, every transactional ID the
// last fenced generation may have used (tasks 0 to count-1) gets an
// InitProducerId, which bumps its epoch (a zombie's next write or commit
// is refused) and completes its open transaction; then a task count
// record for the new generation is written, and workers start its tasks.
// Generations between the two never started a task: each waited for this
// record.
func (d *Distributed) FenceZombies(ctx context.Context, name string) error {
	// A leader still at preparing serves the rounds too: during a
	// rolling upgrade (preparing, then enabled) the enabled workers'
	// tasks must not wait for the leader's own restart.
	if d.cfg.ExactlyOnce != connect.ExactlyOnceEnabled && d.cfg.ExactlyOnce != connect.ExactlyOncePreparing {
		return fmt.Errorf("%w: this worker does not have exactly-once source support enabled", connect.ErrBadRequest)
	}
	if err := d.leaderCheck(); err != nil {
		return err
	}
	d.fenceMu.Lock() // one round at a time: two would race their records
	defer d.fenceMu.Unlock()
	snap, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	if _, ok := snap.Connectors[name]; !ok {
		return connect.NotFoundError("Connector %s not found", name)
	}
	if !snap.NeedsFencing(name) {
		return nil
	}
	if err := d.fenceTasks(ctx, name, snap.TaskCountRecords[name]); err != nil {
		return err
	}
	// A newer generation committed meanwhile is covered by the record
	// too (it started nothing yet); the larger count keeps every ID it
	// may use in the next round.
	count := snap.TaskCount(name)
	if now, err := d.snapshot(ctx); err == nil {
		count = max(count, now.TaskCount(name))
	}
	if err := d.configs.PutTaskCountRecord(ctx, name, count); err != nil {
		return fmt.Errorf("writing the task count record of %s: %w", name, err)
	}
	d.cfg.Logger.Info("fenced zombie source tasks", "connector", name, "fenced", snap.TaskCountRecords[name], "task_count", count)
	return nil
}

// fenceTasks fences the transactional IDs of a connector's tasks 0 to
// count-1, Kafka's Admin.fenceProducers.
func (d *Distributed) fenceTasks(ctx context.Context, name string, count int) error {
	for i := range count {
		id := runtime.TransactionalID(d.cfg.Group.GroupID, connect.TaskID{Connector: name, Task: i})
		if err := d.fenceProducer(ctx, id); err != nil {
			return fmt.Errorf("fencing transactional ID %s: %w", id, err)
		}
	}
	return nil
}

// fenceProducer sends InitProducerId for a transactional ID until the
// coordinator answers it: CONCURRENT_TRANSACTIONS (the previous producer's
// transaction is being completed) and coordinator moves are waited out.
func (d *Distributed) fenceProducer(ctx context.Context, txnID string) error {
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &txnID
		req.TransactionTimeoutMillis = int32(fenceTimeout / time.Millisecond)
		resp, err := req.RequestWith(ctx, d.groupCl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil {
			return nil
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requestFencingLocked asks the leader, once at a time per connector, for
// the round of fencing the connector's tasks wait for; the task count
// record it writes starts them (onConfigChange). A failed request is
// retried while a task still waits.
func (d *Distributed) requestFencingLocked(name string) {
	if d.fencing[name] || d.closing || d.runCtx == nil {
		return
	}
	d.fencing[name] = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			delete(d.fencing, name)
			// A newer generation committed while this round was
			// asked for (its request found the flag set) waits for
			// a round of its own.
			if d.waitsForFencingLocked(name) {
				d.requestFencingLocked(name)
			}
			d.mu.Unlock()
		}()
		for attempt := 0; ; attempt++ {
			if !d.waitsForFencing(name) {
				return
			}
			ctx, cancel := context.WithTimeout(d.runCtx, fenceTimeout)
			err := d.askFencing(ctx, name)
			if err == nil {
				// Read the record the round wrote before looking
				// again (below): the snapshot then shows whether a
				// newer generation still waits.
				_ = d.configs.ReadToEnd(ctx)
				cancel()
				return
			}
			cancel()
			d.cfg.Logger.Warn("zombie fencing failed; the connector's tasks wait for it", "connector", name, "attempt", attempt+1, "err", err)
			select {
			case <-d.runCtx.Done():
				return
			case <-time.After(min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second)):
			}
		}
	}()
}

// waitsForFencing reports whether a task of the connector assigned here
// still waits for a round of fencing.
func (d *Distributed) waitsForFencing(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waitsForFencingLocked(name)
}

func (d *Distributed) waitsForFencingLocked(name string) bool {
	if d.closing || !d.snap.NeedsFencing(name) {
		return false
	}
	for _, t := range d.assignment.Tasks {
		if _, running := d.taskCfgs[t]; t.Connector == name && !running {
			return true
		}
	}
	return false
}

// askFencing runs the round here on the leader, or asks the leader over
// its REST API.
func (d *Distributed) askFencing(ctx context.Context, name string) error {
	d.mu.Lock()
	leader, url := d.memberID != "" && d.memberID == d.leaderID, d.leaderURL
	d.mu.Unlock()
	if leader {
		return d.FenceZombies(ctx, name)
	}
	if url == "" {
		return errNoLeader
	}
	return rest.NewClient(url, fenceTimeout).Fence(ctx, name)
}

// needsFencingLocked reports whether task id must wait for a round of
// zombie fencing before it starts: an exactly-once worker's source task
// whose configurations are newer than the connector's task count record.
func (d *Distributed) needsFencingLocked(id connect.TaskID) bool {
	return d.exactlyOnce() && d.snap.NeedsFencing(id.Connector) && d.typeOf(d.snap.Connectors[id.Connector]) == connect.SourceType
}

// fenceBeforeOffsetWrite fences a stopped exactly-once source connector's
// last task generation before its offsets are altered or reset (KIP-875
// with KIP-618, as Kafka): a zombie task still running somewhere cannot
// commit offsets over the new ones.
func (d *Distributed) fenceBeforeOffsetWrite(ctx context.Context, v offsetsView) error {
	if !d.exactlyOnce() || v.typ != connect.SourceType || !v.stopped {
		return nil
	}
	d.fenceMu.Lock()
	defer d.fenceMu.Unlock()
	snap, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	return d.fenceTasks(ctx, v.name, max(snap.TaskCountRecords[v.name], snap.TaskCount(v.name)))
}

// ErrStaleGeneration: an exactly-once task's configuration is no longer
// its connector's newest (a zombie of an older generation).
var ErrStaleGeneration = errors.New("the task's configuration is not its connector's newest generation (a newer one was committed, or waits for fencing)")

// TaskIsCurrent is runtime.WorkerConfig's TaskIsCurrent for this herder:
// after reading the config topic to its end, the task's configuration
// must be the newest committed one of its connector, already fenced for.
func (d *Distributed) TaskIsCurrent(ctx context.Context, id connect.TaskID, taskConfig map[string]string) error {
	snap, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	tasks := snap.Tasks[id.Connector]
	if id.Task >= len(tasks) || !maps.Equal(tasks[id.Task], taskConfig) || snap.NeedsFencing(id.Connector) {
		return fmt.Errorf("task %s-%d: %w", id.Connector, id.Task, ErrStaleGeneration)
	}
	return nil
}
