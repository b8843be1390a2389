package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func produceN(t *testing.T, cl *kgo.Client, topic string, n int, partition int32) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{byte(i)}, 100+i%50),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func consumeN(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, _ := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(got), n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

func TestProduceConsume_Codecs(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, codec := range []struct {
		name string
		c    kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		t.Run(codec.name, func(t *testing.T) {
			topic := "codec-" + codec.name
			cl, adm := newClient(t, n.Addr(), kgo.ProducerBatchCompression(codec.c), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if _, err := adm.CreateTopic(testCtx(t), 1, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			sent := produceN(t, cl, topic, 500, 0)
			got := consumeN(t, n.Addr(), topic, len(sent))
			for i, r := range got {
				if r.Offset != int64(i) || !bytes.Equal(r.Key, sent[i].Key) || !bytes.Equal(r.Value, sent[i].Value) || string(r.Headers[0].Value) != fmt.Sprint(i) {
					t.Fatalf("record %d differs: offset %d key %q", i, r.Offset, r.Key)
				}
			}
		})
	}
}

func TestListOffsets_And_DeleteRecords(t *testing.T) {
	n := startNode(t, t.TempDir())
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "lo"); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second).UnixMilli()
	produceN(t, cl, "lo", 100, 0)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := adm.ListEndOffsets(ctx, "lo")
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("start %d", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 100 {
		t.Fatalf("end %d", o.Offset)
	}
	byTime, _ := adm.ListOffsetsAfterMilli(ctx, before, "lo")
	if o, _ := byTime.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("by time %d", o.Offset)
	}
	future, _ := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(time.Hour).UnixMilli(), "lo")
	if o, _ := future.Lookup("lo", 0); o.Offset != 100 {
		t.Fatalf("future timestamp: %d (kadm maps 'none' to the end offset)", o.Offset)
	}

	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {At: 40}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("lo", 0); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete records: %+v", r)
	}
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {At: 1000}}})
	if r, _ := dr.Lookup("lo", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("beyond high watermark: %v", r.Err)
	}
	start, _ = adm.ListStartOffsets(ctx, "lo")
	if o, _ := start.Lookup("lo", 0); o.Offset != 40 {
		t.Fatalf("start after delete %d", o.Offset)
	}
	got := consumeN(t, n.Addr(), "lo", 60)
	if got[0].Offset != 40 {
		t.Fatalf("first consumed offset %d", got[0].Offset)
	}
	// Only a topic whose cleanup.policy includes delete lets records be
	// deleted (Kafka's POLICY_VIOLATION); an empty policy (Kafka 4.2)
	// keeps everything too.
	for _, policy := range []string{"compact", ""} {
		name := "lo-policy-" + policy
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr(policy)}, name); err != nil {
			t.Fatalf("create with cleanup.policy=%q: %v", policy, err)
		}
		produceN(t, cl, name, 3, 0)
		dr, err = adm.DeleteRecords(ctx, kadm.Offsets{name: {0: {At: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := dr.Lookup(name, 0); !errors.Is(r.Err, kerr.PolicyViolation) {
			t.Fatalf("delete records with cleanup.policy=%q: %v, want POLICY_VIOLATION", policy, r.Err)
		}
	}
	// The coordinators' state is not the user's to truncate. (The topic
	// is created on the first group coordinator lookup, as Kafka does.)
	if r := adm.FindGroupCoordinators(ctx, "g"); r.Error() != nil {
		t.Fatal(r.Error())
	}
	dr, err = adm.DeleteRecords(ctx, kadm.Offsets{"__consumer_offsets": {0: {At: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("__consumer_offsets", 0); !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("delete records of __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", r.Err)
	}
}

func TestAlterConfigs_TakeEffectLive(t *testing.T) {
	n := startNode(t, t.TempDir())
	// Uncompressed, so the batch size is what the test says it is.
	cl, adm := newClient(t, n.Addr(), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "live"); err != nil {
		t.Fatal(err)
	}
	r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("200")}}, "live")
	if err != nil || r[0].Err != nil {
		t.Fatal(err, r)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "live", Value: bytes.Repeat([]byte("x"), 500)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversized record after lowering max.message.bytes: %v", err)
	}
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Op: kadm.DeleteConfig}}, "live")
	if r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "live", Value: bytes.Repeat([]byte("x"), 500)}).FirstErr(); err != nil {
		t.Fatalf("after deleting the override: %v", err)
	}
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("nope")}}, "live")
	if !errors.Is(r[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v", r[0].Err)
	}
}

func TestFetch_LongPollWakesOnProduce(t *testing.T) {
	n := startNode(t, t.TempDir())
	cl, adm := newClient(t, n.Addr(), kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(20*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "poll"); err != nil {
		t.Fatal(err)
	}
	done := make(chan []*kgo.Record, 1)
	go func() { done <- cl.PollFetches(ctx).Records() }()
	time.Sleep(300 * time.Millisecond) // let the fetch park; correctness does not depend on it
	prod, _ := newClient(t, n.Addr())
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "poll", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case recs := <-done:
		if len(recs) != 1 || string(recs[0].Value) != "wake" {
			t.Fatalf("got %v", recs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a fetch waiting 20s was not woken by a produce")
	}
}

func TestRestart_KeepsRecords(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := adm.CreateTopic(testCtx(t), 1, 1, nil, "durable"); err != nil {
		t.Fatal(err)
	}
	sent := produceN(t, cl, "durable", 300, 0)
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir)
	got := consumeN(t, n2.Addr(), "durable", len(sent))
	for i := range sent {
		if !bytes.Equal(got[i].Value, sent[i].Value) || got[i].Offset != int64(i) {
			t.Fatalf("record %d differs after restart", i)
		}
	}
}
