package server

// EndTxn (key 26), v0-v5: the producer commits or aborts its transaction
// at its coordinator; decided once the PrepareCommit or PrepareAbort state
// is durable, answered once the markers are written and the transaction
// completed too (txn.Service.End waits up to 2 s for that). A retry of an end that completed succeeds; an end while
// one is completing is CONCURRENT_TRANSACTIONS; PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2 (KIP-588). v5 is KIP-890 part 2: the
// epoch is bumped by every end and answered with the producer ID (as
// Kafka, the version alone says the producer runs part 2).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleEndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		pid, epoch, err := b.txns.End(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 5)
		if err != nil {
			resp.ErrorCode = txnCode(err, req.Version >= 2)
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp
	})
}
