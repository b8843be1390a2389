package node

import (
	"github.com/fjordstream/fjord/internal/budget"
	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/record"
)

// unboundedDecompression is the decompression share when
// queued.max.request.bytes is -1 (unbounded): inflating stays bounded
// even then, at the largest batch a Decompressor inflates.
const unboundedDecompression = record.DefaultMaxDecompressedBytes

// requestBudgets are a node's bounds on memory spent on requests, shared
// by all its listeners: queued.max.request.bytes split into frames read
// from sockets and a share set aside for inflating compressed batches (the
// share is separate so a validation never waits for frames, which wait for
// their validations), and queued.max.requests.
type requestBudgets struct {
	frames        *budget.Pool // nil when unbounded
	decompression *budget.Pool
	slots         *budget.Pool
}

// interBroker returns pools for a separate inter-broker listener: half
// the frames budget and as many slots, its own, so that clients spending
// theirs do not stop replication.
func (rb requestBudgets) interBroker() (frames, slots *budget.Pool) {
	if rb.frames != nil {
		frames = budget.NewLenient(max(rb.frames.Capacity()/2, 1))
	}
	return frames, budget.NewStrict(rb.slots.Capacity())
}

func newRequestBudgets(b *config.Broker) requestBudgets {
	var rb requestBudgets
	rb.slots = budget.NewStrict(int64(max(b.QueuedMaxRequests, 1)))
	total := b.QueuedMaxRequestBytes
	if total <= 0 {
		rb.decompression = budget.NewStrict(unboundedDecompression)
		return rb
	}
	share := max(total/4, record.MinBudget)
	frames := total - share
	if frames < total/2 { // a small budget: the share's floor took most of it
		frames = max(total/2, 1)
	}
	rb.decompression = budget.NewStrict(share)
	rb.frames = budget.NewLenient(frames)
	return rb
}
