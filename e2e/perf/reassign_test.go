package perf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/cli"
)

// moveMiBEnv sets how much data BenchmarkReassignMove copies to the new
// broker, in MiB; 512 by default (issue 9 names 2 GiB, too long for the
// CI machine's budget: FJORD_BENCH_MOVE_MIB=2048 runs that).
const moveMiBEnv = "FJORD_BENCH_MOVE_MIB"

// Shape of BenchmarkReassignMove.
const (
	movePartitions = 6
	moveValueSize  = 32 << 10 // bytes per record of the data moved
	liveRate       = 2000     // records/s of the producer measured meanwhile
	liveValueSize  = 1024
	liveWindow     = 5 * time.Second // the "before" window
)

// BenchmarkReassignMove: a four-node in-process cluster; a topic of
// movePartitions partitions, RF 2, on brokers 1-3, filled with
// FJORD_BENCH_MOVE_MIB (512) MiB; then every partition's follower is
// replaced by broker 4 (`fjord cluster reassign --execute`, in process; the
// leaders stay), so broker 4 copies all of it, with no throttle and with
// `--throttle` 50 MB/s. Meanwhile an idempotent acks=all producer writes
// 1 KiB records at 2,000 records/s to another topic (3 partitions, RF 3,
// on brokers 1-3). Reported: the move's time and rate, and the producer's
// throughput and p99 acknowledgement latency in the 5 s before the move
// and during it.
//
//	go test ./e2e/perf -run '^$' -bench ReassignMove -benchtime 1x
func BenchmarkReassignMove(b *testing.B) {
	mib := 512
	if v := os.Getenv(moveMiBEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number of MiB", moveMiBEnv, v)
		}
		mib = n
	}
	for _, throttle := range []int64{0, 50_000_000} {
		name := "unthrottled"
		if throttle > 0 {
			name = fmt.Sprintf("throttle-%dMBps", throttle/1_000_000)
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				reassignMoveOnce(b, int64(mib)<<20, throttle)
			}
		})
	}
}

// ackSample is one acknowledged record of the live producer.
type ackSample struct {
	at      time.Time
	latency time.Duration
}

func reassignMoveOnce(b *testing.B, total, throttle int64) {
	c, err := fjord.NewCluster(4, fjord.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		b.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	bulk, live := fmt.Sprintf("bulk-%d", topicSeq.Add(1)), fmt.Sprintf("live-%d", topicSeq.Add(1))
	var bulkAssign [][]int32
	for p := range movePartitions {
		bulkAssign = append(bulkAssign, []int32{int32(p%3 + 1), int32((p+1)%3 + 1)})
	}
	createAssignedTopic(b, ctx, admCl, bulk, bulkAssign)
	createAssignedTopic(b, ctx, admCl, live, [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}})

	// Fill the topic to move.
	t0 := time.Now()
	fill(b, ctx, c.Addrs(), bulk, total)
	b.Logf("filled %s with %d MiB (RF 2) in %v", bulk, total>>20, time.Since(t0).Round(time.Millisecond))

	// The live producer, at a fixed rate.
	var (
		mu      sync.Mutex
		samples []ackSample
	)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(live),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		value := bytes.Repeat([]byte("v"), liveValueSize)
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			default:
			}
			due := int64(time.Since(start).Seconds() * liveRate)
			for sent.Load() < due {
				sent.Add(1)
				at := time.Now()
				prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err == nil {
						now := time.Now()
						mu.Lock()
						samples = append(samples, ackSample{now, now.Sub(at)})
						mu.Unlock()
					}
				})
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(liveWindow + time.Second) // one second to settle, then the "before" window

	// The move: each partition's follower goes to broker 4.
	type planPartition struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Replicas  []int32 `json:"replicas"`
	}
	plan := struct {
		Version    int             `json:"version"`
		Partitions []planPartition `json:"partitions"`
	}{Version: 1}
	for p, rs := range bulkAssign {
		plan.Partitions = append(plan.Partitions, planPartition{Topic: bulk, Partition: int32(p), Replicas: []int32{rs[0], 4}})
	}
	planFile := filepath.Join(b.TempDir(), "plan.json")
	js, _ := json.Marshal(plan)
	if err := os.WriteFile(planFile, js, 0o644); err != nil {
		b.Fatal(err)
	}
	fj := func(args ...string) string {
		var out, errb bytes.Buffer
		args = append([]string{"-b", c.Addrs()[0], "cluster", "reassign", "--reassignment-json-file", planFile}, args...)
		if code := cli.ExecuteContext(ctx, cli.NewRoot(), args, &out, &errb); code != cli.ExitOK {
			b.Fatalf("fjord %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	moveStart := time.Now()
	if throttle > 0 {
		fj("--execute", "--throttle", strconv.FormatInt(throttle, 10))
	} else {
		fj("--execute")
	}
	moving := make(kadm.TopicsSet)
	for p := range movePartitions {
		moving.Add(bulk, int32(p))
	}
	for {
		l, err := adm.ListPartitionReassignments(ctx, moving)
		if err == nil && len(l[bulk]) == 0 {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("the move did not finish: %v", ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
	moveEnd := time.Now()
	if size := dirSize(c.DataDirs()[3]); size < total*9/10 {
		b.Fatalf("broker 4 holds %d bytes after the move; want about %d", size, total)
	}
	fj("--verify") // removes the throttle
	close(stop)
	wg.Wait()
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	window := func(from, to time.Time) (rate float64, p99 time.Duration) {
		var lat []time.Duration
		for _, s := range samples {
			if !s.at.Before(from) && s.at.Before(to) {
				lat = append(lat, s.latency)
			}
		}
		if len(lat) == 0 {
			return 0, 0
		}
		slices.Sort(lat)
		return float64(len(lat)) / to.Sub(from).Seconds(), lat[len(lat)*99/100]
	}
	moveTime := moveEnd.Sub(moveStart)
	beforeRate, beforeP99 := window(moveStart.Add(-liveWindow), moveStart)
	duringRate, duringP99 := window(moveStart, moveEnd)
	moved := float64(total) / (1 << 20)
	b.ReportMetric(moveTime.Seconds(), "move-s")
	b.ReportMetric(moved/moveTime.Seconds(), "move-MiB/s")
	b.ReportMetric(beforeRate, "rec/s-before")
	b.ReportMetric(duringRate, "rec/s-during")
	b.ReportMetric(float64(beforeP99.Microseconds())/1000, "p99-ms-before")
	b.ReportMetric(float64(duringP99.Microseconds())/1000, "p99-ms-during")
	b.Logf("moved %.0f MiB to broker 4 in %v (%.1f MiB/s, throttle %d B/s); producer at %d records/s: %.0f records/s, p99 %v before; %.0f records/s, p99 %v during",
		moved, moveTime.Round(time.Millisecond), moved/moveTime.Seconds(), throttle, liveRate,
		beforeRate, beforeP99.Round(100*time.Microsecond), duringRate, duringP99.Round(100*time.Microsecond))
}

// createAssignedTopic creates topic with one partition per replica list.
func createAssignedTopic(b *testing.B, ctx context.Context, cl *kgo.Client, topic string, assignment [][]int32) {
	b.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, rs := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		b.Fatalf("create %s: %v", topic, err)
	}
}

// fill writes total bytes of incompressible values, round robin over the
// topic's partitions, acks=all.
func fill(b *testing.B, ctx context.Context, addrs []string, topic string, total int64) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.MaxBufferedRecords(256), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	var failed atomic.Value
	for off := int64(0); off < total; off += moveValueSize {
		start := int(off/moveValueSize*4099) % (len(random) - moveValueSize)
		cl.Produce(ctx, &kgo.Record{Value: random[start : start+moveValueSize]}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("fill: %v", err)
	}
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
