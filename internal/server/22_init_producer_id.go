package server

// InitProducerID (key 22), v0-v5. Without a transactional ID (idempotent
// producers): a new producer ID with epoch 0 from the block of IDs the
// controller gave this broker (a new block, committed to the metadata
// log, every 1,000 IDs), as Kafka does (also when a v3+ request names its
// current ID and epoch, KIP-360: a fresh ID serves the same purpose as a
// bumped epoch). Sequences are then checked and retries de-duplicated per
// partition (see 00_produce.go).
//
// With a transactional ID, the transaction coordinator of its
// __transaction_state partition answers (NOT_COORDINATOR elsewhere): a
// new ID gets a producer ID and epoch 0, a known one its epoch bumped
// (fencing the previous producer), an ongoing transaction is aborted first
// (CONCURRENT_TRANSACTIONS until it is), a transaction.timeout.ms above
// transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT, an empty ID
// INVALID_REQUEST; answered once the new state is durable.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v4 (KIP-588).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		id := *req.TransactionalID
		if id == "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return &inflight{resp: resp}
		}
		return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
			pid, epoch, err := b.txns.InitProducerID(ctx, txn.InitRequest{ID: id,
				Timeout:    time.Duration(req.TransactionTimeoutMillis) * time.Millisecond,
				ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch})
			if err != nil {
				resp.ErrorCode = txnCode(err, req.Version >= 4)
				return resp
			}
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
			return resp
		})
	}
	actx, cancel := adminCtx(0)
	defer cancel()
	id, err := b.pids.allocate(actx)
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		b.logger.Error("allocating a producer id failed", "err", err)
		return &inflight{resp: resp}
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return &inflight{resp: resp}
}
