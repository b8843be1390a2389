package herder

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// numbersConn is an exactly-once source: task 0 writes n-0, n-1, ...
// up to limit, ten a Poll, from its committed offset, and defines its
// own transactions: one per Poll, except that the first time it writes
// the batch starting at abortAt it leaves the transaction open and
// aborts it at the next Poll (and writes the batch again after).
// Other tasks write nothing.
type numbersConn struct{ props map[string]string }

func (c *numbersConn) Version() string           { return "1" }
func (c *numbersConn) Config() connect.ConfigDef { return nil }
func (c *numbersConn) Stop() error               { return nil }
func (c *numbersConn) NewTask() connect.SourceTask {
	return &numbersTask{}
}
func (c *numbersConn) Start(_ connect.ConnectorContext, p map[string]string) error {
	c.props = p
	return nil
}
func (c *numbersConn) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, maxTasks)
	for i := range out {
		out[i] = map[string]string{"task": strconv.Itoa(i), "limit": c.props["limit"], "abort.at": c.props["abort.at"]}
	}
	return out, nil
}
func (c *numbersConn) ExactlyOnceSupport(map[string]string) connect.ExactlyOnceSupport {
	return connect.ExactlyOnceSupported
}
func (c *numbersConn) CanDefineTransactionBoundaries(map[string]string) bool { return true }

type numbersTask struct {
	ctx            connect.TransactionalSourceTaskContext
	task           string
	next, limit    int64
	abortAt        int64
	aborted        bool
	aborting       bool
	made, stopOnce sync.Once
	stop           chan struct{}
	noTransactions bool
}

// stopped makes the stop channel once: Stop may come before Start (the
// runtime interrupts a task at any time).
func (t *numbersTask) stopped() chan struct{} {
	t.made.Do(func() { t.stop = make(chan struct{}) })
	return t.stop
}

func (t *numbersTask) Start(ctx connect.SourceTaskContext, p map[string]string) error {
	t.stopped()
	tc, ok := ctx.(connect.TransactionalSourceTaskContext)
	if !ok || tc.TransactionContext() == nil {
		t.noTransactions = true
	}
	t.ctx, t.task = tc, p["task"]
	t.limit, _ = strconv.ParseInt(p["limit"], 10, 64)
	t.abortAt, _ = strconv.ParseInt(p["abort.at"], 10, 64)
	off, err := ctx.Offset(map[string]any{"task": t.task})
	if err != nil {
		return err
	}
	if off != nil {
		t.next = off["n"].(int64) + 1
	}
	return nil
}

func (t *numbersTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if t.task != "0" || t.next >= t.limit || t.noTransactions {
		select {
		case <-ctx.Done():
		case <-t.stopped():
		case <-time.After(50 * time.Millisecond):
		}
		return nil, nil
	}
	if t.aborting {
		// The batch was sent meanwhile (linger 0): the abort leaves
		// it in the log, marked aborted.
		time.Sleep(300 * time.Millisecond)
		t.aborting, t.next = false, t.abortAt // written again by the next Poll
		t.ctx.TransactionContext().AbortTransaction()
		return nil, nil
	}
	var out []connect.SourceRecord
	start := t.next
	for ; t.next < t.limit && t.next < start+10; t.next++ {
		out = append(out, connect.SourceRecord{
			Record:          connect.Record{Topic: "numbers", Partition: connect.NoPartition, Value: fmt.Sprintf("n-%d", t.next)},
			SourcePartition: map[string]any{"task": t.task}, SourceOffset: map[string]any{"n": t.next},
		})
	}
	if start == t.abortAt && !t.aborted {
		t.aborted, t.aborting = true, true // no request: the transaction stays open
	} else {
		t.ctx.TransactionContext().CommitTransactionAfter(&out[len(out)-1])
	}
	return out, nil
}

func (t *numbersTask) Stop() error { t.stopOnce.Do(func() { close(t.stopped()) }); return nil }

// An exactly-once distributed worker (KIP-618): a source task's records
// and offsets are committed in its transactions, an aborted transaction's
// records are invisible to read_committed consumers and its offsets never
// count; a new generation of task configurations starts only after a
// round of zombie fencing, which fences even a task ID the new generation
// no longer has.
func TestDistributed_ExactlyOnceSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, seeds, offs := startTestHerder(t, ctx, connect.Plugin{Class: "Numbers", Type: connect.PluginSource, New: func() any { return &numbersConn{} }}, true)

	// Preflight validation (KIP-618): a connector that cannot define
	// transactions is refused transaction.boundary=connector.
	if infos, _ := d.ValidateConnectorConfig(ctx, map[string]string{"name": "f", "connector.class": "FileStreamSource", "file": "/x", "topic": "t",
		"transaction.boundary": "connector", "exactly.once.support": "required"}); infos.ErrorCount != 1 {
		t.Errorf("FileStreamSource with transaction.boundary=connector: %d errors, want 1", infos.ErrorCount)
	}

	cfg := map[string]string{"connector.class": "Numbers", "tasks.max": "2", "limit": "100", "abort.at": "20",
		"transaction.boundary": "connector", "exactly.once.support": "required"}
	if _, _, err := d.PutConnectorConfig(ctx, "nums", cfg, false); err != nil {
		t.Fatal(err)
	}
	readAll := func(level kgo.IsolationLevel, want int) []string {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("numbers"), kgo.FetchIsolationLevel(level))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []string
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		for len(got) < want && rctx.Err() == nil {
			cl.PollFetches(rctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		return got
	}
	committed := readAll(kgo.ReadCommitted(), 100)
	for i, v := range committed {
		if want := fmt.Sprintf("n-%d", i); v != want {
			t.Fatalf("read_committed record %d is %s, want %s (all: %v)", i, v, want, committed)
		}
	}
	if len(committed) != 100 {
		t.Fatalf("read_committed: %d records, want 100", len(committed))
	}
	// read_uncommitted shows the aborted batch too: 20-29 twice.
	if all := readAll(kgo.ReadUncommitted(), 110); len(all) != 110 || all[20] != "n-20" || all[30] != "n-20" {
		t.Fatalf("read_uncommitted: %d records (want 110, the aborted batch included): %v", len(all), all)
	}
	// The offsets' partition gets its marker in the same round as the
	// records' partitions, not at the same instant.
	var (
		got []map[string]any
		err error
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err = offs.Get(ctx, "nums", []map[string]any{{"task": "0"}})
		if err == nil && got[0]["n"] == int64(99) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %v (%v), want n=99", got, err)
		}
	}
	if snap := d.configs.Snapshot(); snap.TaskCountRecords["nums"] != 2 || snap.NeedsFencing("nums") {
		t.Fatalf("task count record %d (pending %v), want 2 written after the first fencing", snap.TaskCountRecords["nums"], snap.NeedsFencing("nums"))
	}

	// A zombie of task 1 (the old generation) holds an open transaction;
	// the next generation has one task only, so only the leader's
	// fencing round can fence transactional ID g-nums-1.
	zombie, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(runtime.TransactionalID("g", connect.TaskID{Connector: "nums", Task: 1})),
		kgo.RecordRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "numbers", Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg["tasks.max"], cfg["limit"] = "1", "110"
	if _, _, err := d.PutConnectorConfig(ctx, "nums", cfg, true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap := d.configs.Snapshot()
		if snap.TaskCount("nums") == 1 && snap.TaskCountRecords["nums"] == 1 && !snap.NeedsFencing("nums") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fencing of the second generation: task count record %d, pending %v", snap.TaskCountRecords["nums"], snap.NeedsFencing("nums"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	err = zombie.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("the zombie's commit after the fencing round: %v, want it fenced", err)
	}
	committed = readAll(kgo.ReadCommitted(), 110)
	if len(committed) != 110 || committed[109] != "n-109" {
		t.Fatalf("after the new generation: %d records read_committed, last %q; want 110 ending n-109 (no zombie)", len(committed), committed[len(committed)-1])
	}
	for _, v := range committed {
		if v == "zombie" {
			t.Fatal("the zombie's record is visible read_committed")
		}
	}
	// The post-producer check: the old generation's task 1 is stale, the
	// current task 0 is not.
	cur := d.configs.Snapshot().Tasks["nums"][0]
	if err := d.TaskIsCurrent(ctx, connect.TaskID{Connector: "nums", Task: 0}, cur); err != nil {
		t.Fatalf("the current task: %v", err)
	}
	if err := d.TaskIsCurrent(ctx, connect.TaskID{Connector: "nums", Task: 1}, map[string]string{"task": "1", "limit": "100", "abort.at": "20"}); !errors.Is(err, ErrStaleGeneration) {
		t.Fatalf("a task of the old generation: %v, want stale", err)
	}
}
