package fjord_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/cli"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// createTopicOn creates topic with one partition per replica list and
// min.insync.replicas=2.
func createTopicOn(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, assignment ...[]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, rs := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: "min.insync.replicas", Value: kmsg.StringPtr("2")})
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// loadProducer is an idempotent acks=all producer writing unique values
// round robin over a topic's partitions, every acknowledged record kept
// in a Ledger, acknowledgements counted for throughput.
type loadProducer struct {
	cl     *kgo.Client
	ledger *fjordtest.Ledger
	acked  atomic.Int64
	bytes  atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, addrs []string, topic string, valueSize, inflight int) *loadProducer {
	t.Helper()
	p := &loadProducer{ledger: fjordtest.NewLedger(), stop: make(chan struct{})}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(90*time.Second), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(inflight))
	if err != nil {
		t.Fatal(err)
	}
	p.cl = cl
	pad := bytes.Repeat([]byte("x"), valueSize)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			v := append([]byte(fmt.Sprintf("%09d-", i)), pad...)
			cl.Produce(context.Background(), &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
				if err == nil {
					p.acked.Add(1)
					p.bytes.Add(int64(len(r.Value)))
				}
				p.ledger.Promise(r, err)
			})
		}
	}()
	return p
}

// rate measures acknowledged records per second over d.
func (p *loadProducer) rate(d time.Duration) float64 {
	n0, t0 := p.acked.Load(), time.Now()
	time.Sleep(d)
	return float64(p.acked.Load()-n0) / time.Since(t0).Seconds()
}

// finish stops producing and waits for the records in flight.
func (p *loadProducer) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	p.cl.Close()
}

// readTopic reads every partition of topic from the start to its end
// offset.
func readTopic(t *testing.T, ctx context.Context, addrs []string, adm *kadm.Client, topic string) []fjordtest.Record {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s-%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cons, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []fjordtest.Record
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		for _, r := range fs.Records() {
			next[r.Partition] = r.Offset + 1
		}
		got = append(got, fjordtest.FromKgoAll(fs.Records())...)
	}
	if ctx.Err() != nil {
		t.Fatalf("read %d records; partitions at %v of %v", len(got), next, want)
	}
	return got
}

// runCLI runs `fjord ARGS...` in process.
// adminClient returns a client of addrs and its admin client, closed when
// the test ends.
func adminClient(t *testing.T, addrs []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// onFirstThree spreads six partitions of three replicas evenly over
// brokers 1-3 (broker 4 holds nothing).
var onFirstThree = [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}, {2, 3, 1}, {3, 1, 2}}

func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.ExecuteContext(ctx, cli.NewRoot(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// brokerCounts returns per broker the replicas and leaders of topic, and
// each partition's ISR size.
func brokerCounts(ctx context.Context, adm *kadm.Client, topic string) (replicas, leaders map[int32]int, isr map[int32]int, err error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, nil, nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, nil, nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	replicas, leaders, isr = map[int32]int{}, map[int32]int{}, map[int32]int{}
	for _, pd := range td.Partitions {
		for _, id := range pd.Replicas {
			replicas[id]++
		}
		leaders[pd.Leader]++
		isr[pd.Partition] = len(pd.ISR)
	}
	return replicas, leaders, isr, nil
}

// evenOver reports whether m's counts over brokers 1..n are within one.
func evenOver(m map[int32]int, n int32) bool {
	lo, hi := 1<<30, -1
	for id := int32(1); id <= n; id++ {
		lo, hi = min(lo, m[id]), max(hi, m[id])
	}
	return hi-lo <= 1
}

// A fourth broker joins a cluster whose topic (6 partitions, RF 3) lives on
// brokers 1-3 while an idempotent acks=all producer writes; then `fjord
// cluster rebalance --execute` (the CLI, in process) moves data onto it
// under that load. Replicas and leaders end even over the four brokers,
// and every acknowledged record is read back once at its offset.
// Throughput before and during the move is logged, not asserted.
func TestCluster_AddBrokerAndRebalanceUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("four-node cluster under load")
	}
	c := startCluster(t, 4)
	// Broker 4 is "added" later: stopped before anything is created.
	if err := c.Stop(3); err != nil {
		t.Fatal(err)
	}
	addrs := c.Addrs()[:3]
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	admCl, adm := adminClient(t, addrs)
	const topic = "grow"
	createTopicOn(t, ctx, admCl, topic, onFirstThree...)

	// As many records as 128 in flight allow: the ledger keeps them all in
	// memory, so values are small and the windows short.
	load := startLoad(t, addrs, topic, 512, 128)
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return load.ledger.Len() >= 500, fmt.Sprint(load.ledger.Len()) })
	// Some data to move, and the throughput before.
	before := load.rate(3 * time.Second)

	if err := c.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "broker 4 to register", func() (bool, string) {
		bs, err := adm.ListBrokers(ctx)
		return err == nil && len(bs) == 4, fmt.Sprint(bs.NodeIDs(), err)
	})

	all := strings.Join(c.Addrs(), ",")
	var (
		code           int
		stdout, stderr string
		moveDone       = make(chan struct{})
		start          = time.Now()
		n0             = load.acked.Load()
	)
	go func() {
		defer close(moveDone)
		code, stdout, stderr = runCLI(ctx, "-b", all, "--timeout", "30s", "cluster", "rebalance", "--execute", "--topic", topic, "--progress-interval", "1s")
	}()
	<-moveDone
	took := time.Since(start)
	during := float64(load.acked.Load()-n0) / took.Seconds()
	t.Logf("rebalance: exit %d in %s\n%s%s", code, took.Round(time.Millisecond), stdout, stderr)
	if code != cli.ExitOK {
		t.Fatalf("fjord cluster rebalance --execute: exit %d", code)
	}
	ratio := during / before
	t.Logf("producer throughput: %.0f records/s before, %.0f records/s during the move (%.2f of before; issue 9 wants > 0.5, not asserted)", before, during, ratio)

	replicas, _, _, err := brokerCounts(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !evenOver(replicas, 4) || replicas[4] == 0 {
		t.Errorf("replicas per broker after rebalance: %v", replicas)
	}
	waitFor(t, ctx, "leaders even over 4 brokers", func() (bool, string) {
		_, leaders, _, err := brokerCounts(ctx, adm, topic)
		return err == nil && evenOver(leaders, 4) && leaders[4] > 0, fmt.Sprint(leaders, err)
	})
	// Writes go on after the move, then everything is read back.
	n := load.ledger.Len()
	waitFor(t, ctx, "records acknowledged after the move", func() (bool, string) { return load.ledger.Len() >= n+500, fmt.Sprint(load.ledger.Len()) })
	load.finish(t)
	load.ledger.VerifyExactlyOnce(t, readTopic(t, ctx, c.Addrs(), adm, topic))
	t.Logf("%d records acknowledged and verified", load.ledger.Len())
}

// isrWatch samples every partition's ISR size of a topic until stopped and
// remembers the samples below min.
type isrWatch struct {
	stop    chan struct{}
	done    chan struct{}
	samples atomic.Int64
	mu      sync.Mutex
	low     []string // guarded by mu
}

func watchISR(adm *kadm.Client, topic string, partitions, minISR int) *isrWatch {
	w := &isrWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, isr, err := brokerCounts(ctx, adm, topic)
			cancel()
			if err != nil || len(isr) != partitions {
				continue // a failed sample is no sample
			}
			w.samples.Add(1)
			for p, n := range isr {
				if n < minISR {
					w.mu.Lock()
					w.low = append(w.low, fmt.Sprintf("%s-%d: ISR of %d at %s", topic, p, n, time.Now().Format("15:04:05.000")))
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

func (w *isrWatch) finish() (samples int64, low []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples.Load(), w.low
}

// Decommissioning broker 4 of a four-node cluster under an idempotent
// acks=all load (`fjord cluster decommission 4 --execute`, in process),
// then stopping it: every partition's ISR stays at or above
// min.insync.replicas (2) in every sample (metadata every 100 ms)
// throughout, broker 4 ends with no replicas, writes go on after it
// stops, and every acknowledged record is read back once at its offset.
func TestCluster_DecommissionUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("four-node cluster under load")
	}
	c := startCluster(t, 4)
	addrs := c.Addrs()[:3]
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	admCl, adm := adminClient(t, addrs)
	const topic = "shrink"
	createTopicOn(t, ctx, admCl, topic, []int32{1, 2, 3}, []int32{2, 3, 4}, []int32{3, 4, 1}, []int32{4, 1, 2}, []int32{4, 2, 3}, []int32{1, 4, 2})

	load := startLoad(t, addrs, topic, 512, 128)
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return load.ledger.Len() >= 500, fmt.Sprint(load.ledger.Len()) })
	waitFor(t, ctx, "full ISRs", func() (bool, string) {
		_, _, isr, err := brokerCounts(ctx, adm, topic)
		for _, n := range isr {
			if n < 3 {
				return false, fmt.Sprint(isr)
			}
		}
		return err == nil && len(isr) == 6, fmt.Sprint(isr, err)
	})
	before := load.rate(2 * time.Second)
	watch := watchISR(adm, topic, 6, 2)

	start, n0 := time.Now(), load.acked.Load()
	code, stdout, stderr := runCLI(ctx, "-b", strings.Join(addrs, ","), "--timeout", "30s", "cluster", "decommission", "4", "--execute", "--progress-interval", "1s")
	took := time.Since(start)
	during := float64(load.acked.Load()-n0) / took.Seconds()
	t.Logf("decommission: exit %d in %s\n%s%s", code, took.Round(time.Millisecond), stdout, stderr)
	if code != cli.ExitOK {
		t.Fatalf("fjord cluster decommission 4 --execute: exit %d", code)
	}
	t.Logf("producer throughput: %.0f records/s before, %.0f records/s during the move (%.2f)", before, during, during/before)
	replicas, _, _, err := brokerCounts(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	if replicas[4] != 0 || !evenOver(replicas, 3) {
		t.Errorf("replicas per broker after decommission: %v", replicas)
	}

	if err := c.Stop(3); err != nil {
		t.Fatal(err)
	}
	// Writes go on without broker 4.
	n := load.ledger.Len()
	waitFor(t, ctx, "records acknowledged after broker 4 stopped", func() (bool, string) {
		return load.ledger.Len() >= n+2000, fmt.Sprint(load.ledger.Len())
	})
	time.Sleep(time.Second) // a few more samples without broker 4
	samples, low := watch.finish()
	t.Logf("%d ISR samples", samples)
	if samples < 10 {
		t.Errorf("only %d ISR samples", samples)
	}
	if len(low) > 0 {
		t.Errorf("%d samples with an ISR under min.insync.replicas=2, first: %s", len(low), strings.Join(low[:min(len(low), 10)], "; "))
	}
	load.finish(t)
	load.ledger.VerifyExactlyOnce(t, readTopic(t, ctx, addrs, adm, topic))
	t.Logf("%d records acknowledged and verified", load.ledger.Len())
}
