package cli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// `fjord transaction` against a Fjord node: list and describe show a
// transactional ID and its open transaction; find-hanging does not report
// a transaction its coordinator runs; abort --start-offset ends it on the
// partition and the last stable offset moves on.
func TestTransactionCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"),
		fjord.WithConfig("http.listeners", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	e := &testEnv{t: t, addr: n.Addr(), prefix: "txn"}
	e.ok("", "topic", "create", "orders", "--partitions", "1", "--replication-factor", "1")
	p, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("tx-orders"), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, end := range []bool{true, false} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if end {
			if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The second transaction stays open.

	var listed []txnListJSON
	decode(t, e.ok("", "transaction", "list", "-o", "json").stdout, &listed)
	if len(listed) != 1 || listed[0].TransactionalID != "tx-orders" || listed[0].State != "Ongoing" {
		t.Fatalf("list: %+v", listed)
	}
	var d txnDescribeJSON
	decode(t, e.ok("", "transaction", "describe", "tx-orders", "-o", "json").stdout, &d)
	if d.State != "Ongoing" || len(d.Partitions) != 1 || d.Partitions[0] != "orders-0" || d.StartTimeMs < 0 || d.ProducerID != listed[0].ProducerID {
		t.Fatalf("describe: %+v", d)
	}
	if r := e.run("", "transaction", "describe", "nobody"); r.code == ExitOK {
		t.Fatalf("describe of an unknown ID succeeded: %s", r.stdout)
	}
	var hanging []txnHangingJSON
	decode(t, e.ok("", "transaction", "find-hanging", "--max-transaction-timeout", "0s", "-o", "json").stdout, &hanging)
	if len(hanging) != 0 {
		t.Fatalf("find-hanging reports a transaction its coordinator runs: %+v", hanging)
	}

	adm := kadm.NewClient(p)
	lso := func() int64 {
		t.Helper()
		o, err := adm.ListCommittedOffsets(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		l, _ := o.Lookup("orders", 0)
		return l.Offset
	}
	start := lso() // the open transaction's first offset
	if r := e.run("", "transaction", "abort", "--topic", "orders", "--partition", "0", "--start-offset", fmt.Sprint(start+100)); r.code == ExitOK {
		t.Fatalf("abort at an offset where no transaction starts succeeded: %s", r.stdout)
	}
	e.ok("", "transaction", "abort", "--topic", "orders", "--partition", "0", "--start-offset", fmt.Sprint(start))
	deadline := time.Now().Add(10 * time.Second)
	for lso() <= start {
		if time.Now().After(deadline) {
			t.Fatalf("the last stable offset stayed at %d after the abort", start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := e.run("", "transaction", "abort", "--topic", "orders"); r.code != ExitUsage {
		t.Fatalf("abort without --partition: exit %d", r.code)
	}
}
