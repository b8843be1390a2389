package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/fjordtest"
	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/vfs"
)

// The power-loss tests run whole nodes, each on its own vfs.MemFS, under
// idempotent acks=all franz-go producers, cut the power of every node at
// one instant (vfs.CrashCloneAll: every write and folder entry not fsynced
// is lost, or with a random prefix of them kept, as if the page cache had
// been partly written back), drop the old nodes, start new ones on what
// the crash left, and check every record acknowledged before the cut:
// there, at its offset, once, in the order produced. A test's seed is
// logged; FJORD_CRASH_SEED=<seed> replays its choices (cut times, crash
// modes; the goroutines' interleaving is not replayed, so a replay is
// likely, not certain, to fail the same way) and FJORD_CRASH_RUNS=<n>
// sets the number of crashes. Set FJORD_TEST_LOG=1 for the nodes' logs.

// crashSeed returns FJORD_CRASH_SEED, or a fresh seed, and logs it.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("FJORD_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FJORD_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with FJORD_CRASH_SEED=%d)", seed, seed)
	return seed
}

// crashRuns returns FJORD_CRASH_RUNS, or def.
func crashRuns(t *testing.T, def int) int {
	t.Helper()
	if s := os.Getenv("FJORD_CRASH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("FJORD_CRASH_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return def
}

// testLogger returns the nodes' logger: stderr with FJORD_TEST_LOG set,
// else nothing.
func testLogger(nodeID int) *slog.Logger {
	if os.Getenv("FJORD_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node_id", nodeID)
}

// startNode builds a node from props on fsys and starts it.
func startNode(ctx context.Context, props map[string]string, fsys vfs.FS) (*node.Node, error) {
	props["http.listeners"] = "" // many nodes in one process: no fixed metrics port
	b, _, err := config.LoadBroker(props)
	if err != nil {
		return nil, err
	}
	id, _ := strconv.Atoi(props["node.id"])
	n, err := node.New(node.Config{Broker: b, Props: props, Logger: testLogger(id), FS: fsys})
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		_ = n.Close()
		return nil, err
	}
	return n, nil
}

// powerRig is one test's ledger and choices. The cut is taken under mu,
// and acknowledgements are recorded under mu only while !crashed: an
// acknowledgement recorded came back to the client before the cut, so
// the write it acknowledges was made durable before the cut.
type powerRig struct {
	t   *testing.T
	rng *rand.Rand // the test goroutine's choices

	mu      sync.Mutex
	crashed bool              // guarded by mu
	ledger  *fjordtest.Ledger // acknowledged records, guarded by mu while recording
	topics  map[string]int    // acknowledged topic creations: partitions; guarded by mu
}

func newPowerRig(t *testing.T) *powerRig {
	seed := crashSeed(t)
	return &powerRig{t: t, rng: rand.New(rand.NewPCG(seed, 1)), ledger: fjordtest.NewLedger(), topics: map[string]int{}}
}

// promise records an acknowledged record, unless the power was cut.
func (r *powerRig) promise(rec *kgo.Record, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && !r.crashed {
		r.ledger.Ack(fjordtest.FromKgo(rec))
	}
}

// cut runs crash (which takes the clones) with no acknowledgement being
// recorded meanwhile; later ones are ignored until rearm.
func (r *powerRig) cut(crash func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	crash()
	r.crashed = true
}

// rearm starts a new round: acknowledgements count again.
func (r *powerRig) rearm() {
	r.mu.Lock()
	r.crashed = false
	r.mu.Unlock()
}

// crashOptions picks the crash mode: strict half of the time, else a
// random prefix of the unsynced changes survives.
func (r *powerRig) crashOptions() (vfs.CrashOptions, string) {
	if r.rng.IntN(2) == 0 {
		return vfs.CrashOptions{}, "strict"
	}
	return vfs.CrashOptions{Rand: rand.New(rand.NewPCG(r.rng.Uint64(), 2))}, "partial write-back"
}

// createTopic creates a topic and records it once acknowledged.
func (r *powerRig) createTopic(ctx context.Context, addrs []string, name string, partitions, rf int, configs map[string]*string) {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), int16(rf), configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		r.t.Fatalf("create topic %s: %v", name, err)
	}
	r.mu.Lock()
	r.topics[name] = partitions
	r.mu.Unlock()
}

// topicsCopy returns the created topics and their partition counts.
func (r *powerRig) topicsCopy() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.topics)
}

// topicList returns the created topics, sorted.
func (r *powerRig) topicList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name := range r.topics {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// producers are idempotent acks=all franz-go clients writing until stop.
type producers struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	clients []*kgo.Client
}

// perProducer bounds the records a producer writes in a round, so that a
// soak (FJORD_CRASH_RUNS) stays small.
const perProducer = 2000

// startProducers starts n producers writing to every partition of topics
// in random order, perProducer records each. Each record's value names its
// round, producer and a per-producer sequence number ("r2-p1-000042"), so
// the checks can tell duplicates and reordering.
func (r *powerRig) startProducers(addrs []string, round, n int, topics map[string]int, seed uint64) *producers {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := &producers{cancel: cancel}
	names := slices.Sorted(maps.Keys(topics))
	for i := range n {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Duration(i)*time.Millisecond),
			kgo.MaxBufferedRecords(64), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
		if err != nil {
			r.t.Fatal(err)
		}
		ps.clients = append(ps.clients, cl)
		ps.wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(round*100+i)))
			for seq := 0; seq < perProducer && ctx.Err() == nil; seq++ {
				topic := names[rng.IntN(len(names))]
				rec := &kgo.Record{Topic: topic, Partition: int32(rng.IntN(topics[topic])),
					Key: []byte(fmt.Sprintf("p%d", i)), Value: []byte(fmt.Sprintf("r%d-p%d-%06d", round, i, seq))}
				cl.Produce(ctx, rec, r.promise)
			}
		})
	}
	return ps
}

// stop cancels the producers' loops and closes the clients, failing what
// they still buffer.
func (ps *producers) stop() {
	ps.cancel()
	for _, cl := range ps.clients {
		cl.Close()
	}
	ps.wg.Wait()
}

// waitAcks waits until a random number of records (at least 20, at most
// most of what the producers write) more than from are acknowledged, so
// that the cut falls among writes in flight.
func (r *powerRig) waitAcks(from, producers int, timeout time.Duration) {
	r.t.Helper()
	want := 20 + r.rng.IntN(producers*perProducer*3/4)
	deadline := time.Now().Add(timeout)
	for r.ledger.Len() < from+want {
		if time.Now().After(deadline) {
			r.t.Fatalf("only %d of %d records acknowledged within %v", r.ledger.Len()-from, want, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// readBackTimeout bounds how long a restarted node may take to show what
// was acknowledged (and then to serve it).
const readBackTimeout = 15 * time.Second

// ackedEnds returns, per topic and partition, the end of what was
// acknowledged in it.
func (r *powerRig) ackedEnds() map[string]map[int32]int64 {
	need := map[string]map[int32]int64{}
	for _, a := range r.ledger.Acked() {
		if need[a.Topic] == nil {
			need[a.Topic] = map[int32]int64{}
		}
		need[a.Topic][a.Partition] = max(need[a.Topic][a.Partition], a.Offset+1)
	}
	return need
}

// markEnds writes one record (not in the ledger) with acks=all to every
// partition of every created topic and returns, per partition, the end
// it was acknowledged at: everything in the leader's log below it is
// then committed and visible, so what a read up to it lacks is lost, not
// merely waiting for the high watermark.
func (r *powerRig) markEnds(ctx context.Context, addrs []string) map[string]map[int32]int64 {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(readBackTimeout))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	ends := map[string]map[int32]int64{}
	r.mu.Lock()
	topics := maps.Clone(r.topics)
	r.mu.Unlock()
	for topic, n := range topics {
		ends[topic] = map[int32]int64{}
		for p := range int32(n) {
			rec, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("marker")}).First()
			if err != nil {
				r.t.Fatalf("after the restart: marker to %s/%d: %v", topic, p, err)
			}
			ends[topic][p] = rec.Offset + 1
		}
	}
	return ends
}

// readBack waits until every partition's high watermark covers need (see
// ackedEnds, markEnds), reads every created topic from its start to that
// end and returns the records. Every acknowledged topic must exist with
// its partitions.
func (r *powerRig) readBack(ctx context.Context, addrs []string, need map[string]map[int32]int64) []fjordtest.Record {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := r.topicList()
	var ends kadm.ListedOffsets
	var why string
	deadline := time.Now().Add(readBackTimeout)
	for {
		ends, why = r.endsCover(ctx, adm, topics, need)
		if why == "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.t.Fatalf("after the restart, for %v: %s", readBackTimeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(readBackTimeout))
	defer cancel()
	offsets := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if offsets[o.Topic] == nil {
			offsets[o.Topic], remaining[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		offsets[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			remaining[o.Topic][o.Partition] = o.Offset
		}
	})
	cl.AddConsumePartitions(offsets)
	left := func() int {
		n := 0
		for _, m := range remaining {
			n += len(m)
		}
		return n
	}
	var got []fjordtest.Record
	for left() > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.t.Fatalf("read back: %v; still to read up to %v", ctx.Err(), remaining)
		}
		fs.EachError(func(topic string, p int32, err error) { r.t.Logf("fetch %s/%d: %v (retrying)", topic, p, err) })
		fs.EachRecord(func(rec *kgo.Record) {
			end, ok := remaining[rec.Topic][rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			got = append(got, fjordtest.FromKgo(rec))
			if rec.Offset+1 >= end {
				delete(remaining[rec.Topic], rec.Partition)
			}
		})
	}
	return got
}

// endsCover lists the topics' end offsets (high watermarks) and says why
// they do not yet cover need ("" when they do).
func (r *powerRig) endsCover(ctx context.Context, adm *kadm.Client, topics []string, need map[string]map[int32]int64) (kadm.ListedOffsets, string) {
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	md, err := adm.ListTopics(c, topics...)
	if err != nil {
		return nil, fmt.Sprintf("list topics: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range topics {
		td, ok := md[name]
		if !ok || td.Err != nil {
			return nil, fmt.Sprintf("topic %s, created before the cut: %v", name, errOr(td.Err, "missing"))
		}
		if len(td.Partitions) != r.topics[name] {
			return nil, fmt.Sprintf("topic %s has %d partitions, created with %d", name, len(td.Partitions), r.topics[name])
		}
	}
	ends, err := adm.ListEndOffsets(c, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Sprintf("list end offsets: %v", err)
	}
	var short []string
	for topic, parts := range need {
		for p, want := range parts {
			if o, ok := ends.Lookup(topic, p); !ok || o.Offset < want {
				short = append(short, fmt.Sprintf("%s/%d ends at %d, acknowledged up to %d", topic, p, o.Offset, want))
			}
		}
	}
	if len(short) > 0 {
		slices.Sort(short)
		return nil, "acknowledged records missing or not visible: " + strings.Join(short, "; ")
	}
	return ends, ""
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// check fails the test unless got (every created topic read from its
// start) holds every acknowledged record at its offset (fjordtest.Ledger),
// each record produced at most once, and each producer's records in each
// partition in the order it produced them.
func (r *powerRig) check(got []fjordtest.Record, when string) {
	r.t.Helper()
	var problems []string
	problems = append(problems, r.ledger.Check(got)...)
	type stream struct {
		topic     string
		partition int32
		producer  string
	}
	seen := map[string]int64{}
	last := map[stream]string{}
	for _, rec := range got {
		v := string(rec.Value)
		if off, dup := seen[v]; dup {
			problems = append(problems, fmt.Sprintf("%s/%d: record %s at offsets %d and %d (written twice)", rec.Topic, rec.Partition, v, off, rec.Offset))
			continue
		}
		seen[v] = rec.Offset
		i := strings.LastIndexByte(v, '-')
		if i < 0 {
			problems = append(problems, fmt.Sprintf("%s/%d offset %d: record %q not ours", rec.Topic, rec.Partition, rec.Offset, v))
			continue
		}
		s := stream{rec.Topic, rec.Partition, v[:i]}
		if prev, ok := last[s]; ok && prev >= v {
			problems = append(problems, fmt.Sprintf("%s/%d offset %d: %s after %s (out of order)", rec.Topic, rec.Partition, rec.Offset, v, prev))
		}
		last[s] = v
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... %d more", len(problems)-20))
		}
		r.t.Fatalf("%s: %d acknowledged, %d read back:\n  %s", when, r.ledger.Len(), len(got), strings.Join(problems, "\n  "))
	}
}

// abortAll drops the nodes without a controlled shutdown, at once. They
// run on the file systems the crash left behind, so what they write while
// stopping is lost with them.
func abortAll(nodes []*node.Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n != nil {
			wg.Go(func() { _ = n.Abort() })
		}
	}
	wg.Wait()
}

// startAll starts a node per props on its file system, together (the
// voters of a cluster must find each other).
func startAll(ctx context.Context, props []map[string]string, fss []*vfs.MemFS) ([]*node.Node, error) {
	nodes := make([]*node.Node, len(props))
	errs := make([]error, len(props))
	var wg sync.WaitGroup
	for i := range props {
		wg.Go(func() { nodes[i], errs[i] = startNode(ctx, props[i], fss[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		abortAll(nodes)
		return nil, err
	}
	return nodes, nil
}
