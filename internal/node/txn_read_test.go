package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/record"
)

// TestTransactions_ReadCommitted: with transactional batches in a
// partition (written to the replica directly: transactional produce is
// not served yet) and their markers written by WriteTxnMarkers, franz-go's
// read_committed consumer gets the committed and plain records only and
// stops at the open transaction; read_uncommitted gets everything;
// ListOffsets' latest is the last stable offset for read_committed;
// WriteTxnMarkers answers a fenced coordinator and an unknown partition
// with Kafka's codes.
func TestTransactions_ReadCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	props := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir(), "http.listeners": ""}
	b, _, err := config.LoadBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Broker: b, Props: props})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	part := n.PartitionForTest("t", 0)
	if part == nil {
		t.Fatal("no replica of t-0")
	}
	appendBatch := func(pid int64, seq int32, txn bool, values ...string) {
		t.Helper()
		recs := make([]record.Record, len(values))
		for i, v := range values {
			recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(v)}
		}
		opts := record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), Transactional: txn}
		if pid >= 0 {
			opts.ProducerID, opts.BaseSequence = pid, seq
		}
		if txn {
			part.AllowTransaction(pid, 0, part.VerificationGuard(pid, 0, false)) // as if verified with a coordinator
		}
		pend, err := part.Append(record.Build(recs, opts), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := pend.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	markers := func(coordinatorEpoch int32, ends map[int64]bool, topic string) *kmsg.WriteTxnMarkersResponse {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		for _, pid := range slices.Sorted(func(yield func(int64) bool) {
			for k := range ends {
				if !yield(k) {
					return
				}
			}
		}) {
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.Committed, m.CoordinatorEpoch = pid, ends[pid], coordinatorEpoch
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic, mt.Partitions = topic, []int32{0}
			m.Topics = append(m.Topics, mt)
			req.Markers = append(req.Markers, m)
		}
		// Straight to the broker: the client would check the topics
		// against its metadata first.
		r, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.WriteTxnMarkersResponse)
	}
	codes := func(resp *kmsg.WriteTxnMarkersResponse) []int16 {
		var out []int16
		for _, m := range resp.Markers {
			for _, mt := range m.Topics {
				for _, p := range mt.Partitions {
					out = append(out, p.ErrorCode)
				}
			}
		}
		return out
	}

	appendBatch(-1, 0, false, "p0")
	appendBatch(5000, 0, true, "a0", "a1")
	appendBatch(6000, 0, true, "c0")
	appendBatch(-1, 0, false, "p1")
	appendBatch(6000, 1, true, "c1")
	if got := codes(markers(3, map[int64]bool{5000: false, 6000: true}, "t")); !slices.Equal(got, []int16{0, 0}) {
		t.Fatalf("markers answered %v", got)
	}
	appendBatch(5000, 2, true, "open0") // never ended
	openAt := part.LogEndOffset() - 1
	appendBatch(-1, 0, false, "p2") // plain, after the open transaction

	if got := codes(markers(2, map[int64]bool{6000: true}, "t")); !slices.Equal(got, []int16{kerr.TransactionCoordinatorFenced.Code}) {
		t.Fatalf("a marker from an older coordinator: %v", got)
	}
	if got := codes(markers(3, map[int64]bool{6000: true}, "missing")); !slices.Equal(got, []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Fatalf("a marker for a missing topic: %v", got)
	}

	consume := func(level kgo.IsolationLevel, want int) []string {
		t.Helper()
		c, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("t"), kgo.FetchIsolationLevel(level),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var got []string
		for len(got) < want {
			fs := c.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("poll: %v (got %v)", err, got)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		// Nothing more is served: whatever was readable came in the
		// fetches that brought the expected count.
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		c.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		return got
	}
	if got, want := consume(kgo.ReadCommitted(), 4), []string{"p0", "c0", "p1", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	if got, want := consume(kgo.ReadUncommitted(), 8), []string{"p0", "a0", "a1", "c0", "p1", "c1", "open0", "p2"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted: %v, want %v", got, want)
	}

	for _, tc := range []struct {
		level int8
		want  int64
	}{{0, part.HighWatermark()}, {1, openAt}} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = tc.level
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].Partitions[0]; got.ErrorCode != 0 || got.Offset != tc.want {
			t.Fatalf("ListOffsets isolation %d: offset %d code %d, want %d", tc.level, got.Offset, got.ErrorCode, tc.want)
		}
	}

	// The open transaction ends: read_committed reaches the end.
	if got := codes(markers(3, map[int64]bool{5000: false}, "t")); !slices.Equal(got, []int16{0}) {
		t.Fatalf("abort answered %v", got)
	}
	if got, want := consume(kgo.ReadCommitted(), 5), []string{"p0", "c0", "p1", "c1", "p2"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after the abort: %v, want %v", got, want)
	}
}
