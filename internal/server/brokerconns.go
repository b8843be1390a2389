package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/kconn"
)

// brokerConns are this broker's connections to the other brokers'
// inter-broker listeners for the transaction coordinator's requests
// (WriteTxnMarkers to partition leaders, and a leader's verification of a
// transactional write with its coordinator): one connection per broker,
// one request at a time on it, dropped on any error and dialled again on
// the next call. Every call is bounded by a timeout and by its context.
type brokerConns struct {
	b *Broker

	mu     sync.Mutex // guards conns and closed
	conns  map[int32]*brokerConn
	closed bool
}

// brokerConn is the connection to one broker.
type brokerConn struct {
	mu   sync.Mutex // held for a whole request
	c    *kconn.Conn
	addr string // what c is connected to
}

func newBrokerConns(b *Broker) *brokerConns {
	return &brokerConns{b: b, conns: map[int32]*brokerConn{}}
}

// call sends req to broker id and reads its answer into resp, within
// timeout and ctx.
func (p *brokerConns) call(ctx context.Context, id int32, req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	ep, ok := p.b.endpoint(id, p.b.interBrokerListener())
	if !ok {
		return fmt.Errorf("broker %d has no live endpoint on the inter-broker listener", id)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("broker %d: %w", id, context.Canceled)
	}
	bc := p.conns[id]
	if bc == nil {
		bc = &brokerConn{}
		p.conns[id] = bc
	}
	p.mu.Unlock()

	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.c != nil && bc.addr != addr {
		bc.c.Close()
		bc.c = nil
	}
	if bc.c == nil {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		c, err := kconn.Dial(dctx, addr, "", fmt.Sprintf("fjord-broker-%d", p.b.cfg.NodeID))
		cancel()
		if err != nil {
			return fmt.Errorf("broker %d at %s: %w", id, addr, err)
		}
		bc.c, bc.addr = c, addr
	}
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	stop := context.AfterFunc(ctx, bc.c.Interrupt)
	err := bc.c.Request(req, resp, timeout)
	stop()
	if err != nil {
		bc.c.Close()
		bc.c = nil
		return fmt.Errorf("broker %d at %s: %w", id, addr, err)
	}
	return nil
}

// close drops every connection; later calls fail.
func (p *brokerConns) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[int32]*brokerConn{}
	p.mu.Unlock()
	for _, bc := range conns {
		bc.mu.Lock()
		if bc.c != nil {
			bc.c.Close()
			bc.c = nil
		}
		bc.mu.Unlock()
	}
}
