package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeProducers_Kadm: an idempotent franz-go producer shows up on
// every partition it wrote to with its epoch and last sequence; a
// producer without idempotence leaves nothing; an unknown topic is an
// error, as against Kafka.
func TestDescribeProducers_Kadm(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	for topic, parts := range map[string]int32{"idem": 2, "plain": 1} {
		if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}

	// One synchronous produce per record: each is its own batch, so the
	// last sequence of a partition is its record count minus one.
	idem, _ := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	wrote := map[int32]int{0: 3, 1: 2}
	before := time.Now().UnixMilli()
	for p, count := range wrote {
		for i := range count {
			r := &kgo.Record{Topic: "idem", Partition: p, Value: []byte{byte(i)}}
			if err := idem.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := time.Now().UnixMilli()
	pid, epoch, err := idem.ProducerID(ctx)
	if err != nil || pid < 0 {
		t.Fatalf("producer ID %d: %v", pid, err)
	}

	plain, _ := newClient(t, n.Addr(), kgo.DisableIdempotentWrite())
	for i := range 3 {
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: "plain", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	got, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"idem": {0: {}, 1: {}}, "plain": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p, count := range wrote {
		dp, ok := got["idem"].Partitions[p]
		if !ok || dp.Err != nil {
			t.Fatalf("idem-%d: present %v, err %v", p, ok, dp.Err)
		}
		if len(dp.ActiveProducers) != 1 {
			t.Fatalf("idem-%d: %d producers %+v, want 1", p, len(dp.ActiveProducers), dp.ActiveProducers)
		}
		ap, ok := dp.ActiveProducers[pid]
		if !ok {
			t.Fatalf("idem-%d: producer %d missing from %+v", p, pid, dp.ActiveProducers)
		}
		if ap.ProducerEpoch != epoch || ap.LastSequence != int32(count-1) ||
			ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
			t.Errorf("idem-%d: %+v, want epoch %d, last sequence %d, coordinator epoch and txn start -1", p, ap, epoch, count-1)
		}
		if ap.LastTimestamp < before || ap.LastTimestamp > after {
			t.Errorf("idem-%d: last timestamp %d outside the produce window [%d, %d]", p, ap.LastTimestamp, before, after)
		}
	}
	if dp, ok := got["plain"].Partitions[0]; !ok || dp.Err != nil || len(dp.ActiveProducers) != 0 {
		t.Errorf("plain-0 after non-idempotent writes: present %v, err %v, producers %+v", ok, dp.Err, dp.ActiveProducers)
	}

	// franz-go resolves leaders from Metadata first, so an unknown topic
	// fails in the client; the broker's own answer is checked below.
	_, err = adm.DescribeProducers(ctx, kadm.TopicsSet{"missing": {0: {}}})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestDescribeProducers_RawErrors sends what kadm would filter out and
// checks the broker's per-partition codes, in request order, and that
// ApiVersions advertises the API.
func TestDescribeProducers_RawErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "two"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, n.Addr())

	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	c.send(av, 1)
	avResp := kmsg.NewPtrApiVersionsResponse()
	avResp.Version = 3
	c.recv(avResp)
	advertised := false
	for _, k := range avResp.ApiKeys {
		if k.ApiKey == 61 {
			advertised = k.MinVersion == 0 && k.MaxVersion == 0
		}
	}
	if !advertised {
		t.Fatalf("ApiVersions does not advertise DescribeProducers v0-v0: %+v", avResp.ApiKeys)
	}

	type want struct {
		topic     string
		partition int32
		code      int16
	}
	cases := []want{
		{"two", 1, 0},
		{"two", 2, kerr.UnknownTopicOrPartition.Code},
		{"two", -1, kerr.UnknownTopicOrPartition.Code},
		{"missing", 0, kerr.UnknownTopicOrPartition.Code},
		{"missing", 3, kerr.UnknownTopicOrPartition.Code},
		{"bad name!", 0, kerr.InvalidTopicException.Code},
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, w := range cases {
		if len(req.Topics) == 0 || req.Topics[len(req.Topics)-1].Topic != w.topic {
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic = w.topic
			req.Topics = append(req.Topics, rt)
		}
		last := &req.Topics[len(req.Topics)-1]
		last.Partitions = append(last.Partitions, w.partition)
	}
	c.send(req, 2)
	resp := kmsg.NewPtrDescribeProducersResponse()
	if corr := c.recv(resp); corr != 2 {
		t.Fatalf("correlation ID %d", corr)
	}
	var gotCases []want
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			gotCases = append(gotCases, want{rt.Topic, rp.Partition, rp.ErrorCode})
			if rp.ErrorCode != 0 && (rp.ErrorMessage == nil || *rp.ErrorMessage == "") {
				t.Errorf("%s-%d: code %d without a message", rt.Topic, rp.Partition, rp.ErrorCode)
			}
			if len(rp.ActiveProducers) != 0 {
				t.Errorf("%s-%d: producers %+v on a partition nobody wrote to", rt.Topic, rp.Partition, rp.ActiveProducers)
			}
		}
	}
	if len(gotCases) != len(cases) {
		t.Fatalf("answered %+v, want %+v", gotCases, cases)
	}
	for i, w := range cases {
		if gotCases[i] != w {
			t.Errorf("answer %d: %+v, want %+v", i, gotCases[i], w)
		}
	}
}
