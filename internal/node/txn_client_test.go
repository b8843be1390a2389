package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/node"
)

func startStandalone(t *testing.T, ctx context.Context, kv ...string) *node.Node {
	t.Helper()
	props := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir(), "http.listeners": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		props[kv[i]] = kv[i+1]
	}
	b, _, err := config.LoadBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Broker: b, Props: props, Logger: txnTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// readAll reads every record of topic from the start with isolation,
// until want records arrived, then briefly for more.
func readAll(t *testing.T, ctx context.Context, addr, topic string, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	for len(got) < want {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v (got %d of %d)", err, len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	c.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	slices.Sort(got)
	return got
}

// TestTransactions_FranzGoProducer: franz-go's transactional producer
// against a standalone broker: committed transactions are read by
// read_committed consumers, aborted ones only by read_uncommitted ones; a
// second producer with the same transactional ID fences the first, whose
// commit is refused; DescribeTransactions and ListTransactions show the
// ID.
func TestTransactions_FranzGoProducer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startStandalone(t, ctx)
	adm, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	if resp, err := admin.CreateTopic(ctx, 3, 1, nil, "out"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	producer := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID(id), kgo.DefaultProduceTopic("out"),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	txn := func(cl *kgo.Client, prefix string, count int, commit kgo.TransactionEndTry) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for i := range count {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%02d", prefix, i))).FirstErr(); err != nil {
				return fmt.Errorf("produce %s-%d: %w", prefix, i, err)
			}
		}
		return cl.EndTransaction(ctx, commit)
	}
	p1 := producer("tx-1")
	if err := txn(p1, "c1", 10, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := txn(p1, "ab", 5, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if err := txn(p1, "c2", 3, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// A zombie: p1 opens a transaction, p2 takes its ID over and
	// commits; p1's commit is refused.
	if err := p1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p1.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p2 := producer("tx-1")
	if err := txn(p2, "p2", 2, kgo.TryCommit); err != nil {
		t.Fatalf("the new producer: %v", err)
	}
	err = p1.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced producer's commit: %v", err)
	}

	var want []string
	for _, p := range []struct {
		prefix string
		n      int
	}{{"c1", 10}, {"c2", 3}, {"p2", 2}} {
		for i := range p.n {
			want = append(want, fmt.Sprintf("%s-%02d", p.prefix, i))
		}
	}
	slices.Sort(want)
	if got := readAll(t, ctx, n.Addr(), "out", kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("read_committed:\n got %v\nwant %v", got, want)
	}
	all := readAll(t, ctx, n.Addr(), "out", kgo.ReadUncommitted(), len(want)+6)
	if len(all) != len(want)+6 || !slices.Contains(all, "zombie") || !slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, "ab-") }) {
		t.Fatalf("read_uncommitted: %v", all)
	}

	described, err := admin.DescribeTransactions(ctx, "tx-1")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := described["tx-1"]
	if !ok || d.Err != nil || d.State != "CompleteCommit" || d.ProducerEpoch < 1 {
		t.Fatalf("describe: %+v", described)
	}
	listed, err := admin.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := listed.Sorted(); len(s) != 1 || s[0].TxnID != "tx-1" {
		t.Fatalf("list: %+v", s)
	}
}

// TestTransactions_GroupTransactSession: franz-go's
// consume-transform-produce session copies a topic with its offsets
// committed in each transaction (AddOffsetsToTxn, TxnOffsetCommit); the
// copy read with read_committed holds every input record once, and the
// group's committed offsets are at the input's end. A second session
// taking over the transactional ID and group resumes where the first
// committed and copies nothing twice.
func TestTransactions_GroupTransactSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := startStandalone(t, ctx)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	admin := kadm.NewClient(cl)
	for _, topic := range []string{"in", "out"} {
		if resp, err := admin.CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, resp.Err)
		}
	}
	produceInput := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, kgo.StringRecord(fmt.Sprintf("r%05d", i)))
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	copyUntil := func(total int) {
		t.Helper()
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("copier"),
			kgo.ConsumerGroup("copiers"), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		for {
			lag, err := admin.Lag(ctx, "copiers")
			if err != nil {
				t.Fatal(err)
			}
			if l := lag["copiers"]; l.FetchErr == nil && l.DescribeErr == nil && l.Lag.Total() == 0 && committedTotal(l) == int64(total) {
				return
			}
			// A short poll: the last transaction's offsets count once
			// its markers are written, after End returned.
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := sess.PollRecords(pctx, 100)
			pcancel()
			if ctx.Err() != nil {
				t.Fatalf("the copy did not finish: %v", ctx.Err())
			}
			if fs.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, kgo.StringRecord("copy-"+string(r.Value)), func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			})
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				t.Fatalf("end: %v", err)
			}
		}
	}
	produceInput(0, 500)
	copyUntil(500)
	produceInput(500, 800)
	copyUntil(800)

	var want []string
	for i := range 800 {
		want = append(want, fmt.Sprintf("copy-r%05d", i))
	}
	if got := readAll(t, ctx, n.Addr(), "out", kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("the copy holds %d records, want %d once each (first differences: %v)", len(got), len(want), firstDiff(got, want))
	}
}

// committedTotal sums a group's committed offsets.
func committedTotal(l kadm.DescribedGroupLag) int64 {
	var n int64
	for _, ps := range l.Lag {
		for _, p := range ps {
			n += max(p.Commit.At, 0)
		}
	}
	return n
}

func firstDiff(got, want []string) []string {
	var out []string
	for i := 0; i < max(len(got), len(want)) && len(out) < 5; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			out = append(out, fmt.Sprintf("%d: %q vs %q", i, g, w))
		}
	}
	return out
}

// TestTransactions_TimeoutAbortsAndLastStableOffsetMovesOn: a producer
// that stops mid-transaction is aborted by its coordinator after its
// transaction.timeout.ms: the last stable offset moves past its records,
// read_committed consumers never see them, and the producer, fenced, can
// no longer commit.
func TestTransactions_TimeoutAbortsAndLastStableOffsetMovesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startStandalone(t, ctx, "transaction.abort.timed.out.transaction.cleanup.interval.ms", "100")
	adm, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	if resp, err := admin.CreateTopic(ctx, 1, 1, nil, "t"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("slow"), kgo.DefaultProduceTopic("t"),
		kgo.TransactionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("stuck")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Plain records after it: readable only once the transaction ended.
	plain, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stable := func() (int64, int64) {
		t.Helper()
		committed, err := admin.ListCommittedOffsets(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		end, err := admin.ListEndOffsets(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		c, _ := committed.Lookup("t", 0)
		e, _ := end.Lookup("t", 0)
		return c.Offset, e.Offset
	}
	if lso, hw := stable(); lso != 0 || hw != 2 {
		t.Fatalf("while the transaction is open: last stable offset %d, high watermark %d", lso, hw)
	}
	for {
		lso, hw := stable()
		if lso == hw && lso > 2 {
			break // the abort marker is in and replicated
		}
		if ctx.Err() != nil {
			t.Fatalf("the timed-out transaction was never aborted: last stable offset %d, high watermark %d", lso, hw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readAll(t, ctx, n.Addr(), "t", kgo.ReadCommitted(), 1); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read_committed: %v", got)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the timed-out producer committed")
	}
	d, err := admin.DescribeTransactions(ctx, "slow")
	if err != nil || d["slow"].State != "CompleteAbort" {
		t.Fatalf("describe: %+v %v", d, err)
	}
}

func txnTestLogger() *slog.Logger {
	if os.Getenv("FJORD_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestTransactions_CompactionKeepsCommittedNewest: a compacted topic with
// committed and aborted transactions (franz-go's transactional producer)
// is cleaned by the node's cleaner: read_committed then finds exactly the
// newest committed value of each key, and the aborted records are gone
// from the log (read_uncommitted no longer sees them).
func TestTransactions_CompactionKeepsCommittedNewest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := startStandalone(t, ctx, "log.cleaner.backoff.ms", "100")
	adm, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	configs := map[string]*string{}
	for k, v := range map[string]string{"cleanup.policy": "compact", "segment.bytes": "1024", "min.cleanable.dirty.ratio": "0.01"} {
		configs[k] = &v
	}
	if resp, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, configs, "kv"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("kv-writer"), kgo.DefaultProduceTopic("kv"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	txn := func(commit bool, kvs ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kvs); i += 2 {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "k1", "c1", "k2", "c1", "k3", "c1")
	txn(false, "k1", "a2", "k2", "a2", "k4", "a2")
	txn(true, "k2", "c3")
	txn(false, "k3", "a4")
	want := map[string]string{"k1": "c1", "k2": "c3", "k3": "c1"}
	// Plain records after them fill segments, so the transactions' are
	// no longer the active one and the cleaner takes them.
	for i := range 60 {
		k, v := fmt.Sprintf("pad-%02d", i), strings.Repeat("x", 80)
		want[k] = v
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	read := func(level kgo.IsolationLevel) []*kgo.Record {
		t.Helper()
		c, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("kv"), kgo.FetchIsolationLevel(level),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out []*kgo.Record
		for idle := 0; idle < 2; {
			pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			fs := c.PollFetches(pctx)
			pcancel()
			got := 0
			fs.EachRecord(func(r *kgo.Record) { out = append(out, r); got++ })
			if got == 0 {
				idle++
			} else {
				idle = 0
			}
		}
		return out
	}
	aborted := func(rs []*kgo.Record) int {
		n := 0
		for _, r := range rs {
			if strings.HasPrefix(string(r.Value), "a") {
				n++
			}
		}
		return n
	}
	// The cleaner runs in the background: wait until it removed the
	// aborted records.
	for aborted(read(kgo.ReadUncommitted())) > 0 {
		if ctx.Err() != nil {
			t.Fatal("the cleaner never removed the aborted records")
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := map[string]string{}
	for _, r := range read(kgo.ReadCommitted()) {
		got[string(r.Key)] = string(r.Value) // later offsets win, as a table built from the topic
	}
	if len(got) != len(want) {
		t.Fatalf("read_committed after compaction: %d keys, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %s: %q after compaction, want %q (the newest committed value)", k, got[k], v)
		}
	}
}
