package controller

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

func part(h *harness, topic string, p int32) metadata.Partition {
	return h.ctrl.Image().Topic(topic).Partitions[p]
}

// Failover as the controller decides it: leaders move to the next live ISR
// member; a replica leaving an ISR below min.insync.replicas stays
// eligible (ELR, KIP-966); with no live eligible replica the partition has
// no leader, and the first eligible replica to come back leads it.
func TestController_FencingElectsFromISRThenELR(t *testing.T) {
	h := open(t, t.TempDir(), 1, 2, 3)
	ctx := context.Background()
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3,
		Assignments: nil, Configs: map[string]string{"min.insync.replicas": "2"}}, false); err != nil {
		t.Fatal(err)
	}
	if p := part(h, "t", 0); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("initial %+v", p)
	}
	if err := h.ctrl.fence(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if p := part(h, "t", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2, 3}) || len(p.ELR) != 0 || p.LeaderEpoch != 1 {
		t.Fatalf("after fencing 1: %+v", p)
	}
	if err := h.ctrl.fence(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if p := part(h, "t", 0); p.Leader != 3 || !slices.Equal(p.ISR, []int32{3}) || !slices.Equal(p.ELR, []int32{2}) {
		t.Fatalf("after fencing 2: %+v", p)
	}
	if err := h.ctrl.fence(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if p := part(h, "t", 0); p.Leader != metadata.NoLeader || len(p.ISR) != 0 || !slices.Equal(p.ELR, []int32{2, 3}) {
		t.Fatalf("after fencing 3: %+v", p)
	}
	// Broker 1 returns first: not eligible (it left while the ISR was big
	// enough, so it may miss committed records); no unclean election.
	h.register(t, 1)
	if p := part(h, "t", 0); p.Leader != metadata.NoLeader {
		t.Fatalf("an ineligible replica was elected: %+v", p)
	}
	// Broker 2 (in the ELR) returns and leads, with an ISR of itself.
	e2 := h.register(t, 2)
	p := part(h, "t", 0)
	if p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) || !slices.Equal(p.ELR, []int32{3}) {
		t.Fatalf("after 2 returns: %+v", p)
	}

	// The leader adds 1 back (AlterPartition); a stale partition epoch and
	// a fenced replica are refused.
	alter := func(isr []int32, pepoch int32) int16 {
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version = 2
		req.BrokerID, req.BrokerEpoch = 2, e2
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = h.ctrl.Image().Topic("t").ID
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = 0, p.LeaderEpoch, pepoch, isr
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := h.ctrl.handleAlterPartition(ctx, req)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := alter([]int32{1, 2}, p.PartitionEpoch-1); code != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("stale partition epoch: code %d", code)
	}
	if code := alter([]int32{2, 3}, p.PartitionEpoch); code != kerr.IneligibleReplica.Code {
		t.Fatalf("fenced replica into the ISR: code %d", code)
	}
	if code := alter([]int32{1, 2}, p.PartitionEpoch); code != 0 {
		t.Fatalf("ISR expansion: code %d", code)
	}
	if p := part(h, "t", 0); !slices.Equal(p.ISR, []int32{1, 2}) || len(p.ELR) != 0 {
		t.Fatalf("after expansion: %+v", p)
	}

	// Preferred leader election gives leadership back to 1.
	el := kmsg.NewPtrElectLeadersRequest()
	el.Version = 1
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	el.Topics = append(el.Topics, rt)
	if r := h.ctrl.handleElectLeaders(ctx, el); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("preferred election: %+v", r)
	}
	if p := part(h, "t", 0); p.Leader != 1 {
		t.Fatalf("preferred leader not elected: %+v", p)
	}
	if r := h.ctrl.handleElectLeaders(ctx, el); r.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Fatalf("second preferred election: %+v", r)
	}
}

// A controlled shutdown moves the broker's leaderships to other ISR
// members before it may stop, and never takes a partition offline.
func TestController_ControlledShutdown(t *testing.T) {
	h := open(t, t.TempDir())
	ctx := context.Background()
	e := map[int32]int64{}
	for _, id := range []int32{1, 2} {
		e[id] = h.register(t, id)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "a", Partitions: 4, ReplicationFactor: 2}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "solo", Partitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {1}}}, false); err != nil {
		t.Fatal(err)
	}
	r := h.heartbeat(t, 1, e[1], true)
	for p := range int32(4) {
		if pp := part(h, "a", p); pp.Leader != 2 || slices.Contains(pp.ISR, 1) {
			t.Fatalf("a-%d still on the stopping broker: %+v", p, pp)
		}
	}
	// solo-0 has no other replica: it keeps its leader (a controlled
	// shutdown never takes a partition offline) and does not hold the
	// shutdown back.
	if pp := part(h, "solo", 0); pp.Leader != 1 {
		t.Fatalf("solo-0 taken offline by a controlled shutdown: %+v", pp)
	}
	if !r.ShouldShutdown || !h.ctrl.Image().Broker(1).Fenced {
		t.Fatalf("broker 1 leads nothing movable but may not stop: %+v", r)
	}
	// A stale epoch is refused.
	if r := h.heartbeat(t, 2, e[2]-1, false); !errors.Is(kerr.ErrorForCode(r.ErrorCode), kerr.StaleBrokerEpoch) {
		t.Fatalf("stale epoch heartbeat: code %d", r.ErrorCode)
	}
}

// Replicas are spread over racks first, leaders over brokers.
func TestController_RackAwarePlacement(t *testing.T) {
	h := open(t, t.TempDir())
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for id := int32(1); id <= 6; id++ {
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.BrokerID, req.ClusterID, req.IncarnationID = id, h.ctrl.Image().ClusterID, [16]byte{byte(id)}
		r := racks[id]
		req.Rack = &r
		epoch, err := h.ctrl.RegisterBrokerRequest(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		h.heartbeat(t, id, epoch, false)
	}
	for _, rf := range []int{2, 3, 4} {
		name := "t" + string(rune('0'+rf))
		tp, err := h.ctrl.CreateTopic(context.Background(), TopicSpec{Name: name, Partitions: 12, ReplicationFactor: int16(rf)}, false)
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]int{}
		for _, p := range tp.Partitions {
			seen := map[string]bool{}
			for _, r := range p.Replicas {
				seen[racks[r]] = true
			}
			if want := min(rf, 3); len(seen) != want || len(p.Replicas) != rf {
				t.Fatalf("rf %d: partition %d replicas %v span %d racks, want %d", rf, p.Index, p.Replicas, len(seen), want)
			}
			leaders[p.Leader]++
		}
		for id := int32(1); id <= 6; id++ {
			if leaders[id] != 2 {
				t.Fatalf("rf %d: leaders per broker %v, want 2 each", rf, leaders)
			}
		}
	}
}
