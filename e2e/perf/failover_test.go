package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/fjordstream/fjord/internal/fjordtest"
	"github.com/fjordstream/fjord/internal/record"
)

// Failover and idle memory, measured on real processes: three `fjord
// server` nodes (combined mode, default settings) started by
// fjordtest.StartProcessCluster, killed or paused by PID. Run with
//
//	go test ./e2e/perf -run '^$' -bench 'Failover|IdleRSS' -benchtime 1x
//
// Each failover trial SIGKILLs (or SIGSTOPs) the leader of one partition of
// a three-partition RF=3 topic and measures, from the signal:
//
//   - meta: until a surviving broker's Metadata names another leader;
//   - ack: until that new leader acknowledges an acks=all produce (a raw
//     ProduceRequest sent straight to it, retried every probeInterval), the
//     broker's failover time;
//   - client: until a long-lived idempotent franz-go producer with default
//     settings (writing 1 KiB every 2 ms to the partition) has a record that
//     was sent after the signal acknowledged, what an application sees.
//     Waited for up to clientBound; a trial that reaches it counts as
//     clientBound (the metric is then a lower bound). A paused leader keeps
//     franz-go's in-flight request unanswered until its default timeouts
//     (10 s produce timeout plus 10 s overhead) expire.
//   - rejoin: from the restart (or resume) until all three brokers answer
//     Metadata alike, with three in-sync replicas for every partition.
//
// Trials alternate between a partition led by the active controller (the
// quorum must elect a new controller first) and one led by another node;
// before each trial a preferred-leader election spreads the leaderships
// again, so both kinds exist.
const (
	failoverTrials = 5
	probeInterval  = 10 * time.Millisecond
	failoverBound  = 30 * time.Second // a broker failover that takes longer failed
	clientBound    = 21 * time.Second // just past franz-go's default 20 s request timeout
	idleWait       = time.Minute
)

// failoverTopic is the topic every trial uses.
const failoverTopic = "failover"

// trial is one failover measurement.
type trial struct {
	controller     bool // the victim was also the active controller
	meta, ack, cli time.Duration
	cliErrs        string        // the franz-go producer's failed records
	rejoin         time.Duration // restart (or resume) until every broker agrees and the ISRs are full again
}

// BenchmarkFailover runs failoverTrials trials per fault (sigkill, sigstop)
// on a fresh three-process cluster and reports medians and maxima in ms
// (ack-median-ms is the broker's failover time); each trial is logged.
func BenchmarkFailover(b *testing.B) {
	for _, mode := range []string{"sigkill", "sigstop"} {
		b.Run(mode, func(b *testing.B) {
			bin := fjordtest.BuildFjord(b)
			c := fjordtest.StartProcessCluster(b, bin, b.TempDir(), 3)
			probe := newProbe(b, c.Addrs())
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := kadm.NewClient(probe.cl).CreateTopic(ctx, 3, 3, nil, failoverTopic); err != nil {
				b.Fatal(err)
			}
			var trials []trial
			for i := 0; i < b.N; i++ {
				for j := range failoverTrials {
					tr := failoverTrial(b, c, probe, mode, j%2 == 0)
					b.Logf("trial %d (%s, victim was controller: %v): metadata %v, ack %v, franz-go client %v (%s); rejoined in %v",
						j+1, mode, tr.controller, tr.meta.Round(time.Millisecond), tr.ack.Round(time.Millisecond),
						tr.cli.Round(time.Millisecond), tr.cliErrs, tr.rejoin.Round(time.Millisecond))
					trials = append(trials, tr)
				}
			}
			reportTrials(b, trials)
		})
	}
}

// reportTrials reports medians and maxima over all trials and over the
// trials whose victim was, and was not, the active controller.
func reportTrials(b *testing.B, trials []trial) {
	pick := func(f func(trial) time.Duration, keep func(trial) bool) []time.Duration {
		var ds []time.Duration
		for _, t := range trials {
			if keep(t) {
				ds = append(ds, f(t))
			}
		}
		slices.Sort(ds)
		return ds
	}
	all := func(trial) bool { return true }
	ctl := func(t trial) bool { return t.controller }
	notCtl := func(t trial) bool { return !t.controller }
	ack := func(t trial) time.Duration { return t.ack }
	for _, m := range []struct {
		unit string
		f    func(trial) time.Duration
		keep func(trial) bool
	}{
		{"meta", func(t trial) time.Duration { return t.meta }, all},
		{"ack", ack, all},
		{"ack-ctl", ack, ctl},
		{"ack-notctl", ack, notCtl},
		{"client", func(t trial) time.Duration { return t.cli }, all},
		{"rejoin", func(t trial) time.Duration { return t.rejoin }, all},
	} {
		ds := pick(m.f, m.keep)
		if len(ds) == 0 {
			continue
		}
		b.ReportMetric(ms(ds[len(ds)/2]), m.unit+"-median-ms")
		b.ReportMetric(ms(ds[len(ds)-1]), m.unit+"-max-ms")
	}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// failoverTrial waits until the brokers agree, picks a partition whose
// leader is (or is not, as wantCtl says) the active controller, signals
// that leader, measures, then restarts (or resumes) it and waits until the
// brokers agree again with full ISRs.
func failoverTrial(b *testing.B, c *fjordtest.ProcessCluster, probe *probe, mode string, wantCtl bool) trial {
	b.Helper()
	probe.electPreferred(b)
	view := probe.waitAgreement(b)
	part, victim := int32(-1), int32(-1)
	for p, leader := range view.leaders {
		if victim < 0 || (leader == view.controller) == wantCtl {
			part, victim = int32(p), leader
			if (leader == view.controller) == wantCtl {
				break
			}
		}
	}
	tr := trial{controller: victim == view.controller}
	var survivorIDs []int32
	for id := int32(1); id <= 3; id++ {
		if id != victim {
			survivorIDs = append(survivorIDs, id)
		}
	}
	steady := startSteadyProducer(b, c.Addrs(), part)
	// The producer is connected and acknowledged before the fault (its first
	// request may meet a leader that moved in an earlier trial).
	for start := time.Now(); steady.acked.Load() < 100; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			b.Fatalf("the steady producer had %d acknowledgements before the fault (%s)", steady.acked.Load(), steady.errSummary())
		}
	}

	proc := c.Node(victim)
	t0 := time.Now()
	steady.faultAt.Store(t0.UnixNano())
	if mode == "sigkill" {
		proc.Kill()
	} else {
		proc.Pause()
	}
	pctx, pcancel := context.WithTimeout(context.Background(), failoverBound)
	defer pcancel()
	tr.meta, tr.ack = probe.run(b, pctx, part, victim, survivorIDs, t0)
	tr.cli = steady.waitAck(b, t0)
	tr.cliErrs = steady.errSummary()
	steady.close()
	t1 := time.Now()
	if mode == "sigkill" {
		proc.Restart(b)
	} else {
		proc.Resume()
	}
	probe.waitAgreement(b)
	tr.rejoin = time.Since(t1)
	return tr
}

// probe sends Metadata and raw Produce requests straight to chosen brokers,
// so the measurement is the brokers' failover, not a client's retry and
// metadata-refresh policy.
type probe struct {
	cl    *kgo.Client
	batch []byte
}

func newProbe(b *testing.B, addrs []string) *probe {
	b.Helper()
	// Produce v12 and Metadata v12 address topics by name.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MaxVersions(kversion.V3_9_0()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest() // learn the brokers while all are up
	if _, err := req.RequestWith(ctx, cl); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1024)
	batch := record.Build([]record.Record{{Value: val}}, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()})
	return &probe{cl: cl, batch: batch}
}

// clusterView is the failover topic's state as every broker reports it.
type clusterView struct {
	controller int32
	leaders    []int32 // by partition
}

// waitAgreement waits (up to two minutes) until all three brokers answer
// Metadata with the same controller and the same leader for each partition
// of the topic, every partition with three in-sync replicas, and returns
// that view.
func (p *probe) waitAgreement(b *testing.B) clusterView {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		var views []string
		var v clusterView
		ok := true
		for id := int32(1); id <= 3 && ok; id++ {
			resp, err := p.metadata(context.Background(), id)
			if err != nil {
				ok, last = false, fmt.Sprintf("broker %d: %v", id, err)
				break
			}
			cur := clusterView{controller: resp.ControllerID}
			for _, t := range resp.Topics {
				for _, pt := range t.Partitions {
					if t.Topic == nil || *t.Topic != failoverTopic || pt.ErrorCode != 0 || len(pt.ISR) != 3 || pt.Leader < 0 {
						ok = false
					}
					for int(pt.Partition) >= len(cur.leaders) {
						cur.leaders = append(cur.leaders, -1)
					}
					cur.leaders[pt.Partition] = pt.Leader
				}
			}
			views = append(views, fmt.Sprint(cur))
			if id == 1 {
				v = cur
			}
			ok = ok && len(cur.leaders) == 3 && fmt.Sprint(cur) == views[0]
		}
		if ok {
			return v
		}
		if len(views) > 0 {
			last = strings.Join(views, " | ")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("the brokers did not agree on full ISRs within two minutes; last views (controller, leaders): %s", last)
	return clusterView{}
}

// electPreferred moves each partition's leadership back to its preferred
// replica (ElectLeaders, preferred) and tolerates partitions already there.
func (p *probe) electPreferred(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(p.cl).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{failoverTopic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, ps := range res {
		for _, r := range ps {
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				b.Fatalf("preferred election of %s-%d: %v", r.Topic, r.Partition, r.Err)
			}
		}
	}
}

// metadata asks broker id about the failover topic, within 500 ms.
func (p *probe) metadata(ctx context.Context, id int32) (*kmsg.MetadataResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(failoverTopic)
	req.Topics = append(req.Topics, rt)
	resp, err := p.cl.Broker(int(id)).Request(rctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// run polls until a broker other than victim leads partition part and
// acknowledges an acks=all produce; it returns both times since t0.
func (p *probe) run(b *testing.B, ctx context.Context, part, victim int32, survivors []int32, t0 time.Time) (meta, ack time.Duration) {
	b.Helper()
	var lastErr error
	for i := 0; ctx.Err() == nil; i++ {
		leader, err := p.leader(ctx, survivors[i%len(survivors)], part)
		if err == nil && leader >= 0 && leader != victim {
			if meta == 0 {
				meta = time.Since(t0)
			}
			if err = p.produce(ctx, leader, part); err == nil {
				return meta, time.Since(t0)
			}
		}
		if err != nil {
			lastErr = err
		}
		time.Sleep(probeInterval)
	}
	b.Fatalf("no new leader acknowledged a produce within %v (last error: %v)", failoverBound, lastErr)
	return 0, 0
}

func (p *probe) leader(ctx context.Context, via, part int32) (int32, error) {
	resp, err := p.metadata(ctx, via)
	if err != nil {
		return -1, err
	}
	for _, t := range resp.Topics {
		for _, pt := range t.Partitions {
			if pt.Partition == part {
				return pt.Leader, kerr.ErrorForCode(pt.ErrorCode)
			}
		}
	}
	return -1, errors.New("partition missing from metadata")
}

func (p *probe) produce(ctx context.Context, leader, part int32) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 1500
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = failoverTopic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = p.batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := p.cl.Broker(int(leader)).Request(rctx, req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.ProduceResponse).Topics {
		for _, pt := range t.Partitions {
			return kerr.ErrorForCode(pt.ErrorCode)
		}
	}
	return errors.New("empty produce response")
}

// steadyProducer is an idempotent acks=all franz-go producer with default
// settings writing one 1 KiB record every 2 ms to one partition.
type steadyProducer struct {
	cl       *kgo.Client
	cancel   context.CancelFunc
	done     chan struct{}
	acked    atomic.Int64
	faultAt  atomic.Int64 // UnixNano of the fault; 0 before
	firstAck chan time.Time
	signaled atomic.Bool
	errs     atomic.Int64
	firstErr atomic.Pointer[string]
}

func startSteadyProducer(b *testing.B, addrs []string, part int32) *steadyProducer {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &steadyProducer{cl: cl, cancel: cancel, done: make(chan struct{}), firstAck: make(chan time.Time, 1)}
	val := make([]byte, 1024)
	go func() {
		defer close(s.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sent := time.Now()
			cl.Produce(ctx, &kgo.Record{Topic: failoverTopic, Partition: part, Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					s.errs.Add(1)
					msg := fmt.Sprintf("%v after the fault: %v", time.Duration(time.Now().UnixNano()-s.faultAt.Load()).Round(time.Millisecond), err)
					s.firstErr.CompareAndSwap(nil, &msg)
					return
				}
				s.acked.Add(1)
				if f := s.faultAt.Load(); f != 0 && sent.UnixNano() > f && s.signaled.CompareAndSwap(false, true) {
					s.firstAck <- time.Now()
				}
			})
		}
	}()
	return s
}

// waitAck returns the time from t0 to the first acknowledgement of a record
// sent after t0, or clientBound if there is none by then.
func (s *steadyProducer) waitAck(b *testing.B, t0 time.Time) time.Duration {
	b.Helper()
	t := time.NewTimer(clientBound - time.Since(t0))
	defer t.Stop()
	select {
	case at := <-s.firstAck:
		return at.Sub(t0)
	case <-t.C:
		return clientBound
	}
}

// errSummary describes the records that failed, if any.
func (s *steadyProducer) errSummary() string {
	if e := s.firstErr.Load(); e != nil {
		return fmt.Sprintf("%d records failed, the first %s", s.errs.Load(), *e)
	}
	return "no record failed"
}

func (s *steadyProducer) close() {
	s.cancel()
	<-s.done
	s.cl.Close() // fails what is still buffered
}

// BenchmarkIdleRSS starts three `fjord server` nodes, leaves them idle for
// idleWait and reports each one's resident set (VmRSS) just after start-up
// and after the wait.
func BenchmarkIdleRSS(b *testing.B) {
	bin := fjordtest.BuildFjord(b)
	for i := 0; i < b.N; i++ {
		c := fjordtest.StartProcessCluster(b, bin, b.TempDir(), 3)
		var start, idle []string
		maxIdle := 0.0
		for _, p := range c.Nodes {
			start = append(start, fmt.Sprintf("%.1f", vmRSS(b, p.PID())))
		}
		time.Sleep(idleWait)
		for _, p := range c.Nodes {
			mb := vmRSS(b, p.PID())
			idle = append(idle, fmt.Sprintf("%.1f", mb))
			maxIdle = max(maxIdle, mb)
		}
		b.Logf("VmRSS MB per node: after start %s; after %v idle %s", strings.Join(start, " "), idleWait, strings.Join(idle, " "))
		b.ReportMetric(maxIdle, "max-idle-rss-MB")
		for _, p := range c.Nodes {
			if err := p.Stop(); err != nil {
				b.Error(err)
			}
		}
	}
}

// vmRSS reads a process's resident set in MB (2^20 bytes) from
// /proc/PID/status.
func vmRSS(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS line")
	return 0
}
