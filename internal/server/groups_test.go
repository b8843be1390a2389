package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
)

// TestCoordinatorLog_AppendLoad appends coordinator records larger than
// max.message.bytes in one call (split into several batches), a control
// batch and tombstones, and checks Load replays exactly the records, in
// order, with nil values for tombstones.
func TestCoordinatorLog_AppendLoad(t *testing.T) {
	b, _, err := config.LoadBroker(map[string]string{"log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := b.TopicConfig(map[string]string{"cleanup.policy": "compact", "max.message.bytes": "4096"})
	if err != nil {
		t.Fatal(err)
	}
	id := partition.ID{Topic: "__consumer_offsets", Partition: 0}
	part, err := partition.Open(id, [16]byte{1}, t.TempDir(), cfg, 1, 0, log.Options{}, record.NewDecompressor(record.DefaultMaxDecompressedBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	cl := &coordinatorLog{part: part, now: time.Now}
	ctx := context.Background()

	var want [][2][]byte
	for i := range 40 {
		kv := [2][]byte{fmt.Appendf(nil, "key-%d", i), make([]byte, 500)}
		if i%7 == 3 {
			kv[1] = nil // tombstone
		}
		want = append(want, kv)
	}
	last, err := cl.Append(ctx, records(want[:30]))
	if err != nil {
		t.Fatal(err)
	}
	if last != 29 {
		t.Fatalf("last offset %d, want 29", last)
	}
	// A transaction marker among the records (a control batch the
	// readers skip); the next Append makes it durable and visible.
	if _, err := part.WriteMarker(1, 0, true, 0, time.Now()); err != nil {
		t.Fatalf("write marker: %v", err)
	}
	if _, err := cl.Append(ctx, records(want[30:])); err != nil {
		t.Fatal(err)
	}

	buf, err := part.Read(0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	for ; len(buf) > 0; batches++ {
		h, err := record.ParseHeader(buf)
		if err != nil {
			t.Fatal(err)
		}
		if h.Size() > int64(cfg.MaxMessageBytes) {
			t.Errorf("batch at %d: %d bytes, above max.message.bytes", h.BaseOffset, h.Size())
		}
		buf = buf[h.Size():]
	}
	if batches < 5 { // 40 records of 500 bytes in batches under 4 KiB, plus the control batch
		t.Errorf("%d batches: the appends were not split", batches)
	}

	var got [][2][]byte
	if err := cl.Load(ctx, replayFunc(func(r coordinator.Record) {
		got = append(got, [2][]byte{r.Key, r.Value})
	})); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i][0]) != string(want[i][0]) || (got[i][1] == nil) != (want[i][1] == nil) || len(got[i][1]) != len(want[i][1]) {
			t.Errorf("record %d: key %q value %d bytes (nil %v), want key %q value %d bytes (nil %v)",
				i, got[i][0], len(got[i][1]), got[i][1] == nil, want[i][0], len(want[i][1]), want[i][1] == nil)
		}
	}
}

// TestCoordinatorLog_LoadPastHighWatermark promotes a follower whose copy
// of the coordinator log runs past its high watermark (the old leader
// acknowledged records the follower has not yet seen committed) and checks
// the new coordinator replays every record, as Kafka's loader does: one
// that stopped at the high watermark would forget committed offsets.
func TestCoordinatorLog_LoadPastHighWatermark(t *testing.T) {
	b, _, err := config.LoadBroker(map[string]string{"log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := b.TopicConfig(map[string]string{"cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	id := partition.ID{Topic: "__consumer_offsets", Partition: 0}
	open := func(local int32) *partition.Partition {
		p, err := partition.Open(id, [16]byte{1}, t.TempDir(), cfg, local, 3, log.Options{}, record.NewDecompressor(record.DefaultMaxDecompressedBytes))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	now := time.Now()
	follower := open(2)
	follower.ApplyLeadership(partition.Leadership{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	var recs []record.Record
	for i := range 5 {
		recs = append(recs, record.Record{OffsetDelta: int32(i), Key: fmt.Appendf(nil, "key-%d", i), Value: []byte("v")})
	}
	copied := record.Build(recs, record.BuildOptions{BaseTimestamp: now.UnixMilli(), PartitionLeaderEpoch: 4})
	if _, err := follower.AppendAsFollower(1, 4, copied, now); err != nil {
		t.Fatal(err)
	}
	follower.ApplyLeadership(partition.Leadership{Leader: 2, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	if hw, leo := follower.HighWatermark(), follower.LogEndOffset(); hw >= leo {
		t.Fatalf("high watermark %d, log end %d: the test needs records above the high watermark", hw, leo)
	}
	cl := &coordinatorLog{part: follower, now: time.Now}
	var got []string
	if err := cl.Load(context.Background(), replayFunc(func(r coordinator.Record) {
		got = append(got, string(r.Key))
	})); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("replayed %v, want all %d records", got, len(recs))
	}
}

// records converts key/value pairs to coordinator records.
func records(kvs [][2][]byte) []coordinator.Record {
	out := make([]coordinator.Record, len(kvs))
	for i, kv := range kvs {
		out[i] = coordinator.Record{Key: kv[0], Value: kv[1]}
	}
	return out
}

// replayFunc is a coordinator.Replayer taking records only.
type replayFunc func(coordinator.Record)

func (f replayFunc) Replay(r coordinator.Record) error { f(r); return nil }
func (replayFunc) Marker(int64, bool)                  {}
