package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// The transactional workload under faults (issue 12): franz-go's
// consume-transform-produce session (GroupTransactSession) copies a topic
// of numbered records into another, committing its input offsets in each
// transaction, while nodes of a 3-node cluster are SIGKILLed and
// restarted, SIGSTOPped, or cut off by a network partition. At the end the copy, read with read_committed, must hold
// every input record exactly once (Jepsen's checks for this workload: no
// lost commit, no duplicate, no aborted read; a torn transaction shows as
// a missing record), and read_uncommitted must show at least as many.

const (
	txnInTopic     = "txn-in"
	txnOutTopic    = "txn-out"
	txnPartitions  = 3
	txnInputCount  = 100_000 // the SIGKILL test's (the number); the others copy fewer
	txnInputSmall  = 30_000
	txnKillRounds  = 6  // kills at least
	txnMaxKills    = 40 // and at most, while the copy runs
	txnBatch       = 200
	txnCopyTimeout = 4 * time.Minute
)

// txnClusterOverrides add a light transaction coordinator to the nemesis
// clusters' settings.
var txnClusterOverrides = append(append([]string(nil), clusterOverrides...),
	"transaction.state.log.num.partitions=3",
	"transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
)

// txnFault injects one fault into node id of c and heals it; it returns
// what it did, for the log.
type txnFault func(t *testing.T, c *fjordtest.Cluster, id int32, rng *rand.Rand) string

// TestChaos_TransactionalCopyThroughKills SIGKILLs a random node and
// restarts it after 0.3-2.5 s.
func TestChaos_TransactionalCopyThroughKills(t *testing.T) {
	runTxnChaos(t, false, txnInputCount, func(t *testing.T, c *fjordtest.Cluster, id int32, rng *rand.Rand) string {
		down := time.Duration(300+rng.IntN(2200)) * time.Millisecond
		node := c.Node(id)
		node.Proc.Kill()
		time.Sleep(down)
		node.Proc.Restart(t)
		return fmt.Sprintf("SIGKILL node %d, restarted after %v", id, down)
	})
}

// TestChaos_TransactionalCopyThroughPauses SIGSTOPs a random node for
// 0.3-2.5 s (within and beyond the session timeout), then SIGCONTs it.
func TestChaos_TransactionalCopyThroughPauses(t *testing.T) {
	runTxnChaos(t, false, txnInputSmall, func(t *testing.T, c *fjordtest.Cluster, id int32, rng *rand.Rand) string {
		hold := time.Duration(300+rng.IntN(2200)) * time.Millisecond
		node := c.Node(id)
		node.Proc.Pause()
		time.Sleep(hold)
		node.Proc.Resume()
		return fmt.Sprintf("SIGSTOP node %d for %v", id, hold)
	})
}

// TestChaos_TransactionalCopyThroughPartitions cuts a random node off
// from the others (and, every other time, from the clients) through the
// fault proxies for 1-3 s, then heals.
func TestChaos_TransactionalCopyThroughPartitions(t *testing.T) {
	runTxnChaos(t, true, txnInputSmall, func(t *testing.T, c *fjordtest.Cluster, id int32, rng *rand.Rand) string {
		hold := time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		clients := rng.IntN(2) == 0
		c.Isolate(id, clients)
		time.Sleep(hold)
		c.Heal()
		return fmt.Sprintf("isolated node %d (clients cut too: %v) for %v", id, clients, hold)
	})
}

// runTxnChaos runs the copy on a 3-node cluster with fault injected every
// second or so while it runs, then checks the copy.
func runTxnChaos(t *testing.T, proxied bool, records int, fault txnFault) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("needs a replicated cluster; kfake is a single process")
	}
	t.Parallel()
	start := time.Now()
	c := fjordtest.StartCluster(t, fjordtest.BuildBinary(t), fjordtest.ClusterConfig{Proxied: proxied, Overrides: txnClusterOverrides})
	ctx, cancel := context.WithTimeout(context.Background(), txnCopyTimeout+2*time.Minute)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	min := "2"
	for _, topic := range []string{txnInTopic, txnOutTopic} {
		resp, err := adm.CreateTopic(ctx, txnPartitions, 3, map[string]*string{"min.insync.replicas": &min}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	// The input, written before any fault: numbered records r<n>.
	in, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DefaultProduceTopic(txnInTopic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var produceErr atomic.Value
	var wg sync.WaitGroup
	for i := range records {
		wg.Add(1)
		in.Produce(ctx, kgo.StringRecord("r"+strconv.Itoa(i)), func(_ *kgo.Record, err error) {
			if err != nil {
				produceErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	in.Close()
	if err, _ := produceErr.Load().(error); err != nil {
		t.Fatalf("writing the input: %v", err)
	}
	t.Logf("input of %d records written in %v", records, time.Since(start).Round(time.Millisecond))

	copyCtx, stopCopy := context.WithTimeout(ctx, txnCopyTimeout)
	defer stopCopy()
	cp := &txnCopier{t: t, bootstrap: c.Bootstrap(), total: int64(records)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cp.run(copyCtx, adm)
	}()

	// A fault every second or so while the copy runs (at least
	// txnKillRounds, at most txnMaxKills).
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 7))
	kills := 0
	for copying := true; kills < txnMaxKills && (copying || kills < txnKillRounds); kills++ {
		select {
		case <-done:
			copying = false
		case <-time.After(time.Duration(500+rng.IntN(1000)) * time.Millisecond):
		}
		id := int32(1 + rng.IntN(len(c.Nodes())))
		did := fault(t, c, id, rng)
		t.Logf("fault %d: %s (%d transactions committed, %d aborted so far)", kills, did, cp.commits.Load(), cp.aborts.Load())
	}
	<-done
	if !cp.finished.Load() {
		t.Fatalf("the copy did not finish within %v: %d transactions committed, %d aborted; last error: %v",
			txnCopyTimeout, cp.commits.Load(), cp.aborts.Load(), cp.lastErr())
	}

	committed := readTxnValues(t, ctx, c.Bootstrap(), kgo.ReadCommitted())
	seen := map[string]int{}
	for _, v := range committed {
		seen[v]++
	}
	var missing, dup []string
	for i := range records {
		v := "copy-r" + strconv.Itoa(i)
		switch seen[v] {
		case 1:
		case 0:
			missing = append(missing, v)
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", v, seen[v]))
		}
		delete(seen, v)
	}
	var extra []string
	for v := range seen {
		extra = append(extra, v)
	}
	sort.Strings(extra)
	if len(missing)+len(dup)+len(extra) > 0 {
		txnForensics(t, ctx, adm)
		t.Errorf("read_committed copy: %d records, %d missing (lost commits or torn transactions), %d duplicated (aborted reads or double commits), %d unexpected; first: missing %v, duplicated %v, unexpected %v",
			len(committed), len(missing), len(dup), len(extra), head(missing), head(dup), head(extra))
	}
	all := readTxnValues(t, ctx, c.Bootstrap(), kgo.ReadUncommitted())
	if len(all) < len(committed) {
		t.Errorf("read_uncommitted sees %d records, fewer than read_committed's %d", len(all), len(committed))
	}
	t.Logf("TXN-CHAOS %s: %d records copied exactly once through %d faults in %v: %d transactions committed, %d aborted; read_uncommitted holds %d records (%d from aborted transactions)",
		t.Name(), records, kills, time.Since(start).Round(time.Millisecond), cp.commits.Load(), cp.aborts.Load(), len(all), len(all)-len(committed))
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// txnCopier runs the consume-transform-produce loop.
type txnCopier struct {
	t         *testing.T
	bootstrap []string
	total     int64 // the input's records
	commits   atomic.Int64
	aborts    atomic.Int64
	finished  atomic.Bool
	mu        sync.Mutex
	err       error
}

func (cp *txnCopier) lastErr() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.err
}

func (cp *txnCopier) setErr(err error) {
	cp.mu.Lock()
	cp.err = err
	cp.mu.Unlock()
}

// run copies until the group's committed offsets reach the input's end
// (or ctx ends). Errors are retried: a session that fails is closed and a
// new one started, as an application would.
func (cp *txnCopier) run(ctx context.Context, adm *kadm.Client) {
	for ctx.Err() == nil {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(cp.bootstrap...), kgo.TransactionalID("chaos-copier"),
			kgo.ConsumerGroup("chaos-copiers"), kgo.ConsumeTopics(txnInTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic(txnOutTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.TransactionTimeout(10*time.Second), kgo.RetryTimeout(30*time.Second), kgo.SessionTimeout(6*time.Second))
		if err != nil {
			cp.setErr(err)
			return
		}
		err = cp.loop(ctx, sess, adm)
		sess.Close()
		if err == nil {
			cp.finished.Store(true)
			return
		}
		cp.setErr(err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// loop runs one session until done (nil) or an error it cannot go on from.
func (cp *txnCopier) loop(ctx context.Context, sess *kgo.GroupTransactSession, adm *kadm.Client) error {
	for {
		if cp.caughtUp(ctx, adm) {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second) // then look at the lag again
		fs := sess.PollRecords(pctx, txnBatch)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			return fmt.Errorf("stopped: %w", ctx.Err())
		}
		if fs.NumRecords() == 0 {
			continue
		}
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = err
			}
		})
		if fetchErr != nil {
			cp.setErr(fetchErr) // transient: retried by the next poll
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		e := kgo.AbortingFirstErrPromise(sess.Client())
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, kgo.StringRecord("copy-"+string(r.Value)), e.Promise())
		})
		committed, err := sess.End(ctx, kgo.TransactionEndTry(e.Err() == nil))
		switch {
		case committed:
			cp.commits.Add(1)
		default:
			cp.aborts.Add(1)
		}
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
	}
}

// caughtUp reports whether the group's committed offsets are at the
// input's end on every partition.
func (cp *txnCopier) caughtUp(ctx context.Context, adm *kadm.Client) bool {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lag, err := adm.Lag(lctx, "chaos-copiers")
	if err != nil {
		return false
	}
	l := lag["chaos-copiers"]
	if l.FetchErr != nil || l.DescribeErr != nil {
		return false
	}
	var total int64
	for _, ps := range l.Lag {
		for _, p := range ps {
			if p.Err != nil {
				return false
			}
			total += max(p.Commit.At, 0)
		}
	}
	return total == cp.total
}

// readTxnValues reads the whole copy with the isolation level: up to the
// end of every partition, which it first waits to be stable (each
// partition answers its offsets, and its last stable offset is its high
// watermark). Reading until a few polls bring nothing would stop early
// while a killed node's partitions still move to another leader.
func readTxnValues(t *testing.T, ctx context.Context, bootstrap []string, level kgo.IsolationLevel) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ConsumeTopics(txnOutTopic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var ends map[int32]int64
	for {
		ends = map[int32]int64{}
		stable, err1 := adm.ListCommittedOffsets(ctx, txnOutTopic)
		hw, err2 := adm.ListEndOffsets(ctx, txnOutTopic)
		ok := err1 == nil && err2 == nil && stable.Error() == nil && hw.Error() == nil
		if ok {
			hw.Each(func(o kadm.ListedOffset) {
				ends[o.Partition] = o.Offset
				if l, found := stable.Lookup(o.Topic, o.Partition); !found || l.Offset != o.Offset {
					ok = false
				}
			})
		}
		if ok && len(ends) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never became stable: %v %v", txnOutTopic, err1, err2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pos := map[int32]int64{}
	done := func() bool {
		for p, end := range ends {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	var out []string
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v after %d records (at %v of %v)", txnOutTopic, ctx.Err(), len(out), pos, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = max(pos[r.Partition], r.Offset+1)
			if !r.Attrs.IsControl() {
				out = append(out, string(r.Value))
			}
		})
	}
	return out
}

// txnForensics logs what the cluster says of the copy's partitions: each
// one's last stable offset and high watermark, and the producers with a
// transaction open there.
func txnForensics(t *testing.T, ctx context.Context, adm *kadm.Client) {
	t.Helper()
	stable, err1 := adm.ListCommittedOffsets(ctx, txnOutTopic)
	end, err2 := adm.ListEndOffsets(ctx, txnOutTopic)
	if err1 == nil && err2 == nil {
		end.Each(func(o kadm.ListedOffset) {
			lso, _ := stable.Lookup(o.Topic, o.Partition)
			t.Logf("FORENSICS %s-%d: last stable offset %d, high watermark %d", o.Topic, o.Partition, lso.Offset, o.Offset)
		})
	}
	s := kadm.TopicsSet{}
	s.Add(txnOutTopic, 0, 1, 2)
	described, err := adm.DescribeProducers(ctx, s)
	if err != nil {
		t.Logf("FORENSICS describe producers: %v", err)
		return
	}
	for _, p := range described.SortedPartitions() {
		for _, pr := range p.ActiveProducers.Sorted() {
			t.Logf("FORENSICS %s-%d (leader %d): producer %d epoch %d last sequence %d coordinator epoch %d open transaction from %d",
				p.Topic, p.Partition, p.Leader, pr.ProducerID, pr.ProducerEpoch, pr.LastSequence, pr.CoordinatorEpoch, pr.CurrentTxnStartOffset)
		}
	}
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err == nil {
		for _, l := range listed.Sorted() {
			t.Logf("FORENSICS transaction %s producer %d state %s (coordinator %d)", l.TxnID, l.ProducerID, l.State, l.Coordinator)
		}
	}
}
