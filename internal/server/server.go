package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

// maxInflightPerConn bounds the responses queued on one connection; a client
// pipelining more waits (TCP backpressure) until earlier ones are written.
const maxInflightPerConn = 32

// Server accepts connections on one listener and serves them with a Broker.
type Server struct {
	ln     net.Listener
	broker *Broker
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and connection goroutines

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// New returns a server for ln; Serve starts it.
func New(ln net.Listener, b *Broker, logger *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ln: ln, broker: b, logger: logger, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Start runs the accept loop in a goroutine owned by the server.
func (s *Server) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
}

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// inflight is a request whose response is waiting to be written. finish, if
// set, runs in the writer before the response is encoded: a produce uses it
// to wait for durability, so a connection's pipelined produces share fsyncs.
type inflight struct {
	corr   int32
	resp   kmsg.Response
	finish func(ctx context.Context)
}

func (s *Server) serveConn(nc net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	queue := make(chan *inflight, maxInflightPerConn)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx, nc, queue)
		cancel()
		nc.Close() // unblock the reader
	}()
	s.readLoop(ctx, nc, queue)
	close(queue)
	<-writerDone
}

func (s *Server) readLoop(ctx context.Context, nc net.Conn, queue chan<- *inflight) {
	cfg := s.broker.cfg
	br := bufio.NewReaderSize(nc, 64<<10)
	var buf []byte
	for ctx.Err() == nil {
		if cfg.ConnectionsMaxIdle > 0 {
			_ = nc.SetReadDeadline(time.Now().Add(cfg.ConnectionsMaxIdle))
		}
		frame, err := protocol.ReadFrame(br, cfg.SocketRequestMaxBytes, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.logger.Info("closing connection", "remote", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		req, err := protocol.ParseRequest(frame)
		if err != nil {
			if req.Key == protocol.ApiVersionsKey && errors.Is(err, protocol.ErrUnsupportedVersion) {
				// KIP-511: answer in v0 with the error and our table so the
				// client can retry with a version we serve.
				resp := kmsg.NewPtrApiVersionsResponse()
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				resp.ApiKeys = protocol.ApiVersionsKeys()
				select {
				case queue <- &inflight{corr: req.CorrelationID, resp: resp}:
					continue
				case <-ctx.Done():
					return
				}
			}
			s.logger.Warn("closing connection after a request it cannot serve", "remote", nc.RemoteAddr().String(),
				"client_id", req.ClientID, "api_key", req.Key, "api_version", req.Version, "err", err)
			return
		}
		fl := s.broker.Handle(ctx, req)
		// Only a produce request's records alias the frame, and the append
		// has copied them by now; anything else may keep references, so its
		// frame buffer is not reused.
		if req.Key == 0 {
			buf = frame[:0]
		} else {
			buf = nil
		}
		if fl == nil {
			continue // acks=0 produce: no response
		}
		fl.corr = req.CorrelationID
		select {
		case queue <- fl:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) writeLoop(ctx context.Context, nc net.Conn, queue <-chan *inflight) {
	bw := bufio.NewWriterSize(nc, 64<<10)
	var out []byte
	for fl := range queue {
		if fl.finish != nil {
			fl.finish(ctx)
		}
		out = protocol.AppendResponse(out[:0], fl.corr, fl.resp)
		_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := bw.Write(out); err != nil {
			s.logger.Debug("write failed", "remote", nc.RemoteAddr().String(), "err", err)
			return
		}
		if len(queue) == 0 {
			if err := bw.Flush(); err != nil {
				s.logger.Debug("write failed", "remote", nc.RemoteAddr().String(), "err", err)
				return
			}
		}
		if cap(out) > 8<<20 {
			out = nil // do not pin a huge fetch buffer on an idle connection
		}
	}
}

// Listen opens a TCP listener on addr.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
