package group

// OffsetCommit (key 8) v0-v9, OffsetFetch (key 9) v0-v9 and OffsetDelete
// (key 47) v0. Topics are named (v10's topic IDs must be resolved by the
// caller). Commits are checked as Kafka checks them: a member commits with
// its member ID and generation (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS while the assignment is pending);
// generation -1 with no member ID is a "simple" commit (kcat, sarama's
// OffsetManager, admin tools resetting offsets), accepted only while the
// group is Empty, and creating an Empty group without protocol type when the
// group does not exist. A commit keeps a member's session alive. Departure:
// OffsetCommit v1's per-partition commit timestamp is ignored (commit time
// is now), as in Kafka 4.

import (
	"slices"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// OffsetCommit handles an OffsetCommit request.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, now time.Time) coordinator.Result {
	var out coordinator.Result
	resp := commitResponse(req, errNone)
	out.Response = resp
	if code, isConsumer := c.consumerCommitCode(req); isConsumer && c.owns(req.Group) {
		if code != errNone {
			setCommitErrors(resp, code)
			return out
		}
		c.commitOffsets(req, resp, now, &out)
		return out
	}
	g, created, code := c.validateCommit(req)
	if code != errNone {
		setCommitErrors(resp, code)
		if created {
			c.dropIfPhantom(g)
		}
		return out
	}
	if m := g.members[req.MemberID]; m != nil && g.is(Stable, PreparingRebalance) {
		c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
	}
	c.commitOffsets(req, resp, now, &out)
	if created {
		c.dropIfPhantom(g)
	}
	return out
}

// commitOffsets stores a validated commit and returns its records.
func (c *Coordinator) commitOffsets(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, now time.Time, out *coordinator.Result) {
	var expire time.Time
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expire = now.Add(time.Duration(req.RetentionTimeMillis) * time.Millisecond)
	}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if p.Metadata != nil && javaLength(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes {
				resp.Topics[i].Partitions[j].ErrorCode = errOffsetMetadataTooLarge
				continue
			}
			o := offsetValue{offset: p.Offset, leaderEpoch: -1, commitTime: now, expireTime: expire}
			if req.Version >= 6 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			tp := topicPartition{t.Topic, p.Partition}
			c.putOffset(req.Group, tp, o)
			out.Records = append(out.Records, offsetRecord(req.Group, tp, o))
		}
	}
}

func commitResponse(req *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func setCommitErrors(resp *kmsg.OffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			resp.Topics[i].Partitions[j].ErrorCode = code
		}
	}
}

// validateCommit returns the group to commit to, whether this request
// created it, or the error for every partition.
func (c *Coordinator) validateCommit(req *kmsg.OffsetCommitRequest) (*group, bool, int16) {
	// The empty group ID is a valid group for commits and fetches (Kafka
	// keeps it for old clients); only group membership requires an ID.
	if !c.owns(req.Group) {
		return nil, false, errNotCoordinator
	}
	g := c.groups[req.Group]
	created := false
	if g == nil {
		if req.Generation >= 0 {
			if req.Version >= 9 {
				return nil, false, errGroupIDNotFound
			}
			return nil, false, errIllegalGeneration
		}
		g = newGroup(req.Group, time.Time{})
		c.groups[req.Group] = g
		created = true
	}
	if req.Generation < 0 && g.state == Empty {
		return g, created, errNone
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return g, created, code
		}
		if req.Generation != g.generation {
			return g, created, errIllegalGeneration
		}
	} else if g.state != Empty {
		// No member and no generation: only an empty group takes it.
		return g, created, errUnknownMemberID
	}
	if g.state == CompletingRebalance {
		// A member of the new generation that has not its assignment yet.
		return g, created, errRebalanceInProgress
	}
	return g, created, errNone
}

// OffsetFetch handles an OffsetFetch request: v0-v7 for one group, v8+ for
// several (all of which must belong to this partition; the Service splits a
// request across partitions). An unknown group has no offsets (-1), not an
// error. Topics nil (v2+) fetches every committed offset of the group.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest, _ time.Time) coordinator.Result {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, c.fetchGroup(rg, req.RequireStable))
		}
		return coordinator.Result{Response: resp}
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = req.Group
	if req.Topics != nil || req.Version < 2 {
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for _, t := range req.Topics {
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.Partitions = t.Topic, t.Partitions
			rg.Topics = append(rg.Topics, gt)
		}
	}
	fg := c.fetchGroup(rg, req.Version >= 7 && req.RequireStable)
	resp.ErrorCode = fg.ErrorCode
	for _, t := range fg.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode =
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if req.Version < 2 && fg.ErrorCode != errNone {
				// v0-v1 have no top-level error: every partition has it.
				rp.ErrorCode = fg.ErrorCode
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return coordinator.Result{Response: resp}
}

// fetchGroup answers one group; with requireStable a partition a
// transaction committed an offset for, not yet ended, answers
// UNSTABLE_OFFSET_COMMIT (the client retries).
func (c *Coordinator) fetchGroup(rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	fg := kmsg.NewOffsetFetchResponseGroup()
	fg.Group = rg.Group
	if !c.owns(rg.Group) {
		fg.ErrorCode = errNotCoordinator
	} else {
		// v9+: a member of a consumer group fetches with its epoch.
		fg.ErrorCode = c.consumer.ValidateFetch(rg.Group, rg.MemberID, rg.MemberEpoch)
	}
	offs := c.offsets[rg.Group]
	if fg.ErrorCode != errNone {
		offs = nil
	}
	if rg.Topics == nil {
		if fg.ErrorCode != errNone {
			return fg
		}
		topics := map[string][]int32{}
		for tp := range offs {
			topics[tp.topic] = append(topics[tp.topic], tp.partition)
		}
		names := make([]string, 0, len(topics))
		for t := range topics {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			ps := topics[t]
			slices.Sort(ps)
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.Partitions = t, ps
			rg.Topics = append(rg.Topics, gt)
		}
	}
	for _, t := range rg.Topics {
		ft := kmsg.NewOffsetFetchResponseGroupTopic()
		ft.Topic, ft.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			fp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			fp.Partition = p
			fp.Offset, fp.LeaderEpoch, fp.Metadata = -1, -1, strPtr("")
			if o, ok := offs[topicPartition{t.Topic, p}]; ok {
				fp.Offset, fp.LeaderEpoch, fp.Metadata = o.offset, o.leaderEpoch, strPtr(o.metadata)
			}
			fp.ErrorCode = fg.ErrorCode
			if fp.ErrorCode == errNone && requireStable && c.hasPending(rg.Group, topicPartition{t.Topic, p}) {
				fp.ErrorCode, fp.Offset = errUnstableOffsetCommit, -1
			}
			ft.Partitions = append(ft.Partitions, fp)
		}
		fg.Topics = append(fg.Topics, ft)
	}
	return fg
}

// OffsetDelete handles an OffsetDelete request: it removes committed offsets
// of an Empty group, or of a consumer group for topics it no longer
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). A non-empty group of
// another protocol type gets NON_EMPTY_GROUP.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, _ time.Time) coordinator.Result {
	var out coordinator.Result
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	out.Response = resp
	g := c.groups[req.Group]
	switch {
	case req.Group == "":
		resp.ErrorCode = errInvalidGroupID
	case !c.owns(req.Group):
		resp.ErrorCode = errNotCoordinator
	case c.consumer.Get(req.Group) != nil:
		c.deleteConsumerOffsets(req, resp, &out)
		return out
	case g == nil:
		resp.ErrorCode = errGroupIDNotFound
	case g.state != Empty && g.protocolType != consumerProtocolType:
		resp.ErrorCode = errNonEmptyGroup
	}
	if resp.ErrorCode != errNone {
		return out
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		subscribed := g.isSubscribedTo(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed {
				rp.ErrorCode = errGroupSubscribedToTopic
			} else {
				tp := topicPartition{t.Topic, p.Partition}
				if _, ok := c.offsets[g.id][tp]; ok {
					c.deleteOffset(g.id, tp, &out)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return out
}

// deleteOffset forgets an offset and writes its tombstone.
func (c *Coordinator) deleteOffset(groupID string, tp topicPartition, out *coordinator.Result) {
	offs := c.offsets[groupID]
	delete(offs, tp)
	if len(offs) == 0 {
		delete(c.offsets, groupID)
	}
	out.Records = append(out.Records, offsetTombstone(groupID, tp))
}

// javaLength is the length of s as Java's String.length() counts it, in
// UTF-16 code units: Kafka compares offset.metadata.max.bytes with that
// (OffsetMetadataManager.isMetadataInvalid), not with the UTF-8 byte count,
// so metadata of non-ASCII text is accepted up to the same limit as Kafka.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
