package perf

import (
	"context"
	"crypto/rand"
	"fmt"
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
	for _, tg := range targets() {
		if tg.name == "fjord-metrics" {
			continue
		}
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			value := make([]byte, txnBenchSize)
			rand.Read(value) // incompressible, as the other benchmarks' records
			for i := 0; i < b.N; i++ {
				idem := txnBenchProduce(b, addr, value, 0)
				per100 := txnBenchProduce(b, addr, value, 100)
				per10k := txnBenchProduce(b, addr, value, 10_000)
				b.ReportMetric(idem.mbps, "idempotent-MB/s")
				b.ReportMetric(per100.mbps, "txn100-MB/s")
				b.ReportMetric(per10k.mbps, "txn10k-MB/s")
				unc := txnBenchConsume(b, addr, per10k.topic, kgo.ReadUncommitted())
				com := txnBenchConsume(b, addr, per10k.topic, kgo.ReadCommitted())
				b.ReportMetric(unc, "read-uncommitted-MB/s")
				b.ReportMetric(com, "read-committed-MB/s")
				b.Logf("%s: idempotent %.0f MB/s; a transaction per 100 records %.0f MB/s (%.2fx), per 10,000 %.0f MB/s (%.2fx); read_uncommitted %.0f MB/s, read_committed %.0f MB/s (%.2fx)",
					tg.name, idem.mbps, per100.mbps, per100.mbps/idem.mbps, per10k.mbps, per10k.mbps/idem.mbps, unc, com, com/unc)
			}
		})
	}
}

type txnBenchResult struct {
	topic string
	mbps  float64
}

// txnBenchProduce writes txnBenchRecords to a new topic: idempotently
// (perTxn 0) or in transactions of perTxn records.
func txnBenchProduce(b *testing.B, addr string, value []byte, perTxn int) txnBenchResult {
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
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
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
	start := time.Now()
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
			if err := cl.Flush(ctx); err != nil { // EndTransaction does not flush
				b.Fatal(err)
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatalf("commit: %v", err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return txnBenchResult{topic: topic, mbps: float64(txnBenchRecords*len(value)) / took.Seconds() / 1e6}
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
