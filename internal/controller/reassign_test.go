package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

// reassignImage is a cluster of brokers 1-4 and a topic t whose partition
// 0 is p.
func reassignImage(t *testing.T, p metadata.PartitionRecord) (*metadata.Image, metadata.TopicID) {
	t.Helper()
	id := metadata.NewTopicID()
	d := metadata.NewDelta(metadata.NewImage("c"))
	recs := []metadata.Record{&metadata.TopicRecord{Name: "t", TopicID: id}}
	for b := int32(1); b <= 4; b++ {
		recs = append(recs, &metadata.RegisterBrokerRecord{BrokerID: b, BrokerEpoch: int64(b)})
	}
	p.TopicID = id
	recs = append(recs, &p)
	for _, r := range recs {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	return d.Apply(), id
}

func allLive(int32) bool { return true }

// diffOf returns "" when got is want, else both.
func diffOf(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("\n got %+v\nwant %+v", got, want)
}

// apply replays a change on img's partition t-0 and returns it.
func apply(t *testing.T, img *metadata.Image, rec *metadata.PartitionChangeRecord) (*metadata.Image, metadata.Partition) {
	t.Helper()
	d := metadata.NewDelta(img)
	if err := d.Replay(rec); err != nil {
		t.Fatal(err)
	}
	img = d.Apply()
	return img, img.Topic("t").Partitions[0]
}

// The replica order of a started reassignment is Kafka's: the target,
// then the replicas being removed; adding and removing are sorted sets.
func TestNewReassignment_KafkaOrder(t *testing.T) {
	r := newReassignment([]int32{3, 1, 2}, []int32{4, 2, 5})
	want := reassignment{removing: []int32{1, 3}, adding: []int32{4, 5}, replicas: []int32{4, 2, 5, 1, 3}}
	if diff := diffOf(want, r); diff != "" {
		t.Fatal(diff)
	}
	if got := r.original(); !slices.Equal(got, []int32{2, 1, 3}) {
		t.Fatalf("original %v", got)
	}
}

// {1,2} to {2,3}: the start adds 3 as a follower and keeps 1 and its
// leadership; the ISR growing to hold 3 completes it in the same change,
// with the leader moved off 1 to the first target replica in the ISR.
func TestReassignment_StartCompleteLeaderMovedLast(t *testing.T) {
	img, id := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{2, 3}, allowRFChange: true}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	want := &metadata.PartitionChangeRecord{TopicID: id, Leader: metadata.NoLeaderChange, Replicas: []int32{2, 3, 1},
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}
	if diff := diffOf(want, rec); diff != "" {
		t.Fatalf("start: %s", diff)
	}
	img, p := apply(t, img, rec)
	if p.Leader != 1 || p.LeaderEpoch != 0 || !p.Reassigning() {
		t.Fatalf("started: %+v", p)
	}
	// Nothing completes while 3 is outside the ISR.
	if rec := buildChange(id, p, targetOf(p), allLive); rec != nil {
		t.Fatalf("completed early: %+v", rec)
	}
	// The leader adds 3 to the ISR.
	tgt := targetOf(p)
	tgt.isr = []int32{1, 2, 3}
	rec = buildChange(id, p, tgt, allLive)
	want = &metadata.PartitionChangeRecord{TopicID: id, Leader: 2, ISR: []int32{2, 3}, Replicas: []int32{2, 3},
		AddingReplicas: []int32{}, RemovingReplicas: []int32{}}
	if diff := diffOf(want, rec); diff != "" {
		t.Fatalf("completion: %s", diff)
	}
	_, p = apply(t, img, rec)
	if p.Leader != 2 || p.LeaderEpoch != 1 || p.Reassigning() || !slices.Equal(p.Replicas, []int32{2, 3}) {
		t.Fatalf("completed: %+v", p)
	}
}

// A leader that stays keeps leading, but its epoch is bumped when replicas
// are dropped (Kafka's triggerLeaderEpochBumpForReplicaReassignmentIfNeeded).
func TestReassignment_CompletionBumpsEpochOfStayingLeader(t *testing.T) {
	img, id := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2})
	rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{2, 3}, allowRFChange: true}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	_, p := apply(t, img, rec)
	tgt := targetOf(p)
	tgt.isr = []int32{1, 2, 3}
	rec = buildChange(id, p, tgt, allLive)
	if rec.Leader != 2 || !slices.Equal(rec.ISR, []int32{2, 3}) || !slices.Equal(rec.Replicas, []int32{2, 3}) {
		t.Fatalf("completion %+v", rec)
	}
}

// A target inside the current ISR completes at once: one record.
func TestReassignment_ShrinkCompletesAtOnce(t *testing.T) {
	img, id := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{3, 2}, allowRFChange: true}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	want := &metadata.PartitionChangeRecord{TopicID: id, Leader: 3, ISR: []int32{2, 3}, Replicas: []int32{3, 2}}
	if diff := diffOf(want, rec); diff != "" {
		t.Fatal(diff)
	}
	// The same target again: nothing to do.
	img, _ = apply(t, img, rec)
	if rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{3, 2}, allowRFChange: true}, false, allLive); err != nil || rec != nil {
		t.Fatalf("no-op: %+v %v", rec, err)
	}
}

// Cancelling reverts to the original replicas and ISR; the adding replica
// that had joined the ISR leaves it, and the leadership stays.
func TestReassignment_CancelReverts(t *testing.T) {
	img, id := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{3, 4}, allowRFChange: true}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	img, p := apply(t, img, rec)
	if !slices.Equal(p.Replicas, []int32{3, 4, 1, 2}) {
		t.Fatalf("started %+v", p)
	}
	// 3 catches up; 4 does not.
	img, _ = apply(t, img, &metadata.PartitionChangeRecord{TopicID: id, Leader: metadata.NoLeaderChange, ISR: []int32{1, 2, 3}})
	rec, err = planReassignment(img, reassignRequest{topic: "t"}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	want := &metadata.PartitionChangeRecord{TopicID: id, Leader: 1, ISR: []int32{1, 2}, Replicas: []int32{1, 2},
		AddingReplicas: []int32{}, RemovingReplicas: []int32{}}
	if diff := diffOf(want, rec); diff != "" {
		t.Fatal(diff)
	}
	img, p = apply(t, img, rec)
	if p.Reassigning() || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("cancelled %+v", p)
	}
	if _, err := planReassignment(img, reassignRequest{topic: "t"}, false, allLive); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v", err)
	}
}

// A cancellation that would leave only adding replicas in the ISR needs an
// unclean election, refused unless the topic allows it.
func TestReassignment_CancelNeedingUncleanElection(t *testing.T) {
	img, _ := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{3, 1}, ISR: []int32{3}, Leader: 3,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})
	if _, err := planReassignment(img, reassignRequest{topic: "t"}, false, allLive); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("clean: %v", err)
	}
	rec, err := planReassignment(img, reassignRequest{topic: "t"}, true, allLive)
	if err != nil || rec.Leader != 1 || !slices.Equal(rec.ISR, []int32{1}) || !slices.Equal(rec.Replicas, []int32{1}) {
		t.Fatalf("unclean: %+v %v", rec, err)
	}
}

func TestReassignment_Errors(t *testing.T) {
	img, _ := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	cases := []struct {
		name string
		req  reassignRequest
		want error
	}{
		{"unknown topic", reassignRequest{topic: "nope", target: []int32{1}, allowRFChange: true}, kerr.UnknownTopicOrPartition},
		{"unknown partition", reassignRequest{topic: "t", partition: 1, target: []int32{1}, allowRFChange: true}, kerr.UnknownTopicOrPartition},
		{"negative partition", reassignRequest{topic: "t", partition: -1, target: []int32{1}, allowRFChange: true}, kerr.UnknownTopicOrPartition},
		{"empty", reassignRequest{topic: "t", target: []int32{}, allowRFChange: true}, kerr.InvalidReplicaAssignment},
		{"duplicate", reassignRequest{topic: "t", target: []int32{2, 3, 2}, allowRFChange: true}, kerr.InvalidReplicaAssignment},
		{"unregistered", reassignRequest{topic: "t", target: []int32{2, 9}, allowRFChange: true}, kerr.InvalidReplicaAssignment},
		{"rf change refused", reassignRequest{topic: "t", target: []int32{2, 3, 4}}, kerr.InvalidReplicationFactor},
		{"cancel with none", reassignRequest{topic: "t"}, kerr.NoReassignmentInProgress},
	}
	for _, c := range cases {
		if _, err := planReassignment(img, c.req, false, allLive); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{3, 4}}, false, allLive); err != nil {
		t.Errorf("same replication factor refused: %v", err)
	}
}

// A new target replaces an ongoing reassignment, planned from the current
// replica list (Kafka's behaviour): replicas added by the old one and not
// in the new target are removed at completion.
func TestReassignment_NewTargetReplacesOngoing(t *testing.T) {
	img, id := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})
	rec, err := planReassignment(img, reassignRequest{topic: "t", target: []int32{2, 4}, allowRFChange: true}, false, allLive)
	if err != nil {
		t.Fatal(err)
	}
	want := &metadata.PartitionChangeRecord{TopicID: id, Leader: metadata.NoLeaderChange, Replicas: []int32{2, 4, 1, 3},
		AddingReplicas: []int32{4}, RemovingReplicas: []int32{1, 3}}
	if diff := diffOf(want, rec); diff != "" {
		t.Fatal(diff)
	}
}

func TestListReassignments(t *testing.T) {
	img, _ := reassignImage(t, metadata.PartitionRecord{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})
	all := listReassignments(img, nil)
	if len(all) != 1 || all[0].Topic != "t" || len(all[0].Partitions) != 1 ||
		!slices.Equal(all[0].Partitions[0].Replicas, []int32{2, 3, 1}) || !slices.Equal(all[0].Partitions[0].AddingReplicas, []int32{3}) ||
		!slices.Equal(all[0].Partitions[0].RemovingReplicas, []int32{1}) {
		t.Fatalf("all: %+v", all)
	}
	if got := listReassignments(img, map[string][]int32{"t": {1}, "nope": {0}}); len(got) != 0 {
		t.Fatalf("unlisted partitions: %+v", got)
	}
	if got := listReassignments(img, map[string][]int32{"t": {0}}); len(got) != 1 {
		t.Fatalf("listed partition: %+v", got)
	}
}

// Through the controller: AlterPartitionReassignments starts, the leader's
// AlterPartition adding the new replica completes and moves the leadership,
// answered NEW_LEADER_ELECTED; the state in between is in the metadata log,
// so a controller reopened on it (a failover) lists the reassignment.
func TestController_ReassignmentThroughAlterPartition(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, 1, 2, 3)
	ctx := context.Background()
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {1, 2}}, Configs: map[string]string{}}, false); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Replicas = []int32{2, 3}
	rt.Partitions = append(rt.Partitions, rp)
	rp.Partition, rp.Replicas = 5, []int32{2, 3}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := h.ctrl.Forward(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ar := resp.(*kmsg.AlterPartitionAssignmentsResponse)
	if ar.ErrorCode != 0 || ar.Topics[0].Partitions[0].ErrorCode != 0 || ar.Topics[0].Partitions[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("alter: %+v", ar)
	}
	p := part(h, "t", 0)
	if !slices.Equal(p.Replicas, []int32{2, 3, 1}) || p.Leader != 1 {
		t.Fatalf("started: %+v", p)
	}

	// Failover: a controller replaying the same log sees it.
	_ = h.quorum.Close()
	h = open(t, dir)
	lresp, err := h.ctrl.Forward(ctx, kmsg.NewPtrListPartitionReassignmentsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if l := lresp.(*kmsg.ListPartitionReassignmentsResponse); len(l.Topics) != 1 || !slices.Equal(l.Topics[0].Partitions[0].AddingReplicas, []int32{3}) {
		t.Fatalf("after failover: %+v", l)
	}

	alter := kmsg.NewPtrAlterPartitionRequest()
	alter.Version = 2
	alter.BrokerID, alter.BrokerEpoch = 1, h.ctrl.Image().Broker(1).Epoch
	at := kmsg.NewAlterPartitionRequestTopic()
	at.TopicID = h.ctrl.Image().Topic("t").ID
	ap := kmsg.NewAlterPartitionRequestTopicPartition()
	ap.LeaderEpoch, ap.PartitionEpoch, ap.NewISR = p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3}
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	aresp := h.ctrl.handleAlterPartition(ctx, alter)
	if aresp.ErrorCode != 0 || aresp.Topics[0].Partitions[0].ErrorCode != kerr.NewLeaderElected.Code {
		t.Fatalf("AlterPartition: %+v", aresp)
	}
	p = part(h, "t", 0)
	if !slices.Equal(p.Replicas, []int32{2, 3}) || !slices.Equal(p.ISR, []int32{2, 3}) || p.Leader != 2 || p.Reassigning() {
		t.Fatalf("completed: %+v", p)
	}
	lresp, _ = h.ctrl.Forward(ctx, kmsg.NewPtrListPartitionReassignmentsRequest())
	if l := lresp.(*kmsg.ListPartitionReassignmentsResponse); len(l.Topics) != 0 {
		t.Fatalf("still listed: %+v", l)
	}
}

// A partition named twice in one AlterPartitionReassignments is changed
// twice in order (the second entry, a cancellation, undoes the first), as
// KRaft's controller replays a request's records as it makes them; planned
// both from one image, the cancellation found nothing to cancel and the
// reassignment went on.
func TestController_PartitionTwiceInOneReassignmentRequest(t *testing.T) {
	h := open(t, t.TempDir(), 1, 2, 3)
	ctx := context.Background()
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {1, 2}}, Configs: map[string]string{}}, false); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "t"
	move := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	move.Replicas = []int32{2, 3}
	cancel := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition() // nil replicas: cancel
	rt.Partitions = append(rt.Partitions, move, cancel)
	req.Topics = append(req.Topics, rt)
	resp, err := h.ctrl.Forward(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ar := resp.(*kmsg.AlterPartitionAssignmentsResponse)
	if ar.ErrorCode != 0 || ar.Topics[0].Partitions[0].ErrorCode != 0 || ar.Topics[0].Partitions[1].ErrorCode != 0 {
		t.Fatalf("alter: %+v", ar)
	}
	// The original replicas come back in the order the reassignment kept
	// them (target first), as Kafka's revert does.
	if p := part(h, "t", 0); !slices.Equal(slices.Sorted(slices.Values(p.Replicas)), []int32{1, 2}) || p.Reassigning() {
		t.Fatalf("after a move and its cancellation in one request: %+v", p)
	}
}
