package server

// TxnOffsetCommit (key 28), v0-v5 (v3: KIP-447's member ID, generation and
// instance ID; v4: KIP-890 part 1's errors, the same request; v5: KIP-890
// part 2, the transaction's partition added here rather than by
// AddOffsetsToTxn): a transactional producer commits a group's offsets within
// its transaction, at the group's coordinator. The transaction's
// coordinator first verifies that the transaction holds the group's
// __consumer_offsets partition (AddOffsetsToTxn came first), as a
// transactional produce is verified (KIP-890); then the group coordinator
// writes the offsets as the producer's transactional records and holds
// them pending until the transaction's marker (see group/txn_offsets.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/group"
)

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *inflight {
	if req.Version < 3 {
		req.Generation, req.MemberID, req.InstanceID = -1, "", nil
	}
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		fail := func(code int16) kmsg.Response {
			resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
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
		part := b.partitionFor(group.OffsetsTopic, b.groups.PartitionFor(req.Group))
		if part == nil {
			return fail(kerr.NotCoordinator.Code)
		}
		// v5 is KIP-890 part 2's: the producer sent no AddOffsetsToTxn,
		// so the group's partition is added to the transaction here.
		if err := b.verifyTransactional(ctx, part, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version >= 5); err != nil {
			return fail(txnCode(err, req.Version >= 3))
		}
		return b.groups.TxnOffsetCommit(ctx, req)
	})
}
