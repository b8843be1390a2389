package server

// InitProducerID (key 22), v0-v5, for idempotent producers: allocates a new
// producer ID with epoch 0 from the persisted counter in the metadata image.
// Transactional IDs are refused until the transaction coordinator exists.
//
// Departure from Kafka (for now): per-partition sequence checks and
// duplicate detection come with the idempotence issue, so a retried batch
// may be appended twice.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleInitProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	var id int64
	err := b.meta.Update(func(m *metadata.Mutation) error {
		id = m.AllocateProducerIDs(1)
		return nil
	})
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		b.logger.Error("allocating a producer id failed", "err", err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
