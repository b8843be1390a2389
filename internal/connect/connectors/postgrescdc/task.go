package postgrescdc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
)

// pollWait is how long Poll waits for a change before returning nothing.
const pollWait = time.Second

// stopTimeout bounds how long Stop waits for Poll and the streamer.
const stopTimeout = 10 * time.Second

// Task snapshots and streams one database, Debezium's
// PostgresConnectorTask. Poll runs on one goroutine; Stop may come from
// another and makes a blocked Poll return.
type Task struct {
	s         settings
	ctx       connect.SourceTaskContext
	partition map[string]any
	log       *slog.Logger
	wait      time.Duration

	run    context.Context // lives from Start to Stop
	cancel context.CancelFunc

	catalog *pgconn.PgConn // catalog queries and the snapshot; used by Poll only after Start
	snap    *snapshotter   // nil once the snapshot is done (or none is taken)
	stream  *streamer      // nil with snapshot.mode=initial_only
	// confirmed is the LSN the slot is told was flushed: only ever one a
	// stored offset named (Commit), so an unstored change stays in the
	// slot.
	confirmed atomic.Uint64

	pollBusy chan struct{} // held by Poll, so Stop closes connections Poll no longer uses
	stopOnce sync.Once
}

// NewTask returns an unstarted task.
func NewTask() *Task {
	return &Task{wait: pollWait, pollBusy: make(chan struct{}, 1), log: slog.Default()}
}

// Start connects, creates what is missing (publication, slot), and either
// begins a snapshot (no complete one stored) or resumes streaming after
// the stored offset.
func (t *Task) Start(ctx connect.SourceTaskContext, props map[string]string) error {
	s, err := parse(props)
	if err != nil {
		return fmt.Errorf("postgres cdc task: %w", err)
	}
	t.s, t.ctx = s, ctx
	t.log = t.log.With("connector", "postgrescdc", "server", s.prefix)
	t.partition = map[string]any{partitionServer: s.prefix}
	t.run, t.cancel = context.WithCancel(context.Background())
	if err := t.start(); err != nil {
		t.stopOnce.Do(t.shutdown)
		return fmt.Errorf("postgres cdc task %s: %w", s.prefix, err)
	}
	return nil
}

func (t *Task) start() error {
	var err error
	if t.catalog, err = dial(t.run, t.s, false); err != nil {
		return err
	}
	tables, err := loadTables(t.run, t.catalog, t.s)
	if err != nil {
		return err
	}
	if err := ensurePublication(t.run, t.catalog, t.s, tables); err != nil {
		return err
	}
	stored, err := t.ctx.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("read the stored offset: %w", err)
	}
	repl, err := dial(t.run, t.s, true)
	if err != nil {
		return err
	}
	exists, err := slotExists(t.run, t.catalog, t.s.slot)
	if err != nil {
		_ = repl.Close(t.run)
		return err
	}
	// Slot commands are bounded: dropping waits for a walsender to let go.
	sctx, scancel := context.WithTimeout(t.run, connectTimeout)
	defer scancel()
	var resume resumePoint
	switch {
	case stored != nil && (stored[OffsetSnapshot] != true || stored[OffsetLastSnapshot] == true):
		// Resume: the slot holds everything after what was confirmed.
		lsn, ok := number(stored[OffsetLSN])
		if !ok {
			_ = repl.Close(t.run)
			return fmt.Errorf("stored offset %v has no %s", stored, OffsetLSN)
		}
		ev, _ := number(stored[OffsetEvent])
		resume = resumePoint{lsn: pglogrepl.LSN(lsn), events: ev}
		if t.s.snapshotMode == SnapshotInitialOnly {
			_ = repl.Close(t.run)
			return nil // the snapshot is done, and its slot was temporary
		}
		if !exists {
			_ = repl.Close(t.run)
			return fmt.Errorf("replication slot %s is gone: the changes after LSN %s are lost; delete the connector's offsets to snapshot again", t.s.slot, resume.lsn)
		}
		t.confirmed.Store(uint64(lsn))
	case t.s.snapshotMode == SnapshotNever:
		if !exists {
			res, err := pglogrepl.CreateReplicationSlot(sctx, repl, t.s.slot, "pgoutput",
				pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
			if err != nil {
				_ = repl.Close(t.run)
				return fmt.Errorf("create replication slot %s: %w", t.s.slot, err)
			}
			if lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint); err == nil {
				t.confirmed.Store(uint64(lsn))
			}
		}
	default:
		// No complete snapshot was stored: a slot left by an interrupted
		// first run cannot give back its exported snapshot, so it is made
		// again and the snapshot taken again (its rows may repeat).
		if exists {
			t.log.Warn("dropping the replication slot of an unfinished snapshot", "slot", t.s.slot)
			// Wait: the walsender of a task just stopped may still hold it.
			if err := pglogrepl.DropReplicationSlot(sctx, repl, t.s.slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
				_ = repl.Close(t.run)
				return fmt.Errorf("drop replication slot %s: %w", t.s.slot, err)
			}
		}
		// initial_only never streams: a temporary slot, gone with the
		// connection, exports the snapshot without retaining WAL after.
		res, err := pglogrepl.CreateReplicationSlot(sctx, repl, t.s.slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT",
				Temporary: t.s.snapshotMode == SnapshotInitialOnly})
		if err != nil {
			_ = repl.Close(t.run)
			return fmt.Errorf("create replication slot %s: %w", t.s.slot, err)
		}
		lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
		if err != nil {
			_ = repl.Close(t.run)
			return fmt.Errorf("slot %s consistent point %q: %w", t.s.slot, res.ConsistentPoint, err)
		}
		if err := beginSnapshot(t.run, t.catalog, res.SnapshotName); err != nil {
			_ = repl.Close(t.run)
			return err
		}
		t.confirmed.Store(uint64(lsn))
		resume = resumePoint{lsn: lsn}
		t.snap = newSnapshotter(t.catalog, tables, int64(lsn), t.s, t.partition)
		if t.s.snapshotMode == SnapshotInitialOnly {
			// The snapshot transaction imported the snapshot already, so
			// the slot may go.
			_ = repl.Close(t.run)
			return nil
		}
	}
	// Streaming starts now, alongside the snapshot: the snapshot
	// transaction already holds the exported snapshot, and the changes
	// after the consistent point wait in the stream's buffer.
	t.stream, err = startStream(t.run, repl, t.s, tables, t.partition, resume, &t.confirmed, t.log)
	if err != nil {
		_ = repl.Close(t.run)
		return err
	}
	return nil
}

// number reads an offset field, stored as JSON (float64) or kept as Go
// integers.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n < 0 || n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// Poll returns snapshot rows until the snapshot is done, then the
// streamed changes; nil after waiting a while when nothing is new.
func (t *Task) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	select {
	case t.pollBusy <- struct{}{}:
		defer func() { <-t.pollBusy }()
	case <-t.run.Done():
		return nil, nil
	}
	if t.run.Err() != nil {
		return nil, nil
	}
	if t.snap != nil {
		recs, done, err := t.snap.read(t.run, t.s.maxBatch)
		if err != nil {
			if t.run.Err() != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("postgres cdc %s: %w", t.s.prefix, err)
		}
		if done {
			t.snap = nil
			t.log.Info("snapshot complete")
		}
		// Returned even when empty: the first wait for a change is the
		// next Poll's.
		if len(recs) == 0 {
			return nil, nil
		}
		return recs, nil
	}
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	if t.stream == nil { // initial_only: nothing more to produce
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-t.run.Done():
		}
		return nil, nil
	}
	var first connect.SourceRecord
	select {
	case first = <-t.stream.out:
	case <-t.stream.done:
		if t.stream.err != nil {
			return nil, fmt.Errorf("postgres cdc %s: %w", t.s.prefix, t.stream.err)
		}
		if t.run.Err() == nil {
			return nil, fmt.Errorf("postgres cdc %s: %w", t.s.prefix, errStreamEnded)
		}
		return nil, nil
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	case <-t.run.Done():
		return nil, nil
	}
	out := []connect.SourceRecord{first}
	for len(out) < t.s.maxBatch {
		select {
		case r := <-t.stream.out:
			out = append(out, r)
		default:
			return out, nil
		}
	}
	return out, nil
}

// CommitRecord implements connect.SourceTaskCommitter. It confirms
// nothing: records of different Kafka partitions are acknowledged out of
// order, so only the stored offset (the acknowledged prefix, Commit)
// says which LSN is safe.
func (t *Task) CommitRecord(connect.SourceRecord, *connect.RecordMetadata) error { return nil }

// Commit implements connect.SourceTaskCommitter: the runtime stored the
// offsets of acknowledged records, so their transaction's commit LSN is
// confirmed to the slot (the next status update carries it). Confirming
// the commit LSN of a transaction only partly stored is safe: the server
// resends every transaction committed at or after the confirmed LSN, and
// the stored event number skips its stored part.
func (t *Task) Commit() error {
	if t.ctx == nil {
		return nil
	}
	off, err := t.ctx.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("postgres cdc %s: read the stored offset: %w", t.s.prefix, err)
	}
	lsn, ok := number(off[OffsetLSN])
	if !ok {
		return nil
	}
	for {
		cur := t.confirmed.Load()
		if uint64(lsn) <= cur || t.confirmed.CompareAndSwap(cur, uint64(lsn)) {
			return nil
		}
	}
}

// Stop ends the snapshot and the stream and closes the connections; the
// slot stays, holding the changes not yet confirmed.
func (t *Task) Stop() error {
	t.stopOnce.Do(t.shutdown)
	return nil
}

func (t *Task) shutdown() {
	if t.cancel == nil {
		return
	}
	t.cancel()
	deadline, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	// Poll returns soon once run is canceled; waiting for it keeps the
	// catalog connection from being closed under a running snapshot read.
	select {
	case t.pollBusy <- struct{}{}:
		defer func() { <-t.pollBusy }()
	case <-deadline.Done():
		t.log.Warn("Poll did not return in time; closing its connection anyway")
	}
	if t.stream != nil {
		select {
		case <-t.stream.done:
		case <-deadline.Done():
			t.log.Warn("the replication stream did not end in time")
		}
	}
	if t.snap != nil {
		t.snap.close()
	}
	if t.catalog != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = t.catalog.Close(cctx)
	}
}
