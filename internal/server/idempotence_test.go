package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/fjordtest"
	"github.com/fjordstream/fjord/internal/record"
)

// TestProduce_IdempotentExactlyOnceThroughDroppedResponses runs franz-go's
// default (idempotent, acks=all) producer through a proxy that swallows the
// responses to three Produce requests the broker applied (and closes their
// connections), so the client
// retries batches the broker already has: every record must be stored
// exactly once, in order.
func TestProduce_IdempotentExactlyOnceThroughDroppedResponses(t *testing.T) {
	px := fjordtest.NewProxy(t, "")
	listen := fjordtest.FreeAddr(t)
	startNode(t, t.TempDir(), "listeners", "PLAINTEXT://"+listen, "advertised.listeners", "PLAINTEXT://"+px.Addr())
	px.SetTarget(listen)
	cl, adm := newClient(t, px.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(64),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(200*time.Millisecond)) // re-learn the broker quickly after a dropped connection
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}

	const total = 600
	var (
		mu    sync.Mutex
		acked []string
		errs  []error
	)
	for i := range total {
		if i%200 == 50 { // three times, while producing
			// The armed drop takes the next Produce request; records
			// produced since the last arming guarantee there was one.
			waitFor(t, "the previous response to be swallowed", func() bool { return px.Dropped() >= i/200 })
			px.DropResponses(1, int16(kmsg.Produce))
		}
		r := &kgo.Record{Topic: "idem", Value: fmt.Appendf(nil, "r%05d", i)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			acked = append(acked, string(r.Value))
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := px.Dropped(); d != 3 {
		t.Fatalf("%d Produce responses swallowed, want 3: the test did not exercise retries", d)
	}
	if len(errs) > 0 {
		t.Fatalf("%d records failed, first: %v", len(errs), errs[0])
	}

	got := consumeN(t, px.Addr(), "idem", total)
	if len(got) != total || len(acked) != total {
		t.Fatalf("%d acknowledged, %d stored, want %d", len(acked), len(got), total)
	}
	for i, r := range got {
		if want := fmt.Sprintf("r%05d", i); string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("offset %d holds %q (at offset %d), want %q: a retry was written again or lost", i, r.Value, r.Offset, want)
		}
	}
	// Nothing past the records: a late duplicate would show up here.
	end, err := adm.ListEndOffsets(ctx, "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("idem", 0); o.Offset != total {
		t.Fatalf("log end offset %d, want %d", o.Offset, total)
	}
}

// idempotentProduce is a Produce request (v9) of one batch from producer
// pid for partition 0 of topic.
func idempotentProduce(topic string, pid int64, epoch int16, seq int32, n int) *kmsg.ProduceRequest {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "s%d", int(seq)+i)}
	}
	b := record.Build(recs, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	return rawProduce(topic, b)
}

func rawProduce(topic string, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestRaw_IdempotentProduceCodes checks the wire answers: a retry gets the
// original's offset, sequence and epoch violations get Kafka's codes, two
// batches in one partition get INVALID_RECORD, and deduplication survives
// a restart.
func TestRaw_IdempotentProduceCodes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := dialRaw(t, n.Addr())
	corr := int32(0)
	send := func(req kmsg.Request) *kmsg.ProduceResponseTopicPartition {
		t.Helper()
		corr++
		c.send(req, corr)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		c.recv(resp)
		return &resp.Topics[0].Partitions[0]
	}

	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	corr++
	c.send(init, corr)
	ir := kmsg.NewPtrInitProducerIDResponse()
	ir.Version = 4
	c.recv(ir)
	if ir.ErrorCode != 0 || ir.ProducerID < 0 || ir.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId: %+v", ir)
	}
	pid := ir.ProducerID

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "codes", 1, 1
	create.Topics = append(create.Topics, ct)
	corr++
	c.send(create, corr)
	cr := kmsg.NewPtrCreateTopicsResponse()
	c.recv(cr)
	if cr.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v", kerr.ErrorForCode(cr.Topics[0].ErrorCode))
	}

	steps := []struct {
		name     string
		req      *kmsg.ProduceRequest
		wantErr  *kerr.Error
		wantBase int64
	}{
		{"first batch", idempotentProduce("codes", pid, 0, 0, 3), nil, 0},
		{"second batch", idempotentProduce("codes", pid, 0, 3, 2), nil, 3},
		{"retry of the first", idempotentProduce("codes", pid, 0, 0, 3), nil, 0},
		{"retry of the second", idempotentProduce("codes", pid, 0, 3, 2), nil, 3},
		{"gap", idempotentProduce("codes", pid, 0, 9, 1), kerr.OutOfOrderSequenceNumber, -1},
		{"new epoch not at 0", idempotentProduce("codes", pid, 1, 5, 1), kerr.OutOfOrderSequenceNumber, -1},
		{"new epoch at 0", idempotentProduce("codes", pid, 1, 0, 1), nil, 5},
		{"old epoch", idempotentProduce("codes", pid, 0, 5, 1), kerr.InvalidProducerEpoch, -1},
		{"two batches", rawProduce("codes", append(idempotentProduce("codes", pid, 1, 1, 1).Topics[0].Partitions[0].Records,
			idempotentProduce("codes", pid, 1, 2, 1).Topics[0].Partitions[0].Records...)), kerr.InvalidRecord, -1},
		{"next in sequence", idempotentProduce("codes", pid, 1, 1, 1), nil, 6},
	}
	for _, s := range steps {
		sp := send(s.req)
		if err := kerr.ErrorForCode(sp.ErrorCode); err != s.wantErr && !(s.wantErr == nil && err == nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if sp.BaseOffset != s.wantBase {
			t.Fatalf("%s: base offset %d, want %d", s.name, sp.BaseOffset, s.wantBase)
		}
	}

	// A restart keeps the producer state (snapshot written at close).
	c.nc.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, dir)
	c = dialRaw(t, n.Addr())
	if sp := send(idempotentProduce("codes", pid, 1, 1, 1)); sp.ErrorCode != 0 || sp.BaseOffset != 6 {
		t.Fatalf("retry after restart: error %v, base offset %d, want 6", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if sp := send(idempotentProduce("codes", pid, 1, 2, 1)); sp.ErrorCode != 0 || sp.BaseOffset != 7 {
		t.Fatalf("next batch after restart: error %v, base offset %d, want 7", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}
