package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ControllerChannel reaches the active controller (controller.Channel):
// admin requests are forwarded through it, as Kafka's brokers forward
// them, and it returns once this broker's metadata includes the change.
type ControllerChannel interface {
	Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	// ActiveController is the active controller's node ID (-1: unknown).
	ActiveController() int32
}

// adminTimeout bounds a metadata change made on a request's behalf when
// the request carries no timeout of its own.
const adminTimeout = 30 * time.Second

// adminCtx returns the context of a metadata change: the request's
// timeout (ms) when positive, else adminTimeout.
func adminCtx(timeoutMs int32) (context.Context, context.CancelFunc) {
	d := adminTimeout
	if timeoutMs > 0 {
		d = time.Duration(timeoutMs) * time.Millisecond
	}
	return context.WithTimeout(context.Background(), d)
}

// brokerCount is the number of live (registered, unfenced) brokers.
func (b *Broker) brokerCount() int {
	n := 0
	for _, br := range b.meta.Image().Brokers() {
		if !br.Fenced {
			n++
		}
	}
	return n
}

// producerIDs hands out producer IDs from blocks the controller allocates
// to this broker (Kafka's ProducerIdManager, AllocateProducerIds): one
// metadata commit per block of InitProducerID requests.
type producerIDs struct {
	mu        sync.Mutex // guards next and end
	next, end int64
	ctrl      ControllerChannel
	brokerID  int32
	epoch     func() int64
}

// allocate returns a fresh producer ID.
func (p *producerIDs) allocate(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = p.brokerID, p.epoch()
		resp, err := p.ctrl.Forward(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("producer ID block: %w", err)
		}
		r := resp.(*kmsg.AllocateProducerIDsResponse)
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return 0, fmt.Errorf("producer ID block: %w", err)
		}
		p.next, p.end = r.ProducerIDStart, r.ProducerIDStart+int64(r.ProducerIDLen)
	}
	id := p.next
	p.next++
	return id, nil
}
