package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
)

// setCordon sets (or, with value "", removes) cordoned.log.dirs on a broker.
func (h *harness) setCordon(t *testing.T, name, value string) error {
	t.Helper()
	return h.ctrl.AlterBrokerConfigs(context.Background(), name, func(cur map[string]string) (map[string]string, error) {
		op := config.AlterOp{Key: config.CordonedLogDirs, Op: config.OpSet, Value: value}
		if value == "" {
			op.Op = config.OpDelete
		}
		return config.IncrementalAlterBroker(cur, []config.AlterOp{op})
	}, false)
}

// A cordoned broker gets no replica of a new topic or a new partition;
// with too few other brokers creation fails as Kafka's does
// (INVALID_REPLICATION_FACTOR, naming the cordon); uncordoned, it takes
// replicas again.
func TestController_PlacementSkipsCordonedBroker(t *testing.T) {
	h := open(t, t.TempDir(), 1, 2, 3, 4)
	ctx := context.Background()
	if err := h.setCordon(t, "4", config.CordonAll); err != nil {
		t.Fatal(err)
	}
	if got := cordonedBrokers(h.ctrl.Image()); !got[4] || len(got) != 1 {
		t.Fatalf("cordoned = %v, want broker 4", got)
	}
	tp, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 6, ReplicationFactor: 3}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.CreatePartitions(ctx, "t", 9, nil, false); err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for _, p := range h.ctrl.Image().Topic("t").Partitions {
		if slices.Contains(p.Replicas, 4) {
			t.Fatalf("partition %d placed on cordoned broker 4: %v", p.Index, p.Replicas)
		}
		leaders[p.Replicas[0]]++
	}
	if leaders[1] != 3 || leaders[2] != 3 || leaders[3] != 3 || len(tp.Partitions) != 6 {
		t.Errorf("leaders over the uncordoned brokers: %v", leaders)
	}
	_, err = h.ctrl.CreateTopic(ctx, TopicSpec{Name: "wide", Partitions: 1, ReplicationFactor: 4}, false)
	if !errors.Is(err, kerr.InvalidReplicationFactor) || !strings.Contains(err.Error(), "cordoned") {
		t.Fatalf("RF 4 with one of 4 brokers cordoned: %v", err)
	}
	// An explicit assignment is the operator's: it may name the broker.
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "manual", Partitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {4}}}, false); err != nil {
		t.Fatalf("explicit assignment onto a cordoned broker: %v", err)
	}
	if err := h.setCordon(t, "4", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "wide", Partitions: 1, ReplicationFactor: 4}, false); err != nil {
		t.Fatalf("after uncordoning: %v", err)
	}
}

// cordoned.log.dirs names one broker's log directories: the cluster-wide
// default resource refuses it.
func TestController_CordonRefusedClusterWide(t *testing.T) {
	h := open(t, t.TempDir(), 1)
	err := h.setCordon(t, "", config.CordonAll)
	if !errors.Is(err, config.ErrInvalidConfig) || !strings.Contains(err.Error(), "broker id must be specified") {
		t.Fatalf("cluster-wide cordon: %v", err)
	}
}

// The balancer never moves replicas onto a cordoned broker (a new, empty
// broker that is cordoned gets nothing), and moves a live cordoned
// broker's replicas off at once, as a leaving broker's.
func TestDecideBalance_Cordoned(t *testing.T) {
	img := balanceImage(t, 4, sixOnThree)
	if d := decideBalance(img, allLive, map[int32]bool{4: true}, nil, nil, time.Now(), balOn); len(d.moves) > 0 {
		t.Fatalf("moves onto cordoned broker 4: %+v", d)
	}
	// Broker 4 emptied by a decommission stays empty.
	even := [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}
	if d := decideBalance(balanceImage(t, 4, even), allLive, map[int32]bool{4: true}, nil, nil, time.Now(), balOn); len(d.moves) > 0 {
		t.Fatalf("decommissioned broker refilled: %+v", d)
	}
	spread := [][]int32{{1, 2, 3}, {2, 3, 4}, {3, 4, 1}, {4, 1, 2}}
	cfg := balOn
	cfg.maxMoves = 10
	d := decideBalance(balanceImage(t, 4, spread), allLive, map[int32]bool{4: true}, nil, nil, time.Now(), cfg)
	if len(d.moves) != 3 || !strings.Contains(d.reason, "cordoned") {
		t.Fatalf("cordoned broker 4 not evacuated: %+v", d)
	}
	for _, m := range d.moves {
		if slices.Contains(m.To, 4) || !slices.Contains(m.From, 4) || len(m.To) != 3 {
			t.Errorf("move %+v", m)
		}
	}
	// Evacuation needs enough other brokers: refused, with the reason.
	d = decideBalance(balanceImage(t, 3, [][]int32{{1, 2, 3}}), allLive, map[int32]bool{3: true}, nil, nil, time.Now(), cfg)
	if len(d.moves) > 0 || !strings.Contains(d.reason, "cannot evacuate") {
		t.Fatalf("rf 3 on 2 uncordoned brokers: %+v", d)
	}
}

// A reassignment may not add a replica on a cordoned broker (Kafka's
// INELIGIBLE_REPLICA); one that keeps the replica the broker has is fine.
func TestReassignment_CordonedTargetIneligible(t *testing.T) {
	h := open(t, t.TempDir(), 1, 2, 3)
	if _, err := h.ctrl.CreateTopic(context.Background(), TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {1, 2}}}, false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"2", "3"} {
		if err := h.setCordon(t, id, config.CordonAll); err != nil {
			t.Fatal(err)
		}
	}
	img := h.ctrl.Image()
	_, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{1, 3}}, false, allLive)
	if !errors.Is(err, kerr.IneligibleReplica) || !strings.Contains(err.Error(), "broker 3") {
		t.Fatalf("adding a replica on cordoned broker 3: %v", err)
	}
	if _, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{2, 1}}, false, allLive); err != nil {
		t.Fatalf("reordering onto cordoned broker 2, which holds the replica: %v", err)
	}
}
