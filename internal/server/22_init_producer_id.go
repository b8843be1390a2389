package server

// InitProducerID (key 22), v0-v5, for idempotent producers: allocates a new
// producer ID with epoch 0 from the block of IDs the controller gave this
// broker (a new block, committed to the metadata log, every 1,000 IDs),
// as Kafka does for a request without a transactional ID (also when a v3+
// request names its current ID and epoch, KIP-360: a fresh ID serves the
// same purpose as a bumped epoch). Sequences are then checked and retries
// de-duplicated per partition (see 00_produce.go).
//
// Departure from Kafka: transactional IDs get COORDINATOR_NOT_AVAILABLE
// until the transaction coordinator exists.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleInitProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	ctx, cancel := adminCtx(0)
	defer cancel()
	id, err := b.pids.allocate(ctx)
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		b.logger.Error("allocating a producer id failed", "err", err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
