package controller

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/metadata"
)

// balanceImage is a cluster of brokers 1..n and a topic t whose partitions
// have the given replicas; reassigning names partitions in a reassignment.
func balanceImage(t *testing.T, n int32, replicas [][]int32, reassigning ...int32) *metadata.Image {
	t.Helper()
	id := metadata.NewTopicID()
	d := metadata.NewDelta(metadata.NewImage("c"))
	recs := []metadata.Record{&metadata.TopicRecord{Name: "t", TopicID: id}}
	for b := int32(1); b <= n; b++ {
		recs = append(recs, &metadata.RegisterBrokerRecord{BrokerID: b, BrokerEpoch: int64(b)})
	}
	for i, rs := range replicas {
		p := &metadata.PartitionRecord{PartitionID: int32(i), TopicID: id, Replicas: rs, ISR: rs, Leader: rs[0]}
		if slices.Contains(reassigning, int32(i)) {
			p.AddingReplicas = rs[len(rs)-1:]
		}
		recs = append(recs, p)
	}
	for _, r := range recs {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	return d.Apply()
}

// sixOnThree is six partitions of three replicas on brokers 1-3.
var sixOnThree = [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}, {2, 3, 1}, {3, 1, 2}}

var balOn = balancerConfig{enable: true, gone: 10 * time.Minute, maxMoves: 2}

func liveExcept(down ...int32) func(int32) bool {
	return func(id int32) bool { return !slices.Contains(down, id) }
}

func TestDecideBalance_Disabled(t *testing.T) {
	img := balanceImage(t, 4, sixOnThree)
	if d := decideBalance(img, allLive, nil, nil, nil, time.Now(), balancerConfig{maxMoves: 2}); len(d.moves) > 0 || d.reason != "" {
		t.Fatalf("disabled balancer decided %+v", d)
	}
}

// A new broker receives replicas, at most maxMoves partitions at a time,
// each move copying data onto it.
func TestDecideBalance_NewBrokerGetsReplicas(t *testing.T) {
	img := balanceImage(t, 4, sixOnThree)
	for _, n := range []int{1, 2, 3} {
		cfg := balOn
		cfg.maxMoves = n
		d := decideBalance(img, allLive, nil, nil, nil, time.Now(), cfg)
		if len(d.moves) != n {
			t.Fatalf("maxMoves %d: %d moves: %+v", n, len(d.moves), d)
		}
		for _, m := range d.moves {
			if !slices.Equal(m.Added(), []int32{4}) || len(m.To) != 3 {
				t.Errorf("move %+v does not copy one replica onto broker 4", m)
			}
		}
	}
	// Balanced already: nothing.
	even := [][]int32{{1, 2, 3}, {2, 3, 4}, {3, 4, 1}, {4, 1, 2}}
	if d := decideBalance(balanceImage(t, 4, even), allLive, nil, nil, nil, time.Now(), balOn); len(d.moves) > 0 {
		t.Fatalf("balanced cluster: %+v", d)
	}
}

func TestDecideBalance_NothingWhileReassigning(t *testing.T) {
	img := balanceImage(t, 4, sixOnThree, 2)
	d := decideBalance(img, allLive, nil, nil, nil, time.Now(), balOn)
	if len(d.moves) > 0 || !strings.Contains(d.reason, "in progress") {
		t.Fatalf("decided %+v during a reassignment", d)
	}
}

// A gone broker is evacuated only after the grace period, and nothing
// else moves while it is within it.
func TestDecideBalance_GoneBrokerAfterGrace(t *testing.T) {
	img := balanceImage(t, 4, [][]int32{{1, 2, 3}, {2, 3, 4}, {3, 4, 1}, {4, 1, 2}, {1, 2, 3}})
	live := liveExcept(4)
	t0 := time.Now()
	gone := trackGone(img, live, nil, t0)
	if len(gone) != 1 || !gone[4].Equal(t0) {
		t.Fatalf("gone = %v", gone)
	}
	if d := decideBalance(img, live, nil, trackGone(img, live, gone, t0.Add(time.Minute)), nil, t0.Add(9*time.Minute), balOn); len(d.moves) > 0 || !strings.Contains(d.reason, "waiting") {
		t.Fatalf("within the grace: %+v", d)
	}
	cfg := balOn
	cfg.maxMoves = 10
	d := decideBalance(img, live, nil, gone, nil, t0.Add(10*time.Minute), cfg)
	if len(d.moves) != 3 {
		t.Fatalf("after the grace: %d moves, want the 3 partitions on broker 4: %+v", len(d.moves), d)
	}
	for _, m := range d.moves {
		if slices.Contains(m.To, 4) || !slices.Contains(m.From, 4) || len(m.To) != 3 {
			t.Errorf("move %+v does not take broker 4's replica off it", m)
		}
	}
	// Back before the grace ends: forgotten.
	if g := trackGone(img, allLive, gone, t0.Add(time.Minute)); len(g) != 0 {
		t.Fatalf("a live broker is still gone: %v", g)
	}
}

// The live brokers cannot hold the replication factor: nothing moves.
func TestDecideBalance_GoneBrokerRFCannotBeKept(t *testing.T) {
	img := balanceImage(t, 3, sixOnThree)
	live := liveExcept(3)
	t0 := time.Now()
	d := decideBalance(img, live, nil, trackGone(img, live, nil, t0), nil, t0.Add(time.Hour), balOn)
	if len(d.moves) > 0 || !strings.Contains(d.reason, "replication factor") {
		t.Fatalf("decided %+v", d)
	}
}

// Each topic is evened on its own: a topic on brokers 1-3 gets replicas
// onto broker 4, a topic even over the four brokers moves no data.
func TestDecideBalance_PerTopic(t *testing.T) {
	d := metadata.NewDelta(metadata.NewImage("c"))
	recs := []metadata.Record{}
	for b := int32(1); b <= 4; b++ {
		recs = append(recs, &metadata.RegisterBrokerRecord{BrokerID: b, BrokerEpoch: int64(b)})
	}
	for name, parts := range map[string][][]int32{
		"a": sixOnThree,
		"b": {{4, 1, 2}, {2, 3, 4}, {3, 4, 1}, {1, 2, 3}},
	} {
		id := metadata.NewTopicID()
		recs = append(recs, &metadata.TopicRecord{Name: name, TopicID: id})
		for i, rs := range parts {
			recs = append(recs, &metadata.PartitionRecord{PartitionID: int32(i), TopicID: id, Replicas: rs, ISR: rs, Leader: rs[0]})
		}
	}
	for _, r := range recs {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	cfg := balOn
	cfg.maxMoves = 100
	dec := decideBalance(d.Apply(), allLive, nil, nil, nil, time.Now(), cfg)
	var toA, toB int
	for _, m := range dec.moves {
		if m.Topic == "a" && slices.Contains(m.Added(), 4) {
			toA++
		}
		if m.Topic == "b" && len(m.Added()) > 0 {
			toB++
		}
	}
	if toA < 4 || toB != 0 {
		t.Fatalf("moves onto broker 4 of topic a: %d (want at least 4), data moves of even topic b: %d: %+v", toA, toB, dec)
	}
}
