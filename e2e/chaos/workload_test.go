package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Shape of the replicated workload every nemesis test runs.
const (
	replTopic      = "nemesis"
	replPartitions = 6
	replFactor     = 3
	replMinISR     = "2"
	replGroup      = "nemesis-readers"
	// replProducers idempotent acks=all clients each write every
	// partition, one record per replInterval per partition, at most
	// replInFlight records outstanding per partition: a partition whose
	// leader is gone stalls alone, so progress is measured per partition.
	replProducers = 2
	replInterval  = 5 * time.Millisecond
	replInFlight  = 400
	// progressTimeout bounds the wait, after a fault heals, for every
	// partition to take a new acknowledged write. Exceeding it is a
	// liveness failure (a hang or a failover far slower than the ~2 s
	// session timeout and election), reported as such.
	progressTimeout = 20 * time.Second
	// isrTimeout bounds the wait for every replica to be back in sync.
	isrTimeout = 30 * time.Second
	// watchInterval is how often each broker is asked for its view of
	// the partitions' leaders and epochs.
	watchInterval = 100 * time.Millisecond
)

// clusterOverrides are the settings of the nemesis clusters beyond
// Fjord's defaults (kept: broker.session.timeout.ms 1500, heartbeats
// every 250 ms, fsync before acknowledging). Fewer __consumer_offsets
// partitions keep startup and failovers light on two cores; no initial
// rebalance delay lets the group start at once.
var clusterOverrides = []string{
	"offsets.topic.num.partitions=3",
	"group.initial.rebalance.delay.ms=0",
}

// workload is a replicated topic under load: idempotent producers feeding
// a ledger of acknowledged records, a group consumer whose polls are
// checked for monotonic positions, and a watcher of every broker's leader
// epochs. verify runs every end-of-test check.
type workload struct {
	t      *testing.T
	c      *fjordtest.Cluster
	ledger *fjordtest.Ledger
	polls  *fjordtest.PollLog
	epochs *fjordtest.LeaderEpochs
	watch  *fjordtest.EpochWatcher
	admin  *kgo.Client // seeded with every node
	nodes  map[int32]*kgo.Client

	cancel    context.CancelFunc
	producers []*kgo.Client
	consumer  *kgo.Client
	wg        sync.WaitGroup // producer and consumer goroutines

	lastAck  [replPartitions]atomic.Int64 // unix nanos of each partition's last acknowledgement
	maxGap   [replPartitions]atomic.Int64 // longest time, in ns, each partition went without one
	sent     atomic.Int64
	mu       sync.Mutex
	errs     map[string]int // guarded by mu: failed produces and fetch errors by text
	stopOnce sync.Once

	clientLog clientLog // the producers' kgo logs, for forensics
}

// startWorkload creates the topic on c and starts producing and consuming.
func startWorkload(t *testing.T, c *fjordtest.Cluster) *workload {
	t.Helper()
	w := &workload{
		t: t, c: c,
		ledger: fjordtest.NewLedger(), polls: fjordtest.NewPollLog(), epochs: fjordtest.NewLeaderEpochs(),
		nodes: map[int32]*kgo.Client{}, errs: map[string]int{},
	}
	var err error
	if w.admin, err = kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.MetadataMinAge(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.admin.Close)
	for _, n := range c.Nodes() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		w.nodes[n.ID] = cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	min := replMinISR
	resp, err := kadm.NewClient(w.admin).CreateTopic(ctx, replPartitions, replFactor, map[string]*string{"min.insync.replicas": &min}, replTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", replTopic, err)
	}
	w.waitInSync(t, "after create")
	w.watch = fjordtest.WatchLeaderEpochs(t, w.epochs, c.Bootstrap(), []string{replTopic}, watchInterval)

	runCtx, runCancel := context.WithCancel(context.Background())
	w.cancel = runCancel
	t.Cleanup(w.stop)
	now := time.Now().UnixNano()
	for p := range w.lastAck {
		w.lastAck[p].Store(now)
	}
	for id := range replProducers {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(c.Bootstrap()...),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(2*time.Millisecond),
			kgo.MetadataMinAge(200*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			// A request to a paused or cut-off broker fails after these
			// rather than kgo's 10 s + 10 s, so its records move on to the
			// new leader soon after the fault.
			kgo.ProduceRequestTimeout(3*time.Second),
			kgo.RequestTimeoutOverhead(2*time.Second),
			kgo.DialTimeout(2*time.Second),
			kgo.WithLogger(w.clientLog.logger(fmt.Sprintf("w%d", id))),
		)
		if err != nil {
			t.Fatal(err)
		}
		w.producers = append(w.producers, cl)
		for p := range int32(replPartitions) {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				w.produce(runCtx, cl, id, p)
			}()
		}
	}
	if w.consumer, err = kgo.NewClient(
		kgo.SeedBrokers(c.Bootstrap()...),
		kgo.ConsumerGroup(replGroup),
		kgo.ConsumeTopics(replTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitInterval(500*time.Millisecond),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(200*time.Millisecond),
		kgo.RequestTimeoutOverhead(2*time.Second),
		kgo.DialTimeout(2*time.Second),
	); err != nil {
		t.Fatal(err)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.consume(runCtx)
	}()
	return w
}

// produce writes partition p for producer id until ctx ends, each value
// carrying the producer, the partition and its sequence number.
func (w *workload) produce(ctx context.Context, cl *kgo.Client, id int, p int32) {
	inFlight := make(chan struct{}, replInFlight)
	tick := time.NewTicker(replInterval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case inFlight <- struct{}{}:
		}
		r := &kgo.Record{
			Topic:     replTopic,
			Partition: p,
			Key:       fmt.Appendf(nil, "w%d-%d", id, seq),
			Value:     fmt.Appendf(nil, "w%d-p%d-seq%09d-%s", id, p, seq, strings.Repeat("v", seq%64)),
		}
		w.sent.Add(1)
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			<-inFlight
			if err != nil {
				w.noteErr("produce: " + err.Error())
				return
			}
			w.ledger.Ack(fjordtest.FromKgo(r))
			w.acked(r.Partition, time.Now().UnixNano())
		})
	}
}

// consume polls the group until ctx ends, recording every poll.
func (w *workload) consume(ctx context.Context) {
	for ctx.Err() == nil {
		fs := w.consumer.PollRecords(ctx, 1000)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				w.noteErr(fmt.Sprintf("fetch %s/%d: %v", topic, p, err))
			}
		})
		member, gen := w.consumer.GroupMetadata()
		w.polls.Record(member, gen, fs.Records())
		w.consumer.AllowRebalance()
	}
}

// acked notes an acknowledgement on partition p at now (unix nanos).
func (w *workload) acked(p int32, now int64) {
	gap := now - w.lastAck[p].Swap(now)
	for {
		cur := w.maxGap[p].Load()
		if gap <= cur || w.maxGap[p].CompareAndSwap(cur, gap) {
			return
		}
	}
}

// worstGap returns the partition that went longest without an
// acknowledged write, and for how long.
func (w *workload) worstGap() (int32, time.Duration) {
	var worst int32
	for p := range w.maxGap {
		if w.maxGap[p].Load() > w.maxGap[worst].Load() {
			worst = int32(p)
		}
	}
	return worst, time.Duration(w.maxGap[worst].Load())
}

func (w *workload) noteErr(s string) {
	w.mu.Lock()
	w.errs[s]++
	w.mu.Unlock()
}

// stop ends producing (waiting up to opTimeout for outstanding records to
// be acknowledged or fail) and consuming. Safe to call twice.
func (w *workload) stop() {
	w.stopOnce.Do(func() {
		w.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		for _, cl := range w.producers {
			if err := cl.Flush(ctx); err != nil {
				w.t.Logf("flush: %v (unflushed records are not in the ledger)", err)
			}
		}
		w.wg.Wait()
		for _, cl := range w.producers {
			cl.Close()
		}
		if w.consumer != nil {
			w.consumer.Close()
		}
		w.watch.Stop()
	})
}

// waitProgress waits until every partition has taken an acknowledged
// write since `since`, returning how long after `since` the last one did,
// or the partitions still stuck after progressTimeout.
func (w *workload) waitProgress(since time.Time) (time.Duration, []int32) {
	deadline := time.Now().Add(progressTimeout)
	for {
		var stuck []int32
		var last int64
		for p := range w.lastAck {
			at := w.lastAck[p].Load()
			if at <= since.UnixNano() {
				stuck = append(stuck, int32(p))
			}
			last = max(last, at)
		}
		if len(stuck) == 0 {
			return time.Duration(last - since.UnixNano()), nil
		}
		if time.Now().After(deadline) {
			return progressTimeout, stuck
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not an assertion
	}
}

// partitionView is what one broker says about a partition.
type partitionView struct {
	leader, epoch int32
	isr           []int32
}

// viewFrom asks node id itself (not through another broker) for the
// topic's partitions.
func (w *workload) viewFrom(ctx context.Context, id int32) (map[int32]partitionView, int32, error) {
	seeds := w.nodes[id].SeedBrokers()
	if len(seeds) == 0 {
		return nil, -1, fmt.Errorf("node %d: no seed broker", id)
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(replTopic)
	req.Topics = append(req.Topics, rt)
	rc, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := seeds[0].Request(rc, req)
	if err != nil {
		return nil, -1, fmt.Errorf("node %d: %w", id, err)
	}
	md := resp.(*kmsg.MetadataResponse)
	out := map[int32]partitionView{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = partitionView{leader: p.Leader, epoch: p.LeaderEpoch, isr: slices.Sorted(slices.Values(p.ISR))}
		}
	}
	return out, md.ControllerID, nil
}

// inSync reports whether every node agrees that every partition has a
// leader and all replicas in sync, and returns that agreed view.
func (w *workload) inSync(ctx context.Context) (map[int32]partitionView, bool) {
	var agreed map[int32]partitionView
	for _, n := range w.c.Nodes() {
		v, _, err := w.viewFrom(ctx, n.ID)
		if err != nil || len(v) != replPartitions {
			return nil, false
		}
		for _, pv := range v {
			if pv.leader < 0 || len(pv.isr) != replFactor {
				return nil, false
			}
		}
		if agreed == nil {
			agreed = v
			continue
		}
		for p, pv := range v {
			a := agreed[p]
			if a.leader != pv.leader || a.epoch != pv.epoch {
				return nil, false
			}
		}
	}
	return agreed, true
}

// waitInSync waits until every node reports every replica of every
// partition in sync, failing the test after isrTimeout.
func (w *workload) waitInSync(t *testing.T, when string) map[int32]partitionView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), isrTimeout)
	defer cancel()
	for {
		if v, ok := w.inSync(ctx); ok {
			return v
		}
		if ctx.Err() != nil {
			all := make([]int32, replPartitions)
			for p := range all {
				all[p] = int32(p)
			}
			w.skipOnKnownLivelock(t, when, all)
			t.Fatalf("%s: replicas not all in sync after %v:\n  %s", when, isrTimeout, w.views())
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
}

// views renders every node's view of the partitions (leader, leader
// epoch, ISR) and of the active controller, one line per node.
func (w *workload) views() string {
	var views []string
	for _, n := range w.c.Nodes() {
		v, ctrl, err := w.viewFrom(context.Background(), n.ID)
		views = append(views, fmt.Sprintf("node %d (controller %d): %v %v", n.ID, ctrl, v, err))
	}
	return strings.Join(views, "\n  ")
}

// leaderOf returns the leader of partition p as the cluster reports it
// (any broker), or -1.
func (w *workload) leaderOf(p int32) int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := kadm.NewClient(w.admin).Metadata(ctx, replTopic)
	if err != nil {
		return -1
	}
	if pd, ok := md.Topics[replTopic].Partitions[p]; ok {
		return pd.Leader
	}
	return -1
}

// controllerMarkers are messages only the active controller logs.
var controllerMarkers = []string{
	`msg="registered broker"`, `msg="unfenced broker"`, `msg="fenced broker`, `msg="created topic"`,
}

// activeController returns the active controller and how it was found:
// the ControllerID of Metadata, when a majority of the nodes name the same
// one; else (a broker that names itself, as Fjord's did before it
// answered with the active controller) the node whose log has the latest
// line only the active controller writes ("registered broker", "unfenced
// broker", ...), which every kill-and-restart round produces. -1 if
// neither tells.
func (w *workload) activeController() (int32, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	votes := map[int32]int{}
	for _, n := range w.c.Nodes() {
		if _, ctrl, err := w.viewFrom(ctx, n.ID); err == nil && ctrl >= 0 {
			votes[ctrl]++
		}
	}
	for id, n := range votes {
		if 2*n > len(w.c.Nodes()) {
			return id, "metadata"
		}
	}
	best, bestAt := int32(-1), ""
	for _, n := range w.c.Nodes() {
		if !n.Proc.Running() {
			continue
		}
		if at := lastControllerLine(n.Proc.Output()); at > bestAt {
			best, bestAt = n.ID, at
		}
	}
	return best, "logs"
}

// lastControllerLine returns the time= field (RFC 3339 in UTC, which
// sorts as text) of the last line of out carrying a controllerMarker, or
// "".
func lastControllerLine(out string) string {
	for len(out) > 0 {
		i := strings.LastIndexByte(out[:len(out)-1], '\n')
		line := out[i+1:]
		out = out[:i+1]
		if i < 0 {
			out = ""
		}
		for _, m := range controllerMarkers {
			if strings.Contains(line, m) {
				at, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
				return at
			}
		}
	}
	return ""
}

// verify heals nothing itself: with every node up and connected, it waits
// for the replicas to be back in sync, stops the workload and runs every
// check.
func (w *workload) verify(t *testing.T) {
	t.Helper()
	view := w.waitInSync(t, "at the end")
	w.stop()
	// Everything acknowledged is in, so the high watermarks now cover it.
	got := readTopic(t, w.c.Bootstrap(), replTopic)
	t.Logf("%d records sent, %d acknowledged, %d read back; consumer polled %d in %d generation(s)",
		w.sent.Load(), w.ledger.Len(), len(got), w.polls.Polled(), w.polls.Generations())
	// The replica logs first: where a replica kept a tail it should have
	// truncated (a known bug) tells which record problems it explains.
	replicaProblems, tails := w.checkReplicas(t, view)
	ledgerProblems := append(w.ledger.Check(got), fjordtest.CheckDuplicates(got)...)
	checkTriaged(t, "ledger", ledgerProblems, tails)
	w.forensics(t, ledgerProblems)
	report(t, "production order", triageSequences(t, ledgerProblems, checkSequences(t, w.ledger.Acked()), tails))
	checkTriaged(t, "nonmonotonic polls", w.polls.Check(), tails)
	epochs, obs := w.epochs.Epochs()
	t.Logf("leader epochs: %d (partition, epoch) pairs in %d observations", epochs, obs)
	checkTriaged(t, "two leaders in one epoch", w.epochs.Check(), tails)
	checkTriaged(t, "replica logs", replicaProblems, tails)
	w.checkCommitted(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		keys := slices.Sorted(maps.Keys(w.errs))
		var lines []string
		for _, k := range keys {
			lines = append(lines, fmt.Sprintf("%d× %s", w.errs[k], k))
		}
		t.Logf("client errors (retried or expected around faults):\n  %s", strings.Join(lines, "\n  "))
	}
}

// checkReplicas compares every replica's segment files, read straight from
// the nodes' data folders, returning the problems and the tails replicas
// kept.
func (w *workload) checkReplicas(t *testing.T, view map[int32]partitionView) ([]string, keptTails) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ends, err := kadm.NewClient(w.admin).ListEndOffsets(ctx, replTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("high watermarks: %v", err)
	}
	var problems []string
	tails := keptTails{}
	total := 0
	for p := range int32(replPartitions) {
		end, _ := ends.Lookup(replTopic, p)
		rs := fjordtest.ReplicaSet{
			Partition:     fmt.Sprintf("%s/%d", replTopic, p),
			Logs:          map[int32][]fjordtest.Batch{},
			ISR:           view[p].isr,
			HighWatermark: end.Offset,
		}
		for _, n := range w.c.Nodes() {
			bs, err := fjordtest.ReadPartitionDir(fmt.Sprintf("%s/%s-%d", n.Proc.DataDir(), replTopic, p))
			if err != nil {
				t.Fatalf("node %d: %v", n.ID, err)
			}
			rs.Logs[n.ID] = bs
			total += len(bs)
		}
		problems = append(problems, fjordtest.CheckReplicas(rs)...)
		if kt := fjordtest.KeptTails(rs); len(kt) > 0 {
			tails[rs.Partition] = kt
		}
	}
	t.Logf("replica logs: %d batches compared across %d nodes", total, len(w.c.Nodes()))
	return problems, tails
}

// checkCommitted checks that no committed offset of the group points past
// its partition's high watermark.
func (w *workload) checkCommitted(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	adm := kadm.NewClient(w.admin)
	var committed kadm.OffsetResponses
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// The coordinator may be moving after the last fault; retry.
		if committed, err = adm.FetchOffsets(ctx, replGroup); err == nil {
			err = committed.Error()
		}
		if err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	ends, err2 := adm.ListEndOffsets(ctx, replTopic)
	if err != nil || err2 != nil {
		t.Errorf("committed offsets: %v %v", err, err2)
		return
	}
	var problems []string
	committed.Each(func(o kadm.OffsetResponse) {
		end, ok := ends.Lookup(o.Topic, o.Partition)
		if ok && o.At > end.Offset {
			problems = append(problems, fmt.Sprintf("%s/%d: committed %d past the high watermark %d", o.Topic, o.Partition, o.At, end.Offset))
		}
	})
	report(t, "committed offsets", problems)
}

// report fails t with the first problems of one checker.
func report(t *testing.T, what string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	shown := problems[:min(len(problems), 20)]
	t.Errorf("%s: %d problem(s), first %d:\n  %s", what, len(problems), len(shown), strings.Join(shown, "\n  "))
}

// checkSequences returns, as text, every acknowledged record whose
// producer sent it before a record acknowledged at a lower offset of the
// same partition: each producer's records must be in the log in the order
// it sent them.
func checkSequences(t *testing.T, acked []fjordtest.Record) []string {
	t.Helper()
	type stream struct {
		producer  string
		partition int32
	}
	byStream := map[stream][]fjordtest.Record{}
	for _, r := range acked {
		producer, _, _ := strings.Cut(string(r.Value), "-")
		k := stream{producer, r.Partition}
		byStream[k] = append(byStream[k], r)
	}
	var problems []string
	for k, rs := range byStream {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
		prev, prevOffset := -1, int64(-1)
		for _, r := range rs {
			if s := seqOf(t, r.Value); s <= prev {
				problems = append(problems, fmt.Sprintf("%s/%d offset %d: %s's sequence %d acknowledged after its sequence %d at offset %d",
					replTopic, k.partition, r.Offset, k.producer, s, prev, prevOffset))
			} else {
				prev, prevOffset = s, r.Offset
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// readTopic reads every partition of topic from its start to its high
// watermark.
func readTopic(t *testing.T, seeds []string, topic string) []fjordtest.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	offsets := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		offsets[o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	var got []fjordtest.Record
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back: %v; still to read up to %v", ctx.Err(), remaining)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, fjordtest.FromKgo(r))
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return got
}
