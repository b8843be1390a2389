package compat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// The transactions of real clients against a broker process: what each
// commits is read by read_committed consumers, what each aborts only by
// read_uncommitted ones.

// txnWrite runs franz-go transactions on topic: committed ones named
// "c<i>-<j>", aborted ones "a<i>-<j>".
func txnWrite(t *testing.T, addr, topic string, plan []bool) (committed, aborted []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("franz-"+topic), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i, commit := range plan {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 5 {
			v := fmt.Sprintf("a%d-%d", i, j)
			if commit {
				v = fmt.Sprintf("c%d-%d", i, j)
				committed = append(committed, v)
			} else {
				aborted = append(aborted, v)
			}
			if err := cl.ProduceSync(ctx(t), kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx(t), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	return committed, aborted
}

// readValues reads topic from the start with franz-go until want records
// came, then briefly for more; sorted.
func readValues(t *testing.T, addr, topic string, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	for len(got) < want {
		fs := c.PollFetches(ctx(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v (got %d of %d)", err, len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	short, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
	defer cancel()
	c.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	slices.Sort(got)
	return got
}

// TestKcat_ReadCommitted: librdkafka's consumer with
// isolation.level=read_committed (and its default, read_committed too)
// drops the aborted transactions' records and the markers; with
// read_uncommitted it reads them.
func TestKcat_ReadCommitted(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	b := startBroker(t)
	const topic = "kcat-txn"
	createTopic(t, b.Addr(), topic, 2)
	committed, aborted := txnWrite(t, b.Addr(), topic, []bool{true, false, true, false, true})
	for _, tc := range []struct {
		level string
		want  []string
	}{
		{"read_committed", committed},
		{"read_uncommitted", append(slices.Clone(committed), aborted...)},
	} {
		out := mustRun(t, "", kcat, "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n",
			"-X", "isolation.level="+tc.level).stdout
		got := strings.Fields(out)
		if !slices.Equal(sorted(got), sorted(tc.want)) {
			t.Errorf("kcat %s: %v, want %v", tc.level, sorted(got), sorted(tc.want))
		}
	}
}

// confluentTxnScript runs librdkafka's transactional producer: each
// argument after the topic is a transaction, "c:" or "a:" then its
// comma-separated values.
const confluentTxnScript = `
import sys
from confluent_kafka import Producer
addr, topic = sys.argv[1], sys.argv[2]
p = Producer({"bootstrap.servers": addr, "transactional.id": "confluent-" + topic})
p.init_transactions(30)
for spec in sys.argv[3:]:
    kind, values = spec.split(":", 1)
    p.begin_transaction()
    for v in values.split(","):
        p.produce(topic, value=v.encode())
    p.flush(30)
    if kind == "c":
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)
print("done")
`

// TestConfluentKafka_TransactionalProducer: confluent-kafka-python's
// (librdkafka's) transactional producer commits and aborts; franz-go's
// read_committed consumer sees the committed records only.
func TestConfluentKafka_TransactionalProducer(t *testing.T) {
	python := fjordtest.RequireTool(t, fjordtest.ToolConfluentKafka)
	b := startBroker(t)
	const topic = "confluent-txn"
	createTopic(t, b.Addr(), topic, 3)
	out := mustRun(t, "", python, "-c", confluentTxnScript, b.Addr(), topic,
		"c:one,two,three", "a:gone1,gone2", "c:four,five").stdout
	if !strings.Contains(out, "done") {
		t.Fatalf("script output: %s", out)
	}
	want := []string{"five", "four", "one", "three", "two"}
	if got := readValues(t, b.Addr(), topic, kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	if got := readValues(t, b.Addr(), topic, kgo.ReadUncommitted(), len(want)+2); len(got) != len(want)+2 {
		t.Fatalf("read_uncommitted: %v", got)
	}
}

// TestSarama_Transactions: sarama's transactional producer commits and
// aborts; franz-go's read_committed consumer sees the committed records
// only.
func TestSarama_Transactions(t *testing.T) {
	b := startBroker(t)
	const topic = "sarama-txn"
	createTopic(t, b.Addr(), topic, 2)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = "sarama-" + topic
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var want []string
	for i, commit := range []bool{true, false, true} {
		if err := prod.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			v := fmt.Sprintf("s%d-%d", i, j)
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("send %s: %v", v, err)
			}
			if commit {
				want = append(want, v)
			}
		}
		if commit {
			err = prod.CommitTxn()
		} else {
			err = prod.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
	}
	slices.Sort(want)
	if got := readValues(t, b.Addr(), topic, kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
}

// TestKafkaGo_ReadCommitted: kafka-go's Reader with
// IsolationLevel=ReadCommitted stops at the last stable offset: the
// records of a transaction still open are not read, while ReadUncommitted
// reads them. kafka-go itself neither drops aborted transactions' records
// nor skips transaction markers (it returns them as messages, against
// Kafka too), so only the last stable offset is checked; it has no
// transactional producer to test either (its Writer and Client.Produce
// cannot set a producer ID).
func TestKafkaGo_ReadCommitted(t *testing.T) {
	b := startBroker(t)
	const topic = "kafkago-txn"
	createTopic(t, b.Addr(), topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("kafkago-open"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var open []string
	for i := range 5 {
		v := fmt.Sprintf("open-%d", i)
		open = append(open, v)
		if err := cl.ProduceSync(ctx(t), kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Plain records after the open transaction: behind the last stable
	// offset too.
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(ctx(t), kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		level kafka.IsolationLevel
		want  []string
	}{
		{kafka.ReadCommitted, nil},
		{kafka.ReadUncommitted, append(slices.Clone(open), "after")},
	} {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: 0,
			MaxWait: 200 * time.Millisecond, IsolationLevel: tc.level})
		var got []string
		for {
			rctx, cancel := context.WithTimeout(ctx(t), 1500*time.Millisecond) // a quiet partition is read out
			m, err := r.ReadMessage(rctx)
			cancel()
			if err != nil {
				break
			}
			got = append(got, string(m.Value))
		}
		r.Close()
		if !slices.Equal(sorted(got), sorted(tc.want)) {
			t.Errorf("kafka-go isolation %d: %q, want %q", tc.level, sorted(got), sorted(tc.want))
		}
	}
}
