// Package netserve runs a TCP accept loop and owns the connections it
// accepts, for the Kafka listeners (package server) and the controller
// listener (package controller).
//
// Invariants: every connection goroutine is tracked and Close returns only
// after each has ended (Close closes the listener and every open
// connection first); an accept error other than the listener closing (out
// of file descriptors, say) is retried with a growing backoff, so a
// listener never stops serving for good while its node runs.
package netserve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxAcceptBackoff bounds the wait between failed accepts.
const maxAcceptBackoff = time.Second

// Loop accepts connections on one listener and serves each in its own
// goroutine.
type Loop struct {
	ln     net.Listener
	serve  func(ctx context.Context, nc net.Conn)
	logger *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and the connection goroutines

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// New returns a loop over ln that hands each connection to serve with a
// context that ends at Close; serve owns the connection (it may close it),
// and Close closes it too. Start starts the loop.
func New(ln net.Listener, serve func(ctx context.Context, nc net.Conn), logger *slog.Logger) *Loop {
	ctx, cancel := context.WithCancel(context.Background())
	return &Loop{ln: ln, serve: serve, logger: logger, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Addr is the listener's address.
func (l *Loop) Addr() net.Addr { return l.ln.Addr() }

// Start runs the accept loop in a goroutine the loop owns.
func (l *Loop) Start() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.accept()
	}()
}

func (l *Loop) accept() {
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			l.logger.Warn("accept failed", "listener", l.ln.Addr().String(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		l.mu.Lock()
		if l.ctx.Err() != nil {
			l.mu.Unlock()
			nc.Close()
			return
		}
		l.conns[nc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.serve(l.ctx, nc)
			l.mu.Lock()
			delete(l.conns, nc)
			l.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (l *Loop) Close() error {
	l.cancel()
	err := l.ln.Close()
	l.mu.Lock()
	for nc := range l.conns {
		nc.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
