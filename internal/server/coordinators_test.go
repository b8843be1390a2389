package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
)

// The group coordinator follows the leadership of __consumer_offsets
// partitions: loaded where this node leads, unloaded when leadership moves
// away (FindCoordinator then names the new leader), reloaded in the new
// epoch when it comes back; a coordinator loaded in an old epoch cannot
// append.
func TestCoordinators_FollowLeadership(t *testing.T) {
	cfg, _, err := config.LoadBroker(map[string]string{"log.dirs": t.TempDir(), "offsets.topic.num.partitions": "2"})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	loader := metadata.NewLoader(metadata.NewImage("c"))
	parts := partition.NewManager(partition.ManagerConfig{Dir: cfg.LogDirs[0], NodeID: 1}, logger)
	t.Cleanup(func() { _ = parts.Close() })
	loader.Subscribe(metadata.PublisherFunc(func(d *metadata.Delta, _ *metadata.Image) {
		if err := parts.ApplyDelta(d, cfg.TopicConfig, time.Now()); err != nil {
			t.Errorf("partitions: %v", err)
		}
	}))
	id := metadata.NewTopicID()
	offset := int64(0)
	apply := func(recs ...metadata.Record) {
		t.Helper()
		if _, err := loader.Apply(recs, offset); err != nil {
			t.Fatal(err)
		}
		offset++
	}
	apply(
		&metadata.RegisterBrokerRecord{BrokerID: 1, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "one", Port: 9092}}},
		&metadata.RegisterBrokerRecord{BrokerID: 2, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "two", Port: 9093}}},
		&metadata.TopicRecord{Name: group.OffsetsTopic, TopicID: id},
		&metadata.PartitionRecord{PartitionID: 0, TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1},
		&metadata.PartitionRecord{PartitionID: 1, TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1},
	)
	groups := group.NewService(group.ServiceConfig{Group: group.Config{NumPartitions: 2}}, logger)
	t.Cleanup(func() { _ = groups.Close() })
	b := NewBroker(Config{NodeID: 1, AdvertisedHost: "one", AdvertisedPort: 9092, Broker: cfg}, loader, nil, parts, groups, logger)
	loader.Subscribe(metadata.PublisherFunc(b.PublishMetadata))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := b.StartGroups(ctx); err != nil {
		t.Fatal(err)
	}
	var g string // a group of partition 0
	for i := 0; ; i++ {
		g = "g" + string(rune('a'+i))
		if groups.PartitionFor(g) == 0 {
			break
		}
	}
	served := func(p int32) bool {
		st := groups.Status(p)
		return st == coordinator.StatusActive || st == coordinator.StatusLoading
	}
	if !served(0) || !served(1) {
		t.Fatalf("partitions led here not loaded: %v %v", groups.Status(0), groups.Status(1))
	}
	if c := b.findCoordinator(0, g, ""); c.ErrorCode != 0 || c.NodeID != 1 || c.Host != "one" {
		t.Fatalf("coordinator of %s: %+v", g, c)
	}

	// Leadership of partition 0 moves to broker 2.
	apply(&metadata.PartitionChangeRecord{PartitionID: 0, TopicID: id, Leader: 2, ISR: []int32{2}})
	if served(0) || !served(1) {
		t.Fatalf("after the move: partition 0 %v, partition 1 %v", groups.Status(0), groups.Status(1))
	}
	if c := b.findCoordinator(0, g, ""); c.ErrorCode != 0 || c.NodeID != 2 || c.Host != "two" || c.Port != 9093 {
		t.Fatalf("coordinator of %s after the move: %+v", g, c)
	}
	if part := b.partitionFor(group.OffsetsTopic, 0); part.Role() != partition.RoleFollower {
		t.Fatalf("replica of partition 0 is %v", part.Role())
	}

	// A coordinator loaded in epoch 0 is fenced once leadership came back
	// in epoch 2; the reload happens in epoch 2.
	apply(&metadata.PartitionChangeRecord{PartitionID: 0, TopicID: id, Leader: 1, ISR: []int32{1}})
	if !served(0) || b.coordEpochs[0] != 2 {
		t.Fatalf("partition 0 not reloaded in epoch 2: %v, epoch %d", groups.Status(0), b.coordEpochs[0])
	}
	stale := &coordinatorLog{part: b.partitionFor(group.OffsetsTopic, 0), now: time.Now, leaderEpoch: 0}
	if _, err := stale.Append(ctx, []coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}); !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("append in a stale epoch: %v", err)
	}
	fresh := &coordinatorLog{part: b.partitionFor(group.OffsetsTopic, 0), now: time.Now, leaderEpoch: 2}
	if _, err := fresh.Append(ctx, []coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatalf("append in the current epoch: %v", err)
	}

	// No live leader: COORDINATOR_NOT_AVAILABLE.
	apply(&metadata.PartitionChangeRecord{PartitionID: 0, TopicID: id, Leader: metadata.NoLeader, ISR: []int32{}})
	if c := b.findCoordinator(0, g, ""); c.ErrorCode == 0 || served(0) {
		t.Fatalf("coordinator of a leaderless partition: %+v (status %v)", c, groups.Status(0))
	}
}
