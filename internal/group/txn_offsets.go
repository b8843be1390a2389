package group

// TxnOffsetCommit (key 28) and the end of the transactions it joined: a
// transactional producer commits a group's offsets as part of its
// transaction (consume-transform-produce). The offsets are written at once
// as records of a transactional batch of the producer, and held pending:
// OffsetFetch does not show them (with require_stable it answers
// UNSTABLE_OFFSET_COMMIT for their partitions) until the transaction's
// marker reaches this partition. A commit marker makes them the group's
// committed offsets, an abort drops them (CompleteTransaction live,
// ReplayMarker on load), as Kafka's GroupMetadataManager.
//
// Membership is checked as Kafka checks a transactional commit: a request
// naming a member or a generation must match the group's (classic groups:
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION; consumer
// groups: the member's epoch); one naming neither is accepted, and an
// unknown group is created Empty, as Kafka does.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/coordinator"
)

var _ coordinator.TxnCore = (*Coordinator)(nil)

// TxnOffsetCommit handles a TxnOffsetCommit request.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, now time.Time) coordinator.Result {
	resp := txnCommitResponse(req, errNone)
	out := coordinator.Result{Response: resp}
	if code := c.validateTxnCommit(req); code != errNone {
		setTxnCommitErrors(resp, code)
		return out
	}
	prod := &coordinator.Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if p.Metadata != nil && javaLength(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes {
				resp.Topics[i].Partitions[j].ErrorCode = errOffsetMetadataTooLarge
				continue
			}
			o := offsetValue{offset: p.Offset, leaderEpoch: -1, commitTime: now}
			if req.Version >= 2 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			tp := topicPartition{t.Topic, p.Partition}
			c.putPending(req.ProducerID, req.Group, tp, o)
			rec := offsetRecord(req.Group, tp, o)
			rec.Producer = prod
			out.Records = append(out.Records, rec)
		}
	}
	return out
}

// validateTxnCommit returns the code every partition of req gets.
func (c *Coordinator) validateTxnCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	if !c.owns(req.Group) {
		return errNotCoordinator
	}
	named := req.MemberID != "" || req.Generation >= 0 || req.InstanceID != nil
	if c.consumer.Get(req.Group) != nil {
		if !named {
			return errNone
		}
		var committed []consumergroup.NamedPartition
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				committed = append(committed, consumergroup.NamedPartition{Topic: t.Topic, Partition: p.Partition})
			}
		}
		// As a v9 OffsetCommit: the member's epoch is the generation.
		return c.consumer.ValidateCommit(req.Group, req.MemberID, req.Generation, 9, c.cfg.Topics, committed)
	}
	g := c.groups[req.Group]
	if g == nil {
		g = newGroup(req.Group, time.Time{})
		c.groups[req.Group] = g
	}
	if !named {
		return errNone
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != errNone {
		return code
	}
	if req.Generation != g.generation {
		return errIllegalGeneration
	}
	return errNone
}

func txnCommitResponse(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func setTxnCommitErrors(resp *kmsg.TxnOffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			resp.Topics[i].Partitions[j].ErrorCode = code
		}
	}
}

// putPending holds a transactional offset of producerID.
func (c *Coordinator) putPending(producerID int64, groupID string, tp topicPartition, o offsetValue) {
	byGroup := c.pending[producerID]
	if byGroup == nil {
		byGroup = map[string]map[topicPartition]offsetValue{}
		c.pending[producerID] = byGroup
	}
	offs := byGroup[groupID]
	if offs == nil {
		offs = map[topicPartition]offsetValue{}
		byGroup[groupID] = offs
	}
	c.seq++
	o.seq = c.seq
	offs[tp] = o
}

// hasPending reports whether a transaction holds an offset of the group's
// partition not yet committed or aborted.
func (c *Coordinator) hasPending(groupID string, tp topicPartition) bool {
	for _, byGroup := range c.pending {
		if _, ok := byGroup[groupID][tp]; ok {
			return true
		}
	}
	return false
}

// CompleteTransaction applies a transaction marker written to this
// partition: producerID's pending offsets become committed (commit) or are
// dropped (abort). The marker itself is the record: nothing is written.
func (c *Coordinator) CompleteTransaction(producerID int64, commit bool, _ time.Time) coordinator.Result {
	c.ReplayMarker(producerID, commit)
	return coordinator.Result{}
}

// ReplayTxn applies a record of a transactional batch on load: an offset
// commit is held pending for the producer; anything else (not written
// transactionally by Fjord or Kafka) is replayed as a plain record.
func (c *Coordinator) ReplayTxn(p coordinator.Producer, key, value []byte) error {
	if len(key) < 2 || key[0] != 0 || key[1] > 1 || value == nil {
		return c.Replay(key, value)
	}
	groupID, tp, o, err := decodeOffset(key, value)
	if err != nil {
		return err
	}
	c.putPending(p.ID, groupID, tp, o)
	return nil
}

// ReplayMarker applies a transaction marker on load (and live, through
// CompleteTransaction).
func (c *Coordinator) ReplayMarker(producerID int64, commit bool) {
	byGroup := c.pending[producerID]
	delete(c.pending, producerID)
	if !commit {
		return
	}
	for groupID, offs := range byGroup {
		if c.groups[groupID] == nil && c.consumer.Get(groupID) == nil {
			c.groups[groupID] = newGroup(groupID, time.Time{})
		}
		for tp, o := range offs {
			if cur, ok := c.offsets[groupID][tp]; ok && cur.seq > o.seq {
				continue // a plain commit written after this one stays
			}
			c.putOffset(groupID, tp, o)
		}
	}
}
