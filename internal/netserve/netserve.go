// Package netserve runs a TCP accept loop and owns the connections it
// accepts, for the Kafka listeners (package server) and the controller
// listener (package controller).
//
// Invariants: every connection goroutine is tracked and Close returns only
// after each has ended (Close closes the listener and every open
// connection first); an accept error other than the listener closing (out
// of file descriptors, say) is retried with a growing backoff, so a
// listener never stops serving for good while its node runs. A connection
// over a limit of the loop's Quotas is closed as soon as it is accepted,
// before anything is read from it.
package netserve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/fjordstream/fjord/internal/loglimit"
)

// maxAcceptBackoff bounds the wait between failed accepts.
const maxAcceptBackoff = time.Second

// Options are a loop's limits and socket settings; the zero value has no
// limits and leaves sockets as the OS makes them.
type Options struct {
	// Name names the listener in log lines.
	Name string
	// Quotas, shared by the loops of a node's broker listeners, counts
	// their connections and enforces the node's connection limits; nil
	// means none (the controller listener, whose peers are the cluster's
	// own nodes).
	Quotas *Quotas
	// Protected exempts the listener from max.connections and the
	// creation rate: Kafka's inter-broker listener when the node has
	// other broker listeners too, so clients cannot starve replication.
	Protected bool
	// SendBuffer and ReceiveBuffer are SO_SNDBUF and SO_RCVBUF for
	// accepted sockets (socket.send.buffer.bytes,
	// socket.receive.buffer.bytes); <= 0 keeps the OS default and its
	// autotuning. The receive size is set on the listening socket too:
	// TCP chooses its window scale during the handshake, from the
	// listener's buffer.
	SendBuffer, ReceiveBuffer int
}

// Loop accepts connections on one listener and serves each in its own
// goroutine.
type Loop struct {
	ln     net.Listener
	serve  func(ctx context.Context, nc net.Conn)
	logger *slog.Logger
	opts   Options
	logs   *loglimit.Limiter // accept failures

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and the connection goroutines

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// New returns a loop over ln without limits; see NewWithOptions.
func New(ln net.Listener, serve func(ctx context.Context, nc net.Conn), logger *slog.Logger) *Loop {
	return NewWithOptions(ln, serve, logger, Options{})
}

// NewWithOptions returns a loop over ln that hands each connection to
// serve with a context that ends at Close; serve owns the connection (it
// may close it), and Close closes it too. Start starts the loop.
func NewWithOptions(ln net.Listener, serve func(ctx context.Context, nc net.Conn), logger *slog.Logger, opts Options) *Loop {
	if opts.Name == "" {
		opts.Name = ln.Addr().String()
	}
	if opts.ReceiveBuffer > 0 {
		if sc, ok := ln.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				if err := setBuffers(rc, 0, opts.ReceiveBuffer); err != nil {
					logger.Warn("could not set the listener's receive buffer", "listener", opts.Name, "err", err)
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Loop{ln: ln, serve: serve, logger: logger, opts: opts, logs: loglimit.New(),
		ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
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

// Conns is the number of connections being served.
func (l *Loop) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// sleep waits d or until Close; false means Close.
func (l *Loop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}

func (l *Loop) accept() {
	q := l.opts.Quotas
	var backoff time.Duration
	for {
		// The creation rate is kept before accepting, so a connection
		// waiting its turn holds no file descriptor here.
		if q != nil && !l.opts.Protected {
			for d := q.wait(time.Now()); d > 0; d = q.wait(time.Now()) {
				if !l.sleep(d) {
					return
				}
			}
		}
		nc, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			// Out of descriptors, this fails on every try: one line per
			// loglimit.Every says so without flooding the log.
			if ok, held := l.logs.Allow("accept", time.Now()); ok {
				l.logger.Warn("accept failed", "listener", l.opts.Name, "err", err, "retry_in", backoff, "similar_suppressed", held)
			}
			if !l.sleep(backoff) {
				return
			}
			continue
		}
		backoff = 0
		var adm admission
		if q != nil {
			var ok bool
			if adm, ok = q.admit(nc.RemoteAddr(), l.opts.Name, l.opts.Protected, time.Now()); !ok {
				nc.Close()
				continue
			}
		}
		l.configure(nc)
		l.mu.Lock()
		if l.ctx.Err() != nil {
			l.mu.Unlock()
			nc.Close()
			if q != nil {
				q.release(adm)
			}
			return
		}
		l.conns[nc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.serve(l.ctx, nc)
			nc.Close() // the slot is given back: the descriptor must go too
			l.mu.Lock()
			delete(l.conns, nc)
			l.mu.Unlock()
			if q != nil {
				q.release(adm)
			}
		}()
	}
}

// configure applies the socket buffer sizes to an accepted connection.
func (l *Loop) configure(nc net.Conn) {
	if l.opts.SendBuffer <= 0 && l.opts.ReceiveBuffer <= 0 {
		return
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err == nil {
		err = setBuffers(rc, l.opts.SendBuffer, l.opts.ReceiveBuffer)
	}
	if err != nil {
		if ok, held := l.logs.Allow("sockopt", time.Now()); ok {
			l.logger.Warn("could not set socket buffer sizes", "listener", l.opts.Name, "err", err, "similar_suppressed", held)
		}
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
