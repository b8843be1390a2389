package controller

// Partition reassignment (KIP-455), as Kafka's replication control manager
// runs it. A reassignment is three metadata states of one partition:
//
//  1. started: one PartitionChangeRecord sets Replicas to the target
//     followed by the replicas being removed, with AddingReplicas and
//     RemovingReplicas. Brokers replaying it open the adding replicas as
//     followers, which fetch from the leader like any other;
//  2. catching up: the leader adds each adding replica to the ISR
//     (AlterPartition) once it has caught up;
//  3. completed: the AlterPartition whose ISR holds every target replica
//     is committed, in the same record, as Replicas = target, ISR = ISR
//     minus the removing replicas, adding and removing cleared, and, when
//     the leader is being removed, a new leader among the target replicas
//     in the ISR: leadership moves last, after the new replicas hold every
//     committed record. Brokers no longer in Replicas delete their copy.
//
// Cancelling (a null target) reverts to the original replicas. Every state
// lives in the metadata log and image, never in the controller's memory,
// so a new active controller carries a reassignment on.
//
// The decisions here are functions of one partition's state (and of which
// brokers may lead): planReassignment and buildChange are tested without a
// quorum or goroutines.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

// reassignment is a partition's replicas split as Kafka's
// PartitionReassignmentReplicas splits them.
type reassignment struct {
	removing, adding, replicas []int32
}

// newReassignment plans the move from current to target: removing and
// adding are the differences (sorted, as Kafka's TreeSet makes them), and
// replicas is the target followed by the removing replicas, so the
// preferred leader is already the target's first while the old replicas
// still serve.
func newReassignment(current, target []int32) reassignment {
	r := reassignment{removing: slices.Sorted(slices.Values(difference(current, target))),
		adding: slices.Sorted(slices.Values(difference(target, current)))}
	r.replicas = append(slices.Clone(target), r.removing...)
	return r
}

// ongoingReassignment reads the reassignment a partition is in (none when
// adding and removing are empty).
func ongoingReassignment(p metadata.Partition) reassignment {
	return reassignment{removing: p.RemovingReplicas, adding: p.AddingReplicas, replicas: p.Replicas}
}

func (r reassignment) inProgress() bool { return len(r.removing) > 0 || len(r.adding) > 0 }

// original is what a cancellation reverts to: the replicas without the
// ones being added.
func (r reassignment) original() []int32 {
	out := make([]int32, 0, len(r.replicas))
	for _, id := range r.replicas {
		if !slices.Contains(r.adding, id) {
			out = append(out, id)
		}
	}
	return out
}

// complete returns the replicas and ISR that end the reassignment once isr
// holds every target replica (Kafka's maybeCompleteReassignment); ok is
// false while it does not, or when nothing of the target is in the ISR.
func (r reassignment) complete(isr []int32) (replicas, newISR []int32, ok bool) {
	if !r.inProgress() {
		return nil, nil, false
	}
	replicas, newISR = slices.Clone(r.replicas), slices.Clone(isr)
	if len(r.removing) > 0 {
		newISR = difference(isr, r.removing)
		replicas = difference(r.replicas, r.removing)
		if len(newISR) == 0 || len(replicas) == 0 {
			return nil, nil, false
		}
	}
	for _, id := range replicas {
		if !slices.Contains(newISR, id) {
			return nil, nil, false
		}
	}
	return replicas, newISR, true
}

// difference returns the members of a not in b, in a's order.
func difference(a, b []int32) []int32 {
	out := []int32{}
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

// partitionTarget is what a change wants a partition to become, as Kafka's
// PartitionChangeBuilder takes it: the record is the difference.
type partitionTarget struct {
	replicas, isr, elr, adding, removing []int32
	// unclean allows electing a live replica outside the ISR and ELR.
	unclean bool
}

// targetOf is a partition's current state as a target, to change from.
func targetOf(p metadata.Partition) partitionTarget {
	return partitionTarget{replicas: p.Replicas, isr: p.ISR, elr: p.ELR, adding: nonNil(p.AddingReplicas), removing: nonNil(p.RemovingReplicas)}
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// buildChange returns the record that takes p to tgt, or nil when nothing
// changes. As Kafka's PartitionChangeBuilder.build does, it completes a
// reassignment whose target replicas are all in the ISR, then elects: the
// current leader stays while it is in the ISR and may lead, otherwise the
// first replica of the new list that is in the ISR (or, with an empty
// ISR, the ELR) and may lead. A change that drops replicas bumps the leader
// epoch even when the leader stays, fencing the removed replicas' fetches.
func buildChange(topicID metadata.TopicID, p metadata.Partition, tgt partitionTarget, live func(int32) bool) *metadata.PartitionChangeRecord {
	if replicas, isr, ok := (reassignment{removing: tgt.removing, adding: tgt.adding, replicas: tgt.replicas}).complete(tgt.isr); ok {
		tgt.replicas, tgt.isr, tgt.adding, tgt.removing = replicas, isr, []int32{}, []int32{}
	}
	elr := []int32{}
	for _, id := range tgt.elr {
		if slices.Contains(tgt.replicas, id) && !slices.Contains(tgt.isr, id) {
			elr = append(elr, id)
		}
	}
	tgt.elr = elr

	valid := func(id int32) bool {
		return (slices.Contains(tgt.isr, id) || (len(tgt.isr) == 0 && slices.Contains(tgt.elr, id))) && live(id)
	}
	leader := metadata.NoLeader
	switch {
	case p.Leader >= 0 && slices.Contains(tgt.replicas, p.Leader) && valid(p.Leader):
		leader = p.Leader
	default:
		if i := slices.IndexFunc(tgt.replicas, valid); i >= 0 {
			leader = tgt.replicas[i]
		} else if tgt.unclean {
			if i := slices.IndexFunc(tgt.replicas, live); i >= 0 {
				leader = tgt.replicas[i]
				tgt.isr, tgt.elr = []int32{leader}, []int32{}
			}
		}
	}
	if leader >= 0 && !slices.Contains(tgt.isr, leader) {
		// Elected from the ELR: the ISR restarts with it alone.
		tgt.isr, tgt.elr = []int32{leader}, without(tgt.elr, leader)
	}

	rec := &metadata.PartitionChangeRecord{PartitionID: p.Index, TopicID: topicID, Leader: metadata.NoLeaderChange}
	changed := false
	if leader != p.Leader {
		rec.Leader, changed = leader, true
	} else if len(difference(p.Replicas, tgt.replicas)) > 0 {
		rec.Leader, changed = p.Leader, true
	}
	set := func(dst *[]int32, want, have []int32) {
		if !slices.Equal(want, have) {
			*dst, changed = slices.Clone(want), true
		}
	}
	set(&rec.ISR, tgt.isr, p.ISR)
	set(&rec.ELR, tgt.elr, p.ELR)
	set(&rec.Replicas, tgt.replicas, p.Replicas)
	set(&rec.AddingReplicas, tgt.adding, p.AddingReplicas)
	set(&rec.RemovingReplicas, tgt.removing, p.RemovingReplicas)
	if !changed {
		return nil
	}
	return rec
}

// reassignRequest is one partition of an AlterPartitionReassignments
// request: target nil cancels.
type reassignRequest struct {
	topic     string
	partition int32
	target    []int32
	// allowRFChange is KIP-860's AllowReplicationFactorChange (true
	// before v1).
	allowRFChange bool
}

// planReassignment validates one partition's reassignment (or
// cancellation) against img and returns its record, nil when nothing
// changes. unclean says whether the topic allows unclean leader election;
// live whether a broker may lead.
func planReassignment(img *metadata.Image, req reassignRequest, unclean bool, live func(int32) bool) (*metadata.PartitionChangeRecord, error) {
	t := img.Topic(req.topic)
	if t == nil {
		return nil, fmt.Errorf("%w: unable to find a topic named %s", kerr.UnknownTopicOrPartition, req.topic)
	}
	if req.partition < 0 || int(req.partition) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: unable to find partition %s:%d", kerr.UnknownTopicOrPartition, req.topic, req.partition)
	}
	p := t.Partitions[req.partition]
	ongoing := ongoingReassignment(p)
	if req.target == nil {
		if !ongoing.inProgress() {
			return nil, fmt.Errorf("%w: no reassignment of %s:%d is in progress", kerr.NoReassignmentInProgress, req.topic, req.partition)
		}
		// Kafka's PartitionReassignmentRevert: the original replicas, the
		// ISR without the adding ones; an ISR left empty restarts with the
		// first original replica, which is an unclean election.
		tgt := targetOf(p)
		tgt.replicas, tgt.isr = ongoing.original(), difference(p.ISR, ongoing.adding)
		tgt.adding, tgt.removing, tgt.unclean = []int32{}, []int32{}, unclean
		if len(tgt.isr) == 0 {
			if !unclean {
				return nil, fmt.Errorf("%w: unable to revert the assignment of %s:%d because it would require an unclean leader election",
					kerr.InvalidReplicaAssignment, req.topic, req.partition)
			}
			tgt.isr = []int32{tgt.replicas[0]}
		}
		return buildChange(t.ID, p, tgt, live), nil
	}
	if err := checkReassignmentTarget(img, req.target); err != nil {
		return nil, err
	}
	if !req.allowRFChange {
		heading := len(p.Replicas) - len(p.RemovingReplicas)
		if heading != len(req.target) {
			return nil, fmt.Errorf("%w: the replication factor is changed from %d to %d", kerr.InvalidReplicationFactor, heading, len(req.target))
		}
	}
	// A new target replaces an ongoing one: it is planned from the
	// current replica list, which holds both the old and the new ones.
	r := newReassignment(p.Replicas, req.target)
	// KIP-1066: no new replica on a broker whose log directories are all
	// cordoned; replicas it holds already may stay in the target.
	cordoned := cordonedBrokers(img)
	for _, id := range r.adding {
		if cordoned[id] {
			return nil, fmt.Errorf("%w: cannot add a replica of %s-%d on broker %d: all its log directories are cordoned (cordoned.log.dirs)",
				kerr.IneligibleReplica, req.topic, req.partition, id)
		}
	}
	tgt := targetOf(p)
	if !slices.Equal(r.replicas, p.Replicas) {
		tgt.replicas = r.replicas
	}
	if len(r.removing) > 0 {
		tgt.removing = r.removing
	}
	if len(r.adding) > 0 {
		tgt.adding = r.adding
	}
	return buildChange(t.ID, p, tgt, live), nil
}

// checkReassignmentTarget applies Kafka's validateManualPartitionAssignment
// to a target: not empty, each broker registered, none twice. Unlike
// checkReplicas its messages are Kafka's.
func checkReassignmentTarget(img *metadata.Image, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: the manual partition assignment includes an empty replica list", kerr.InvalidReplicaAssignment)
	}
	sorted := slices.Sorted(slices.Values(target))
	for i, id := range sorted {
		if img.Broker(id) == nil {
			return fmt.Errorf("%w: the manual partition assignment includes broker %d, but no such broker is registered", kerr.InvalidReplicaAssignment, id)
		}
		if i > 0 && sorted[i-1] == id {
			return fmt.Errorf("%w: the manual partition assignment includes the broker %d more than once", kerr.InvalidReplicaAssignment, id)
		}
	}
	return nil
}

// listReassignments returns the ongoing reassignments: of every topic when
// only is nil, else of the named topics' listed partitions. Unknown topics
// and partitions not being reassigned are left out, as Kafka does.
func listReassignments(img *metadata.Image, only map[string][]int32) []kmsg.ListPartitionReassignmentsResponseTopic {
	var out []kmsg.ListPartitionReassignmentsResponseTopic
	names := img.TopicNames()
	if only != nil {
		names = names[:0:0]
		for name := range only {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		t := img.Topic(name)
		if t == nil {
			continue
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = name
		for _, p := range t.Partitions {
			if only != nil && !slices.Contains(only[name], p.Index) || !p.Reassigning() {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p.Index
			rp.Replicas = slices.Clone(p.Replicas)
			rp.AddingReplicas, rp.RemovingReplicas = nonNil(slices.Clone(p.AddingReplicas)), nonNil(slices.Clone(p.RemovingReplicas))
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			out = append(out, rt)
		}
	}
	return out
}

// handleAlterPartitionReassignments answers AlterPartitionReassignments
// (45, v0-v1). Each partition is planned on the image the request's
// earlier partitions leave, and the records are committed together, as
// Kafka's controller commits them atomically; each partition is answered
// with its own error.
func (c *Controller) handleAlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	live := func(id int32) bool { return c.live(img, id) }
	var recs []metadata.Record
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		unclean := false
		if t := img.Topic(rt.Topic); t != nil {
			unclean = c.unclean(t)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			rec, err := planReassignment(img, reassignRequest{topic: rt.Topic, partition: rp.Partition, target: rp.Replicas,
				allowRFChange: req.Version < 1 || req.AllowReplicationFactorChange}, unclean, live)
			if err == nil && rec != nil {
				// Each change is planned on the image the earlier ones
				// of the request make, as KRaft's controller replays a
				// request's records as it generates them: a partition
				// named twice is changed twice, in order, not twice
				// from the same starting point.
				d := metadata.NewDelta(img)
				if err = d.Replay(rec); err == nil {
					img = d.Apply()
				}
			}
			if err != nil {
				c.logger.Info("unable to alter partition reassignment", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				sp.ErrorCode, sp.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			} else if rec != nil {
				recs = append(recs, rec)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) > 0 {
		if err := c.commit(ctx, recs); err != nil {
			resp.ErrorCode, resp.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		}
	}
	return resp
}

// handleListPartitionReassignments answers ListPartitionReassignments (46,
// v0) from the controller's image.
func (c *Controller) handleListPartitionReassignments(req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	var only map[string][]int32
	if req.Topics != nil {
		only = map[string][]int32{}
		for _, t := range req.Topics {
			only[t.Topic] = append(only[t.Topic], t.Partitions...)
		}
	}
	resp.Topics = listReassignments(c.loader.Image(), only)
	return resp
}
