package perf

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions' cost (issue 12): the same 1 KiB records produced by the
// idempotent producer, and by a transactional one committing every 100 and
// every 10,000 records; then the transactional topic read with
// read_uncommitted and with read_committed. One partition, acks=all, one
// run each in the same process, Fjord against kfake.
const (
	txnBenchRecords = 100_000
	txnBenchSize    = 1024
)

func BenchmarkTransactions(b *testing.B) {
	type txnTarget struct {
		name  string
		rf    int16
		start func(b *testing.B) string
	}
	var tgs []txnTarget
	for _, tg := range targets() {
		if tg.name != "fjord-metrics" {
			tgs = append(tgs, txnTarget{tg.name, 1, tg.start})
		}
	}
	// Kafka's default durability (no fsync before acknowledging; the OS
	// writes back), which Kafka's own transaction numbers are measured
	// with: the coordinator's writes and the markers then cost no fsync.
	tgs = append(tgs, txnTarget{"fjord-pagecache", 1, func(b *testing.B) string {
		return startFjordNode(b, "log.flush.interval.messages", "9223372036854775807")
	}})
	// Distributed mode: three in-process nodes, the topic replicated
	// three times (every replica fsyncs), as a production cluster runs.
	tgs = append(tgs, txnTarget{"fjord-cluster-rf3", 3, func(b *testing.B) string { return startFjordCluster(b).Addrs()[0] }})
	for _, tg := range tgs {
		rf := tg.rf
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			value := make([]byte, txnBenchSize)
			rand.Read(value) // incompressible, as the other benchmarks' records
			for i := 0; i < b.N; i++ {
				// The idempotent and per-10,000 runs alternate, first one
				// then the other, txnBenchRounds times: a single pair of
				// 0.1 s runs measured the order (warm-up) as much as the
				// transactions. Medians are reported.
				var idems, per10ks []txnBenchResult
				for round := range txnBenchRounds {
					if round%2 == 0 {
						idems = append(idems, txnBenchProduce(b, addr, rf, value, 0))
						per10ks = append(per10ks, txnBenchProduce(b, addr, rf, value, 10_000))
					} else {
						per10ks = append(per10ks, txnBenchProduce(b, addr, rf, value, 10_000))
						idems = append(idems, txnBenchProduce(b, addr, rf, value, 0))
					}
				}
				idem, per10k := medianRun(idems), medianRun(per10ks)
				per100 := txnBenchProduce(b, addr, rf, value, 100)
				b.ReportMetric(idem.mbps, "idempotent-MB/s")
				b.ReportMetric(per100.mbps, "txn100-MB/s")
				b.ReportMetric(per10k.mbps, "txn10k-MB/s")
				unc := txnBenchConsume(b, addr, per10k.topic, kgo.ReadUncommitted())
				com := txnBenchConsume(b, addr, per10k.topic, kgo.ReadCommitted())
				b.ReportMetric(unc, "read-uncommitted-MB/s")
				b.ReportMetric(com, "read-committed-MB/s")
				var rounds []string
				for r := range idems {
					rounds = append(rounds, fmt.Sprintf("%.0f/%.0f", idems[r].mbps, per10ks[r].mbps))
				}
				b.Logf("%s: idempotent/per-10,000 MB/s by round: %v", tg.name, rounds)
				b.Logf("%s: idempotent %.0f MB/s; a transaction per 100 records %.0f MB/s (%.2fx), per 10,000 %.0f MB/s (%.2fx); read_uncommitted %.0f MB/s, read_committed %.0f MB/s (%.2fx)",
					tg.name, idem.mbps, per100.mbps, per100.mbps/idem.mbps, per10k.mbps, per10k.mbps/idem.mbps, unc, com, com/unc)
				b.Logf("%s: per transaction, flush then EndTransaction: %v + %v (per 100), %v + %v (per 10,000)",
					tg.name, per100.flush, per100.commit, per10k.flush, per10k.commit)
			}
		})
	}
}

// txnBenchRounds is how many idempotent and per-10,000 runs alternate.
const txnBenchRounds = 5

// medianRun returns the run of median throughput.
func medianRun(rs []txnBenchResult) txnBenchResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b txnBenchResult) int { return cmp.Compare(a.mbps, b.mbps) })
	return s[len(s)/2]
}

type txnBenchResult struct {
	topic string
	mbps  float64
	// flush and commit are the mean time per transaction spent draining
	// the client's pipeline (Flush) and in EndTransaction.
	flush, commit time.Duration
}

// txnBenchProduce writes txnBenchRecords to a new topic: idempotently
// (perTxn 0) or in transactions of perTxn records.
func txnBenchProduce(b *testing.B, addr string, rf int16, value []byte, perTxn int) txnBenchResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("perf-txn-%d", topicSeq.Add(1))
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(20_000)}
	if perTxn > 0 {
		opts = append(opts, kgo.TransactionalID(topic))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, rf, nil, topic); err != nil || resp.Err != nil {
		b.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	var mu sync.Mutex
	var firstErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	// The producer ID (and for a transactional producer its coordinator,
	// whose __transaction_state the first one creates) is had before the
	// clock starts: a per-process cost, not a per-record one.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var flushing, committing time.Duration
	txns := 0
	for sent := 0; sent < txnBenchRecords; {
		n := txnBenchRecords - sent
		if perTxn > 0 {
			n = min(n, perTxn)
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		sent += n
		if perTxn > 0 {
			t0 := time.Now()
			if err := cl.Flush(ctx); err != nil { // EndTransaction does not flush
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatalf("commit: %v", err)
			}
			flushing, committing, txns = flushing+t1.Sub(t0), committing+time.Since(t1), txns+1
		}
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	r := txnBenchResult{topic: topic, mbps: float64(txnBenchRecords*len(value)) / took.Seconds() / 1e6}
	if txns > 0 {
		r.flush, r.commit = flushing/time.Duration(txns), committing/time.Duration(txns)
	}
	return r
}

// txnBenchConsume reads the whole topic with the isolation level.
func txnBenchConsume(b *testing.B, addr, topic string, level kgo.IsolationLevel) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(32<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	got, bytes := 0, 0
	for got < txnBenchRecords {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += len(r.Value)
		})
	}
	return float64(bytes) / time.Since(start).Seconds() / 1e6
}
