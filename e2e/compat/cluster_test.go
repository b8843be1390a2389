package compat

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// startCluster runs a three-node cluster in-process where every topic gets
// three replicas and acks=all needs two of them.
func startCluster(t *testing.T) *fjord.Cluster {
	t.Helper()
	c, err := fjord.NewCluster(3,
		fjord.WithConfig("default.replication.factor", "3"),
		fjord.WithConfig("min.insync.replicas", "2"),
		fjord.WithConfig("num.partitions", "3"))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := c.Start(cctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// kcat (librdkafka) against a three-node cluster: it sees three brokers,
// each partition with three replicas all in sync, and its acks=all
// produce reads back in order.
func TestCluster_Kcat(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	c := startCluster(t)
	boot := strings.Join(c.Addrs(), ",")
	const topic = "cluster-kcat"
	createTopic(t, c.Addrs()[0], topic, 3)
	out := mustRun(t, "", kcat, "-b", boot, "-L", "-m", "30").stdout
	if !strings.Contains(out, " 3 brokers:") {
		t.Fatalf("kcat -L does not list three brokers:\n%s", out)
	}
	re := regexp.MustCompile(`partition (\d), leader (\d), replicas: ([\d,]+), isrs: ([\d,]+)`)
	parts := re.FindAllStringSubmatch(out, -1)
	if len(parts) < 3 {
		t.Fatalf("kcat -L lacks partitions:\n%s", out)
	}
	for _, m := range parts {
		if len(strings.Split(m[3], ",")) != 3 || len(strings.Split(m[4], ",")) != 3 {
			t.Fatalf("partition %s: replicas %s isrs %s, want three of each:\n%s", m[1], m[3], m[4], out)
		}
	}
	var in, want []string
	for i := range 300 {
		in = append(in, fmt.Sprintf("k%d:value %d", i%7, i))
	}
	mustRun(t, strings.Join(in, "\n")+"\n", kcat, "-b", boot, "-P", "-t", topic, "-K:", "-X", "acks=all", "-p", "0")
	for _, l := range in {
		k, v, _ := strings.Cut(l, ":")
		want = append(want, k+"="+v)
	}
	got := strings.Split(strings.TrimSuffix(mustRun(t, "", kcat, "-b", boot, "-C", "-t", topic, "-p", "0",
		"-o", "beginning", "-e", "-q", "-f", `%k=%s\n`).stdout, "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d lines, produced %d; first difference near %v", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d: %q vs %q", i, a[i], b[i])
		}
	}
	return "the end"
}

// The seed's kafka-python snippets against a three-node cluster: the
// consumer's Metadata auto-creates test_topic with three replicas.
func TestCluster_KafkaPythonSeed(t *testing.T) {
	python := fjordtest.RequireTool(t, fjordtest.ToolKafkaPython)
	c := startCluster(t)
	addr := c.Addrs()[1]
	consumer := startSeedConsumer(t, python, addr)
	partitions := waitTopicPartitions(t, addr, seedTopic)
	consumer.waitPositioned(t, partitions)
	runSeedProducer(t, python, addr)
	got, want := sorted(consumer.received(t)), sorted(seedMessages)
	if !slices.Equal(got, want) {
		t.Fatalf("seed consumer printed %q, want %q", got, want)
	}
}

// franz-go's idempotent producer and a consumer against the cluster: every
// acknowledged record is read back at its offset.
func TestCluster_FranzGo(t *testing.T) {
	c := startCluster(t)
	const topic = "cluster-franz"
	ledger := produceRecords(t, c.Addrs()[2], topic, kgo.NoCompression(), 2000, 7)
	got := consumeRecords(t, c.Addrs()[0], topic, ledger.Len())
	checkReadBack(t, topic, ledger, got)
}

// sarama creates, lists and deletes a replicated topic through any broker
// (each forwards to the active controller) and produces with acks=all.
func TestCluster_Sarama(t *testing.T) {
	c := startCluster(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_1_0_0
	cfg.Admin.Timeout = cmdTimeout
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	adm, err := sarama.NewClusterAdmin([]string{c.Addrs()[1]}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic("cluster-sarama", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	md, err := adm.DescribeTopics([]string{"cluster-sarama"})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 2 {
		t.Fatalf("describe: %+v %v", md, err)
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != 3 || len(p.Isr) != 3 {
			t.Fatalf("partition %d: replicas %v isr %v", p.ID, p.Replicas, p.Isr)
		}
	}
	prod, err := sarama.NewSyncProducer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "cluster-sarama", Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	prod.Close()
	if err := adm.DeleteTopic("cluster-sarama"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, func() ([]string, error) {
		topics, err := adm.ListTopics()
		var names []string
		for n := range topics {
			names = append(names, n)
		}
		return names, err
	})
}

// kafka-go's Writer (its default acks=0 and acks=all) and Reader against
// the cluster: every record written is read back.
func TestCluster_KafkaGo(t *testing.T) {
	c := startCluster(t)
	const topic = "cluster-kafka-go"
	createTopic(t, c.Addrs()[0], topic, 3)
	for _, acks := range []kafka.RequiredAcks{kafka.RequireNone, kafka.RequireAll} {
		w := &kafka.Writer{Addr: kafka.TCP(c.Addrs()...), Topic: topic, RequiredAcks: acks, BatchTimeout: 10 * time.Millisecond}
		var msgs []kafka.Message
		for i := range 100 {
			msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%d-%d", acks, i))})
		}
		if err := w.WriteMessages(ctx(t), msgs...); err != nil {
			t.Fatalf("acks %d: %v", acks, err)
		}
		_ = w.Close()
	}
	// Each partition is read until it is quiet, in rounds, until all 200
	// are seen or 30 s pass: under load (fault tests running beside this
	// one) a broker can lose its session, and a new leader shows the
	// acks=0 records only once its followers have fetched them again.
	seen := map[string]bool{}
	readers := make([]*kafka.Reader, 3)
	for p := range readers {
		readers[p] = kafka.NewReader(kafka.ReaderConfig{Brokers: c.Addrs(), Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
		defer readers[p].Close()
	}
	for deadline := time.Now().Add(30 * time.Second); len(seen) < 200 && time.Now().Before(deadline); {
		for _, r := range readers {
			for len(seen) < 200 {
				rctx, cancel := context.WithTimeout(ctx(t), 1500*time.Millisecond) // a quiet partition is read out
				m, err := r.ReadMessage(rctx)
				cancel()
				if err != nil {
					break
				}
				seen[string(m.Value)] = true
			}
		}
	}
	if len(seen) != 200 {
		t.Fatalf("read back %d of 200 records", len(seen))
	}
}
