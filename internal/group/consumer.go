package group

// The consumer group protocol (KIP-848) beside the classic one. Both kinds
// of group live in the same __consumer_offsets partition and share the
// committed offsets; a group ID names one kind at a time. An empty group of
// one kind is converted when a member of the other kind arrives (its
// offsets are kept); a non-empty one refuses the other protocol with
// GROUP_ID_NOT_FOUND, as Kafka does when migration between protocols is
// not enabled. The consumer group state machine is internal/consumergroup;
// this file runs its timers and routes records and errors.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/coordinator"
)

// noTopics is the metadata view used when none is configured.
type noTopics struct{}

func (noTopics) ByName(string) (consumergroup.TopicID, int32, bool) {
	return consumergroup.TopicID{}, 0, false
}
func (noTopics) ByID(consumergroup.TopicID) (string, int32, bool) { return "", 0, false }
func (noTopics) Names() []string                                  { return nil }

func consumerRecords(recs []consumergroup.Record, out *coordinator.Result) {
	for _, r := range recs {
		out.Records = append(out.Records, coordinator.Record{Key: r.Key, Value: r.Value})
	}
}

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat (key 68).
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, now time.Time) coordinator.Result {
	var out coordinator.Result
	fail := func(code int16, msg string) coordinator.Result {
		resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
		resp.Version, resp.ErrorCode = req.Version, code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		out.Response = resp
		return out
	}
	if !c.owns(req.Group) {
		return fail(errNotCoordinator, "")
	}
	classic := c.groups[req.Group]
	if classic != nil && (classic.state != Empty || len(classic.pending) > 0) {
		return fail(errGroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
	}
	o := c.consumer.Heartbeat(req, consumergroup.Client{ID: client.ID, Host: client.Host}, c.cfg.Topics, now)
	if classic != nil && o.Response.ErrorCode == errNone && c.consumer.Get(req.Group) != nil {
		// An empty classic (or offsets-only) group became a consumer
		// group with this join; its offsets stay. Only a join that
		// succeeded converts, as in Kafka.
		out.Records = append(out.Records, groupTombstone(req.Group))
		c.deleteGroup(req.Group)
	}
	consumerRecords(o.Records, &out)
	for _, id := range o.Removed {
		c.cancelConsumerTimers(req.Group, id)
	}
	if o.Member != "" {
		c.timers.schedule(timerKey{kind: timerConsumerSession, group: req.Group, member: o.Member}, now.Add(c.consumer.Config().SessionTimeout), 0)
		key := timerKey{kind: timerConsumerRevocation, group: req.Group, member: o.Member}
		switch o.Revocation {
		case consumergroup.RevocationArm:
			c.timers.schedule(key, now.Add(o.RevocationTimeout), 0)
		case consumergroup.RevocationCancel:
			c.timers.cancel(key)
		}
	} else if o.Revocation == consumergroup.RevocationCancel {
		c.timers.cancel(timerKey{kind: timerConsumerRevocation, group: req.Group, member: req.MemberID})
	}
	out.Response = o.Response
	return out
}

func (c *Coordinator) cancelConsumerTimers(groupID, memberID string) {
	c.timers.cancel(timerKey{kind: timerConsumerSession, group: groupID, member: memberID})
	c.timers.cancel(timerKey{kind: timerConsumerRevocation, group: groupID, member: memberID})
}

// expireConsumerMember runs a member's session or revocation deadline.
func (c *Coordinator) expireConsumerMember(key timerKey, out *coordinator.Result) {
	revocation := key.kind == timerConsumerRevocation
	recs := c.consumer.Expire(key.group, key.member, revocation)
	if recs == nil {
		return
	}
	c.cancelConsumerTimers(key.group, key.member)
	consumerRecords(recs, out)
}

// ConsumerGroupDescribe handles a ConsumerGroupDescribe (key 69) for the
// groups of this partition.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest, _ time.Time) coordinator.Result {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, c.describeConsumerGroup(id))
	}
	return coordinator.Result{Response: resp}
}

func (c *Coordinator) describeConsumerGroup(id string) kmsg.ConsumerGroupDescribeResponseGroup {
	d, ok := c.consumer.Describe(id, c.cfg.Topics)
	switch {
	case !c.owns(id):
		d.ErrorCode = errNotCoordinator
	case ok:
	case c.groups[id] != nil:
		d.ErrorCode = errGroupIDNotFound
		d.ErrorMessage = strPtr("Group " + id + " is not a consumer group.")
	default:
		d.ErrorCode = errGroupIDNotFound
		d.ErrorMessage = strPtr("Group " + id + " not found.")
	}
	return d
}

// consumerCommitCode checks an OffsetCommit to a consumer group; ok is
// false when the group is not a consumer group.
func (c *Coordinator) consumerCommitCode(req *kmsg.OffsetCommitRequest) (int16, bool) {
	if c.consumer.Get(req.Group) == nil {
		return errNone, false
	}
	var committed []consumergroup.NamedPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			committed = append(committed, consumergroup.NamedPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	return c.consumer.ValidateCommit(req.Group, req.MemberID, req.Generation, req.Version, c.cfg.Topics, committed), true
}

// consumerSubscribedTo reports whether a member of consumer group id
// subscribes to topic (its offsets are kept and not deletable).
func (c *Coordinator) consumerSubscribedTo(id, topic string) bool {
	g := c.consumer.Get(id)
	if g == nil {
		return false
	}
	for _, m := range g.Members {
		for _, t := range m.SubscribedTopicNames {
			if t == topic {
				return true
			}
		}
	}
	// Regular-expression subscriptions show in the target assignment.
	return c.consumerTargetHasTopic(g, topic)
}

func (c *Coordinator) consumerTargetHasTopic(g *consumergroup.Group, topic string) bool {
	id, _, ok := c.cfg.Topics.ByName(topic)
	if !ok {
		return false
	}
	for _, p := range g.Target {
		if len(p[id]) > 0 {
			return true
		}
	}
	return false
}

// expireConsumerOffsets applies retention to consumer groups: an empty
// group's offsets expire by commit time, a live group's only for topics no
// member subscribes to; an empty group left without offsets is deleted.
func (c *Coordinator) expireConsumerOffsets(now time.Time, out *coordinator.Result) {
	for _, id := range c.consumer.IDs() {
		g := c.consumer.Get(id)
		all := true
		for _, tp := range sortedPartitions(c.offsets[id]) {
			o := c.offsets[id][tp]
			live := !g.Empty() && c.consumerSubscribedTo(id, tp.topic)
			expired := now.Sub(o.commitTime) >= c.cfg.OffsetsRetention
			if !o.expireTime.IsZero() {
				// A commit with its own retention (OffsetCommit v2-v4).
				expired = !now.Before(o.expireTime)
			}
			if !live && expired {
				c.deleteOffset(id, tp, out)
			} else {
				all = false
			}
		}
		if all && g.Empty() {
			consumerRecords(c.consumer.Delete(id), out)
		}
	}
}

// deleteConsumerOffsets is OffsetDelete for a consumer group: offsets of
// topics a member subscribes to stay (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) deleteConsumerOffsets(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, out *coordinator.Result) {
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		subscribed := c.consumerSubscribedTo(req.Group, t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{t.Topic, p.Partition}
			if subscribed {
				rp.ErrorCode = errGroupSubscribedToTopic
			} else if _, ok := c.offsets[req.Group][tp]; ok {
				c.deleteOffset(req.Group, tp, out)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
}
