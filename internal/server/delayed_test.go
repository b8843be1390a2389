package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/record"
)

// Records produced with acks=0 (kafka-go's Writer default) must become
// visible on their own: with Fjord's durable default the high watermark
// follows the flushed offset, and an acks=0 produce used to leave its
// records unflushed, and so unread, until a later acknowledged write.
func TestProduce_AcksZeroRecordsBecomeVisible(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx := testCtx(t)
	_, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "acks0"); err != nil {
		t.Fatal(err)
	}
	prod, _ := newClient(t, n.Addr(), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(),
		kgo.DefaultProduceTopic("acks0"))
	const count = 20
	for i := range count {
		prod.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons, _ := newClient(t, n.Addr(), kgo.ConsumeTopics("acks0"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	readCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	got := 0
	for got < count {
		fs := cons.PollFetches(readCtx)
		if readCtx.Err() != nil {
			t.Fatalf("read %d of %d records produced with acks=0", got, count)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) || r.Value[0] != byte(got) {
				t.Fatalf("record %d at offset %d holds %v", got, r.Offset, r.Value)
			}
			got++
		})
	}
}

// A fetch that finds some data but fewer than MinBytes waits, as Kafka's
// does, until MinBytes are there (or MaxWait passes); it used to answer at
// once with whatever it had.
func TestFetch_WaitsForMinBytes(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx := testCtx(t)
	prod, adm := newClient(t, n.Addr(), kgo.DefaultProduceTopic("minbytes"))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "minbytes"); err != nil {
		t.Fatal(err)
	}
	produce := func(v string) {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("first")
	c := dialRaw(t, n.Addr())
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 15_000
	req.MinBytes = 100 // more than one small batch (~73 bytes), less than two
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "minbytes"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	c.send(req, 7)
	// Give the fetch time to park (ordering only: the assertion below does
	// not depend on how long this takes).
	time.Sleep(300 * time.Millisecond)
	produce("second")
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if corr := c.recv(resp); corr != 7 {
		t.Fatalf("correlation %d", corr)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("error %d", p.ErrorCode)
	}
	fetched := 0
	for b := p.RecordBatches; len(b) >= 61; {
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		fetched += int(batch.NumRecords)
		b = b[12+int(batch.Length):]
	}
	if fetched != 2 || len(p.RecordBatches) < int(req.MinBytes) {
		t.Fatalf("fetch answered with %d records (%d bytes); MinBytes %d asked it to wait for the second",
			fetched, len(p.RecordBatches), req.MinBytes)
	}
}

// min.insync.replicas above the ISR's size refuses acks=all writes with
// NOT_ENOUGH_REPLICAS (the message names the ISR), as Kafka does, and
// still takes acks=1 writes.
func TestProduce_NotEnoughReplicas(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx := testCtx(t)
	_, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "minisr"); err != nil {
		t.Fatal(err)
	}
	produce := func(acks int16) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "minisr"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = record.Build([]record.Record{{Value: []byte("v")}}, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		c := dialRaw(t, n.Addr())
		req.Version = 8 // the first with error messages
		c.send(req, 1)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = req.Version
		c.recv(resp)
		return resp.Topics[0].Partitions[0]
	}
	p := produce(-1)
	if p.ErrorCode != kerr.NotEnoughReplicas.Code || p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "1 replica(s), min.insync.replicas is 2") {
		t.Fatalf("acks=all: code %d message %v", p.ErrorCode, deref(p.ErrorMessage))
	}
	if p := produce(1); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("acks=1: code %d offset %d", p.ErrorCode, p.BaseOffset)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// DescribeTopicPartitions pages through partitions with Kafka's cursor.
func TestDescribeTopicPartitions_Pages(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	for _, name := range []string{"dtp-a", "dtp-b"} {
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, name := range []string{"dtp-b", "dtp-a", "nope"} {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		req.Topics = append(req.Topics, rt)
	}
	req.ResponsePartitionLimit = 4
	var seen []string
	for page := 0; page < 5; page++ {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range resp.Topics {
			if *rt.Topic == "nope" {
				if rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
					t.Fatalf("unknown topic: code %d", rt.ErrorCode)
				}
				continue
			}
			for _, p := range rt.Partitions {
				if p.LeaderID != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 || len(p.OfflineReplicas) != 0 {
					t.Fatalf("%s-%d: %+v", *rt.Topic, p.Partition, p)
				}
				seen = append(seen, fmt.Sprintf("%s-%d", *rt.Topic, p.Partition))
			}
		}
		if resp.NextCursor == nil {
			break
		}
		req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := "[dtp-a-0 dtp-a-1 dtp-a-2 dtp-b-0 dtp-b-1 dtp-b-2]"
	if got := fmt.Sprint(seen); got != want {
		t.Fatalf("pages gave %s, want %s", got, want)
	}
}
