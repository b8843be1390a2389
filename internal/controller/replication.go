package controller

// Partition leadership and ISR changes, as Kafka's replication control
// manager makes them: leaders are elected from the ISR, then from the
// eligible leader replicas (KIP-966: replicas that left the ISR while it
// was below min.insync.replicas, so they hold every committed record),
// and from any live replica only when unclean.leader.election.enable
// allows losing data. Every change is a PartitionChangeRecord.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

// live reports whether a broker may lead or be in an ISR.
func (c *Controller) live(img *metadata.Image, id int32) bool {
	b := img.Broker(id)
	if b == nil || b.Fenced || b.InControlledShutdown {
		return false
	}
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	s := c.sessions[id]
	return s == nil || !s.shuttingDown
}

// minISR returns a topic's min.insync.replicas.
func (c *Controller) minISR(t *metadata.Topic) int {
	cfg, err := c.cfg.Broker.TopicConfig(t.Configs)
	if err != nil {
		return int(c.cfg.Broker.Topic.MinInsyncReplicas)
	}
	return int(cfg.MinInsyncReplicas)
}

func (c *Controller) unclean(t *metadata.Topic) bool {
	cfg, err := c.cfg.Broker.TopicConfig(t.Configs)
	return err == nil && cfg.UncleanLeaderElection
}

func without(ids []int32, id int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func with(ids []int32, id int32) []int32 {
	if slices.Contains(ids, id) {
		return slices.Clone(ids)
	}
	out := append(slices.Clone(ids), id)
	slices.Sort(out)
	return out
}

// moveAway returns the changes that take broker id out of every ISR and
// leadership (it was fenced, or it shuts down under control). A replica
// leaving an ISR that is then below min.insync.replicas joins the ELR:
// it held everything committed.
func (c *Controller) moveAway(img *metadata.Image, id int32, controlled bool) []metadata.Record {
	var recs []metadata.Record
	for _, name := range img.TopicNames() {
		t := img.Topic(name)
		minISR := c.minISR(t)
		for _, p := range t.Partitions {
			if !slices.Contains(p.ISR, id) && p.Leader != id {
				continue
			}
			isr := without(p.ISR, id)
			elr := slices.Clone(p.ELR)
			if elr == nil {
				elr = []int32{}
			}
			if slices.Contains(p.ISR, id) && len(isr) < minISR {
				elr = with(elr, id)
			}
			ch := &metadata.PartitionChangeRecord{PartitionID: p.Index, TopicID: t.ID, ISR: isr, ELR: elr, Leader: metadata.NoLeaderChange}
			if p.Leader == id {
				ch.Leader = c.pickLeader(img, t, p, isr, elr, id)
				if ch.Leader >= 0 && !slices.Contains(isr, ch.Leader) {
					// Elected from the ELR (or uncleanly): the ISR restarts
					// with the new leader alone.
					ch.ISR, ch.ELR = []int32{ch.Leader}, without(elr, ch.Leader)
				}
			}
			if controlled && ch.Leader == metadata.NoLeader {
				// A controlled shutdown never takes a partition offline:
				// the broker keeps leading until another can.
				continue
			}
			recs = append(recs, ch)
		}
	}
	return recs
}

// pickLeader elects a leader for a partition whose leader goes: the first
// live replica (in assignment order) in the ISR, then in the ELR, then,
// if unclean election is on, any live replica; NoLeader otherwise.
func (c *Controller) pickLeader(img *metadata.Image, t *metadata.Topic, p metadata.Partition, isr, elr []int32, leaving int32) int32 {
	for _, set := range [][]int32{isr, elr} {
		for _, r := range p.Replicas {
			if r != leaving && slices.Contains(set, r) && c.live(img, r) {
				return r
			}
		}
	}
	if c.unclean(t) {
		for _, r := range p.Replicas {
			if r != leaving && c.live(img, r) {
				return r
			}
		}
	}
	return metadata.NoLeader
}

// electOffline elects leaders for partitions that have none, now that a
// broker may be live again.
func (c *Controller) electOffline(img *metadata.Image) []metadata.Record {
	var recs []metadata.Record
	for _, name := range img.TopicNames() {
		t := img.Topic(name)
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				continue
			}
			leader := c.pickLeader(img, t, p, p.ISR, p.ELR, -1)
			if leader < 0 {
				continue
			}
			isr, elr := p.ISR, p.ELR
			if !slices.Contains(isr, leader) {
				isr, elr = []int32{leader}, without(elr, leader)
			}
			if elr == nil {
				elr = []int32{}
			}
			recs = append(recs, &metadata.PartitionChangeRecord{PartitionID: p.Index, TopicID: t.ID, Leader: leader, ISR: isr, ELR: elr})
		}
	}
	return recs
}

// electPreferred moves leadership to each partition's preferred (first)
// replica where it is live, in the ISR and not leading. only, when not
// nil, limits it to those partitions. It returns an error per partition
// asked for.
func (c *Controller) electPreferred(ctx context.Context, only map[string][]int32) (map[string]map[int32]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	results := map[string]map[int32]error{}
	var recs []metadata.Record
	for name, parts := range only {
		t := img.Topic(name)
		for _, pi := range parts {
			if t == nil || pi < 0 || int(pi) >= len(t.Partitions) {
				if results[name] == nil {
					results[name] = map[int32]error{}
				}
				results[name][pi] = fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, name, pi)
			}
		}
	}
	for _, name := range img.TopicNames() {
		t := img.Topic(name)
		want, asked := only[name]
		if only != nil && !asked {
			continue
		}
		if results[name] == nil {
			results[name] = map[int32]error{}
		}
		for _, p := range t.Partitions {
			if only != nil && want != nil && !slices.Contains(want, p.Index) {
				continue
			}
			pref := p.Replicas[0]
			switch {
			case p.Leader == pref:
				results[name][p.Index] = fmt.Errorf("%w: %d already leads", kerr.ElectionNotNeeded, pref)
			case !slices.Contains(p.ISR, pref) || !c.live(img, pref):
				results[name][p.Index] = fmt.Errorf("%w: preferred replica %d is not live and in the ISR (%s)", kerr.PreferredLeaderNotAvailable, pref, idList(p.ISR))
			default:
				recs = append(recs, &metadata.PartitionChangeRecord{PartitionID: p.Index, TopicID: t.ID, Leader: pref})
				results[name][p.Index] = nil
			}
		}
	}
	if len(recs) == 0 {
		return results, nil
	}
	if err := c.commit(ctx, recs); err != nil {
		return nil, err
	}
	return results, nil
}

// electUnclean elects a leader for each leaderless partition asked for
// from any live replica (ElectLeaders with election type unclean).
func (c *Controller) electUnclean(ctx context.Context, only map[string][]int32) (map[string]map[int32]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	results := map[string]map[int32]error{}
	var recs []metadata.Record
	for name, parts := range only {
		t := img.Topic(name)
		results[name] = map[int32]error{}
		if t == nil {
			for _, p := range parts {
				results[name][p] = fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
			}
			continue
		}
		for _, pi := range parts {
			if pi < 0 || int(pi) >= len(t.Partitions) {
				results[name][pi] = fmt.Errorf("%w: %s has no partition %d", metadata.ErrUnknownTopic, name, pi)
				continue
			}
			p := t.Partitions[pi]
			if p.Leader >= 0 {
				results[name][pi] = fmt.Errorf("%w: %d leads", kerr.ElectionNotNeeded, p.Leader)
				continue
			}
			leader := metadata.NoLeader
			for _, r := range p.Replicas {
				if c.live(img, r) {
					leader = r
					break
				}
			}
			if leader < 0 {
				results[name][pi] = fmt.Errorf("%w: no live replica among %v", kerr.EligibleLeadersNotAvailable, p.Replicas)
				continue
			}
			recs = append(recs, &metadata.PartitionChangeRecord{PartitionID: pi, TopicID: t.ID, Leader: leader, ISR: []int32{leader}, ELR: []int32{}})
			results[name][pi] = nil
		}
	}
	if len(recs) > 0 {
		if err := c.commit(ctx, recs); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (c *Controller) handleElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
	var only map[string][]int32
	if req.Topics != nil {
		only = map[string][]int32{}
		for _, t := range req.Topics {
			only[t.Topic] = append(only[t.Topic], t.Partitions...)
		}
	}
	var results map[string]map[int32]error
	var err error
	switch req.ElectionType {
	case 0:
		results, err = c.electPreferred(ctx, only)
	case 1:
		if only == nil {
			only = map[string][]int32{}
			img := c.loader.Image()
			for _, name := range img.TopicNames() {
				for _, p := range img.Topic(name).Partitions {
					if p.Leader < 0 {
						only[name] = append(only[name], p.Index)
					}
				}
			}
		}
		results, err = c.electUnclean(ctx, only)
	default:
		err = fmt.Errorf("%w: election type %d", kerr.InvalidRequest, req.ElectionType)
	}
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		return resp
	}
	for name, parts := range results {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = name
		for p, perr := range parts {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, protocol.ErrorCode(perr), protocol.ErrorMessage(perr)
			rt.Partitions = append(rt.Partitions, rp)
		}
		slices.SortFunc(rt.Partitions, func(a, b kmsg.ElectLeadersResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// errInvalidUpdateVersion: an AlterPartition built on an old partition
// epoch.
var errInvalidUpdateVersion = kerr.InvalidUpdateVersion

func (c *Controller) handleAlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	if b := img.Broker(req.BrokerID); b == nil || b.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp
	}
	var recs []metadata.Record
	type pending struct {
		topic, part int
		// moved: the change completed a reassignment and moved the
		// leadership away from the requesting broker.
		moved bool
	}
	var changed []pending
	for ti, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID // kmsg spells it TopidID
		t := img.TopicByID(rt.TopicID)
		if req.Version < 2 {
			t = img.Topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			isr := rp.NewISR
			if req.Version >= 3 {
				isr = nil
				for _, e := range rp.NewEpochISR {
					isr = append(isr, e.BrokerID)
				}
			}
			rec, err := c.alterPartition(img, t, req.BrokerID, rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, isr)
			if err != nil {
				sp.ErrorCode = protocol.ErrorCode(err)
				if t != nil && int(rp.Partition) < len(t.Partitions) && rp.Partition >= 0 {
					p := t.Partitions[rp.Partition]
					sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
				}
			} else {
				recs = append(recs, rec)
				moved := rec.Leader != metadata.NoLeaderChange && rec.Leader != req.BrokerID
				changed = append(changed, pending{ti, len(st.Partitions), moved})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) > 0 {
		if err := c.commit(ctx, recs); err != nil {
			resp.ErrorCode = protocol.ErrorCode(err)
			return resp
		}
	}
	img = c.loader.Image()
	for _, ch := range changed {
		st := &resp.Topics[ch.topic]
		sp := &st.Partitions[ch.part]
		if ch.moved {
			// Kafka answers NEW_LEADER_ELECTED (FENCED_LEADER_EPOCH
			// before v2) though the change is committed: the broker
			// learns its new role from the metadata.
			sp.ErrorCode = kerr.NewLeaderElected.Code
			if req.Version < 2 {
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			}
			continue
		}
		t := img.TopicByID(req.Topics[ch.topic].TopicID)
		if req.Version < 2 {
			t = img.Topic(req.Topics[ch.topic].Topic)
		}
		p := t.Partitions[sp.Partition]
		sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
	}
	return resp
}

// alterPartition validates a leader's ISR change and returns its record.
func (c *Controller) alterPartition(img *metadata.Image, t *metadata.Topic, leader, part, leaderEpoch, partitionEpoch int32, isr []int32) (*metadata.PartitionChangeRecord, error) {
	if t == nil || part < 0 || int(part) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: unknown partition %d", kerr.UnknownTopicOrPartition, part)
	}
	p := t.Partitions[part]
	switch {
	case p.Leader != leader:
		return nil, fmt.Errorf("%w: %d does not lead %s-%d (%d does)", kerr.NotLeaderForPartition, leader, t.Name, part, p.Leader)
	case leaderEpoch != p.LeaderEpoch:
		return nil, fmt.Errorf("%w: leader epoch %d, current %d", kerr.FencedLeaderEpoch, leaderEpoch, p.LeaderEpoch)
	case partitionEpoch != p.PartitionEpoch:
		return nil, fmt.Errorf("%w: partition epoch %d, current %d", errInvalidUpdateVersion, partitionEpoch, p.PartitionEpoch)
	case !slices.Contains(isr, leader):
		return nil, fmt.Errorf("%w: the ISR %v leaves out the leader %d", kerr.InvalidRequest, isr, leader)
	}
	for _, r := range isr {
		if !slices.Contains(p.Replicas, r) {
			return nil, fmt.Errorf("%w: %d is not a replica of %s-%d", kerr.InvalidRequest, r, t.Name, part)
		}
		if !slices.Contains(p.ISR, r) && !c.live(img, r) {
			return nil, fmt.Errorf("%w: broker %d is fenced or shutting down", kerr.IneligibleReplica, r)
		}
	}
	isr = slices.Sorted(slices.Values(isr))
	isr = slices.Compact(isr)
	elr := []int32{}
	if len(isr) < c.minISR(t) {
		// Members leaving an ISR below min.insync.replicas hold everything
		// committed: they stay eligible.
		elr = slices.Clone(p.ELR)
		for _, r := range p.ISR {
			if !slices.Contains(isr, r) {
				elr = with(elr, r)
			}
		}
		for _, r := range isr {
			elr = without(elr, r)
		}
	}
	if p.Reassigning() {
		// The ISR may now hold every target replica: the same change
		// completes the reassignment (and moves the leader off a removed
		// replica), as Kafka's PartitionChangeBuilder does.
		tgt := targetOf(p)
		tgt.isr, tgt.elr = isr, elr
		if rec := buildChange(t.ID, p, tgt, func(id int32) bool { return c.live(img, id) }); rec != nil {
			return rec, nil
		}
	}
	return &metadata.PartitionChangeRecord{PartitionID: part, TopicID: t.ID, ISR: isr, ELR: elr, Leader: metadata.NoLeaderChange}, nil
}

// idList renders broker IDs as Kafka's tools do: "1,2,3".
func idList(ids []int32) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Itoa(int(id))
	}
	return strings.Join(out, ",")
}
