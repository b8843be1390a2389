package server

// AddOffsetsToTxn (key 25), v0-v4: a transactional producer's next
// TxnOffsetCommit for a group joins its transaction: the group's
// __consumer_offsets partition is added to it (it gets the transaction's
// marker), answered once durable. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2 (KIP-588).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleAddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		if b.meta.Image().Topic(group.OffsetsTopic) == nil {
			if _, err := b.ensureOffsetsTopic(); err != nil {
				resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				return resp
			}
		}
		tp := txn.TopicPartition{Topic: group.OffsetsTopic, Partition: b.groups.PartitionFor(req.Group)}
		if err := b.txns.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp}); err != nil {
			resp.ErrorCode = txnCode(err, req.Version >= 2)
		}
		return resp
	})
}
