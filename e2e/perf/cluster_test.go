package perf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/bench"
)

// Distributed mode: a three-node Fjord cluster (fjord.NewCluster, every node
// a broker and a voter, in this process) against a three-node NATS
// JetStream cluster (in this process too), so both share the machine's two
// cores with their client the same way. docs/performance.md, section
// "Distributed mode", records the numbers:
//
//	go test ./e2e/perf -run '^$' -bench 'Cluster' -benchtime 1x
//
// Each sub-benchmark stops after clusterRecords records or clusterDuration,
// whichever comes first, so one run stays bounded whatever the broker's
// speed.
const (
	clusterRecords  = 300_000
	clusterDuration = 15 * time.Second
	e2eWarmUp       = 5_000 // records written to a new topic before an e2e run
)

// startFjordCluster starts a three-node in-process cluster with default
// settings (fsync before acknowledging on every replica).
func startFjordCluster(b *testing.B) *fjord.Cluster {
	b.Helper()
	c, err := fjord.NewCluster(3, fjord.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterConfig is config() against every node of c, for a new topic of
// the given partitions and replication factor.
func clusterConfig(c *fjord.Cluster, partitions int32, rf int16, records int64) bench.Config {
	cfg := config(c.Addrs()[0], records)
	cfg.Brokers = c.Addrs()
	cfg.Topic = fmt.Sprintf("cluster-p%d-rf%d-%d", partitions, rf, topicSeq.Add(1))
	cfg.Partitions = partitions
	cfg.ReplicationFactor = rf
	return cfg
}

// BenchmarkClusterProduce: 1 KiB records, idempotent acks=all franz-go
// producer, 1 and 6 partitions. Fjord RF=3 and RF=1 are two topics on the
// same three-node cluster; NATS R3 publishes to one R3 stream per partition
// with JetStream's default sync policy and with sync_always (an fsync per
// write, which is what Fjord's default does on every replica).
func BenchmarkClusterProduce(b *testing.B) {
	for _, parts := range []int32{1, 6} {
		b.Run(fmt.Sprintf("p%d", parts), func(b *testing.B) {
			c := startFjordCluster(b)
			for _, rf := range []int16{3, 1} {
				b.Run(fmt.Sprintf("fjord-rf%d", rf), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						cfg := clusterConfig(c, parts, rf, clusterRecords)
						cfg.Duration = clusterDuration
						stop := startProfile(b)
						res, err := bench.Produce(context.Background(), cfg)
						stop()
						if err != nil {
							b.Fatal(err)
						}
						report(b, res)
					}
				})
			}
			_ = c.Close() // the NATS runs get the machine to themselves
			for _, sync := range []bool{false, true} {
				b.Run(natsName(sync), func(b *testing.B) {
					nc := startNATS(b, sync)
					for i := 0; i < b.N; i++ {
						prefix := fmt.Sprintf("produce-%d", topicSeq.Add(1))
						report(b, natsProduce(b, nc, prefix, int(parts), clusterRecords, clusterDuration))
					}
				})
			}
		})
	}
}

func natsName(syncAlways bool) string {
	if syncAlways {
		return "nats-r3-syncalways"
	}
	return "nats-r3"
}

// BenchmarkClusterE2E: produce-to-consume latency at a fixed 10k records/s,
// one partition, linger 0 (the producer does not hold records back); Fjord
// RF=3 and RF=1 on one cluster, NATS R3 in both sync modes. Each topic (or
// stream) first takes e2eWarmUp records at the same rate, not counted: the
// first records of a new partition wait for its followers to start fetching,
// which is start-up, not the steady state measured here.
func BenchmarkClusterE2E(b *testing.B) {
	const records, rate = 50_000, 10_000
	b.Run("fjord", func(b *testing.B) {
		c := startFjordCluster(b)
		for _, rf := range []int16{3, 1} {
			b.Run(fmt.Sprintf("rf%d", rf), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					cfg := clusterConfig(c, 1, rf, e2eWarmUp)
					cfg.Throughput = rate
					cfg.Linger = 0
					if _, err := bench.Produce(context.Background(), cfg); err != nil {
						b.Fatal(err)
					}
					cfg.Records = records
					res, err := bench.E2E(context.Background(), cfg)
					if err != nil {
						b.Fatal(err)
					}
					report(b, res)
				}
			})
		}
	})
	for _, sync := range []bool{false, true} {
		b.Run(natsName(sync), func(b *testing.B) {
			nc := startNATS(b, sync)
			for i := 0; i < b.N; i++ {
				report(b, natsE2E(b, nc, fmt.Sprintf("e2e-%d", topicSeq.Add(1)), records, rate))
			}
		})
	}
}

// ProfileEnv names a folder; when set, each Fjord produce run writes a CPU
// profile of the run alone (not the cluster's start-up) there, named after
// the sub-benchmark, e.g. BenchmarkClusterProduce_p1_fjord-rf3.pprof. Read
// it with `go tool pprof -top FILE`.
const ProfileEnv = "FJORD_PERF_CPUPROFILE"

// startProfile starts a CPU profile when ProfileEnv is set and returns the
// function that stops it.
func startProfile(b *testing.B) (stop func()) {
	dir := os.Getenv(ProfileEnv)
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}
