// Package perf compares Fjord with a peer, side by side in one run on one
// machine, using the same bench library as `fjord bench`: franz-go's kfake
// for a single node, NATS JetStream R3 for a three-node cluster
// (cluster_test.go); failover_test.go times failover and idle memory on real
// `fjord server` processes. It holds benchmarks only (no timed assertions),
// so a plain `go test ./e2e/perf` runs nothing and builds nothing;
// docs/performance.md records the numbers and how to reproduce them:
//
//	go test ./e2e/perf -run '^$' -bench . -benchtime 1x -timeout 30m
package perf

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/bench"
)

// target is a broker under test.
type target struct {
	name  string
	start func(b *testing.B) string // returns the bootstrap address
}

// startFjordNode starts an embedded node with the benchmarks' settings
// and the extra config keys and values kv, stopped with the benchmark; it
// returns the bootstrap address.
func startFjordNode(b *testing.B, kv ...string) string {
	b.Helper()
	opts := []fjord.Option{fjord.WithDataDir(b.TempDir()), fjord.WithConfig("group.consumer.heartbeat.interval.ms", "100")}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, fjord.WithConfig(kv[i], kv[i+1]))
	}
	n, err := fjord.NewNode(opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	return n.Addr()
}

func targets() []target {
	return []target{
		{"fjord", func(b *testing.B) string { return startFjordNode(b) }},
		// The same node serving /metrics: the request, network and topic
		// metrics are recorded only when something can scrape them, so
		// fjord vs fjord-metrics is their cost on the hot path.
		{"fjord-metrics", func(b *testing.B) string { return startFjordNode(b, "http.listeners", "http://127.0.0.1:0") }},
		{"kfake-sync", func(b *testing.B) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(b.TempDir()), kfake.SyncWrites(),
				kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "100"}))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Close)
			return c.ListenAddrs()[0]
		}},
	}
}

var topicSeq atomic.Int64

func config(addr string, records int64) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Brokers = []string{addr}
	cfg.Topic = fmt.Sprintf("perf-%d", topicSeq.Add(1))
	cfg.Records = records
	cfg.RecordSize = 1024
	cfg.Partitions = 1
	cfg.ReplicationFactor = 1
	cfg.Acks = "all"
	cfg.Idempotent = true
	cfg.Timeout = 2 * time.Minute
	cfg.ProgressInterval = time.Hour
	return cfg
}

func report(b *testing.B, res bench.Result) {
	b.Helper()
	for unit, v := range res.Metrics() {
		b.ReportMetric(v, unit)
	}
	b.Logf("%s", res)
}

// BenchmarkProduce: one partition, 1 KiB records, acks=all, idempotent
// franz-go producer; Fjord with its default durability (fsync before ack,
// group commit) against kfake with SyncWrites (fsync per batch).
func BenchmarkProduce(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			for i := 0; i < b.N; i++ {
				res, err := bench.Produce(context.Background(), config(addr, 300_000))
				if err != nil {
					b.Fatal(err)
				}
				report(b, res)
			}
		})
	}
}

// BenchmarkConsume reads back 300k 1 KiB records produced first.
func BenchmarkConsume(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			cfg := config(addr, 300_000)
			if _, err := bench.Produce(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				res, err := bench.Consume(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				report(b, res)
			}
		})
	}
}

// BenchmarkE2E: produce-to-consume latency at a fixed 10k records/s, with
// linger 0 so the client does not hold records back.
func BenchmarkE2E(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			for i := 0; i < b.N; i++ {
				cfg := config(addr, 50_000)
				cfg.Throughput = 10_000
				cfg.Linger = 0 // measure the broker, not the client's 10 ms default linger
				res, err := bench.E2E(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				report(b, res)
			}
		})
	}
}
