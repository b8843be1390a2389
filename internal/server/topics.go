package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/metadata"
)

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

// createTopic asks the controller to create a topic (or only validate).
func (b *Broker) createTopic(ctx context.Context, spec controller.TopicSpec, validateOnly bool) (*metadata.Topic, error) {
	return b.ctrl.CreateTopic(ctx, spec, validateOnly)
}

// producerIDs hands out producer IDs from blocks the controller allocates
// to this broker (Kafka's ProducerIdManager): one metadata commit per
// controller.ProducerIDBlockSize InitProducerID requests.
type producerIDs struct {
	mu         sync.Mutex // guards next and end
	next, end  int64
	ctrl       *controller.Controller
	brokerID   int32
	brokerEpoc int64
}

// allocate returns a fresh producer ID.
func (p *producerIDs) allocate(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, err := p.ctrl.AllocateProducerIDs(ctx, p.brokerID, p.brokerEpoc)
		if err != nil {
			return 0, fmt.Errorf("producer ID block: %w", err)
		}
		p.next, p.end = first, first+controller.ProducerIDBlockSize
	}
	id := p.next
	p.next++
	return id, nil
}
