package node_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/fjordstream/fjord/internal/record"
)

// countRequests counts the requests a client writes, by API key.
type countRequests struct{ byKey [100]atomic.Int64 }

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (c *countRequests) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil && key >= 0 && int(key) < len(c.byKey) {
		c.byKey[key].Add(1)
	}
}

// TestTransactions_KIP890Part2: with transaction.version finalized at 2
// (the default), franz-go runs KIP-890 part 2 transactions: no
// AddPartitionsToTxn or AddOffsetsToTxn (the partition leaders and the
// group coordinator add the partitions), every EndTxn v5 bumps the epoch,
// and a write of an ended transaction that arrives late, at the old epoch,
// is refused (INVALID_PRODUCER_EPOCH) instead of opening a transaction
// nobody will end. At transaction.version=0 the same producer keeps part
// 1's flow: AddPartitionsToTxn, one epoch for every transaction.
func TestTransactions_KIP890Part2(t *testing.T) {
	for _, tc := range []struct {
		level string
		tv2   bool
	}{{"2", true}, {"0", false}} {
		t.Run("transaction.version="+tc.level, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			n := startStandalone(t, ctx, "transaction.version", tc.level)
			admCl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer admCl.Close()
			adm := kadm.NewClient(admCl)
			if resp, err := adm.CreateTopic(ctx, 2, 1, nil, "tv2"); err != nil || resp.Err != nil {
				t.Fatalf("create: %v %v", err, resp.Err)
			}
			hooks := &countRequests{}
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("tv2-producer"), kgo.DefaultProduceTopic("tv2"),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.WithHooks(hooks))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			pid, first, err := cl.ProducerID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var epochs []int16
			var addsAfterFirst int64
			for i, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				for j := range 4 {
					if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("t%d-%d", i, j))).FirstErr(); err != nil {
						t.Fatalf("transaction %d: %v", i, err)
					}
				}
				if err := cl.EndTransaction(ctx, end); err != nil {
					t.Fatalf("end of transaction %d: %v", i, err)
				}
				_, e, err := cl.ProducerID(ctx)
				if err != nil {
					t.Fatal(err)
				}
				epochs = append(epochs, e)
				if i == 0 {
					// franz-go opts in to part 2 at its first EndTxn
					// (it learns the cluster's features then): the
					// first transaction runs part 1's flow.
					addsAfterFirst = hooks.byKey[kmsg.AddPartitionsToTxn].Load()
				}
			}
			adds := hooks.byKey[kmsg.AddPartitionsToTxn].Load()
			want := []int16{first, first, first}
			if tc.tv2 {
				// The first +1 is franz-go's opting in (InitProducerId);
				// each later one an EndTxn v5.
				want = []int16{first + 1, first + 2, first + 3}
				if adds != addsAfterFirst {
					t.Errorf("%d AddPartitionsToTxn requests after the first transaction under KIP-890 part 2, want none", adds-addsAfterFirst)
				}
			} else if adds < 3 {
				t.Errorf("%d AddPartitionsToTxn requests under part 1, want one a transaction at least", adds)
			}
			if fmt.Sprint(epochs) != fmt.Sprint(want) {
				t.Fatalf("epochs after each end %v, want %v", epochs, want)
			}
			if got := readAll(t, ctx, n.Addr(), "tv2", kgo.ReadCommitted(), 8); len(got) != 8 || got[0] != "t0-0" || got[7] != "t2-3" {
				t.Fatalf("read_committed: %v", got)
			}
			if got := readAll(t, ctx, n.Addr(), "tv2", kgo.ReadUncommitted(), 12); len(got) != 12 {
				t.Fatalf("read_uncommitted: %d records, want 12", len(got))
			}
			if !tc.tv2 {
				return
			}
			// A late write of the first transaction (epoch first+0 at
			// sequence 0, as it was sent then) after its commit.
			batch := record.Build([]record.Record{{Value: []byte("late")}}, record.BuildOptions{
				Transactional: true, ProducerID: pid, ProducerEpoch: first, BaseSequence: 100, BaseTimestamp: time.Now().UnixMilli()})
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 12, -1, 5000
			id := "tv2-producer"
			req.TransactionID = &id
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "tv2"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = 0, batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			// Produce v12 exactly (v13 names topics by ID).
			versions := kversion.Stable()
			versions.SetMaxKeyVersion(int16(kmsg.Produce), 12)
			v12, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.MaxVersions(versions))
			if err != nil {
				t.Fatal(err)
			}
			defer v12.Close()
			resp, err := req.RequestWith(ctx, v12)
			if err != nil {
				t.Fatal(err)
			}
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidProducerEpoch.Code {
				t.Fatalf("a late write at the ended transaction's epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
			}
			// The transactional ID shows the epoch the producer has.
			d, err := adm.DescribeTransactions(ctx, "tv2-producer")
			if err != nil {
				t.Fatal(err)
			}
			if got := d["tv2-producer"]; got.ProducerEpoch != epochs[2] || got.State != "CompleteCommit" {
				t.Fatalf("described %+v, want epoch %d CompleteCommit", got, epochs[2])
			}
		})
	}
}
