package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/netserve"
	"github.com/fjordstream/fjord/internal/protocol"
)

// maxInflightPerConn bounds the responses queued on one connection; a client
// pipelining more waits (TCP backpressure) until earlier ones are written.
const maxInflightPerConn = 32

// Server accepts connections on one listener and serves them with a Broker.
type Server struct {
	loop     *netserve.Loop
	listener string // the listener's name, for answers that name addresses
	broker   *Broker
	logger   *slog.Logger
	requests *RequestBudget // what its requests are charged to; set before Start
}

// New returns a server for ln, the listener named listener (its clients
// are answered with the brokers' addresses on that listener), accepting
// under opts' limits and socket settings; Start starts it.
func New(listener string, ln net.Listener, b *Broker, logger *slog.Logger, opts netserve.Options) *Server {
	s := &Server{listener: listener, broker: b, logger: logger, requests: b.cfg.Requests}
	if opts.Name == "" {
		opts.Name = listener
	}
	s.loop = netserve.NewWithOptions(ln, s.serveConn, logger, opts)
	return s
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.loop.Addr() }

// UseRequestBudget charges this listener's requests to rb instead of the
// node's shared budget (the inter-broker listener's own, so clients cannot
// stop replication by spending the shared one). Call it before Start.
func (s *Server) UseRequestBudget(rb *RequestBudget) { s.requests = rb }

// Start runs the accept loop in a goroutine owned by the server.
func (s *Server) Start() { s.loop.Start() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error { return s.loop.Close() }

// inflight is a request whose response is waiting to be written. finish, if
// set, runs in the writer before the response is encoded: a produce uses it
// to wait for durability, so a connection's pipelined produces share fsyncs.
// A fetch carries fetch instead of resp: its record sets are pinned file
// regions, released by release once written or dropped.
type inflight struct {
	corr  int32
	key   int16     // the request's API key, for its metrics
	start time.Time // when the request was read
	// version and clientID are for the request log.
	version  int16
	clientID string
	resp     kmsg.Response
	finish   func(ctx context.Context)
	fetch    *fetchResult
	// silent: finish runs but nothing is written (an acks=0 produce).
	silent bool
	// held is a fetch's charge to the request budget, given back by
	// release: its request stays charged until it is answered.
	held held
}

// release unpins a fetch response's files; a no-op for other responses
// and on later calls.
func (fl *inflight) release() {
	if fl.fetch != nil {
		fl.fetch.release()
	}
	fl.held.releaseBytes()
}

func (s *Server) serveConn(serverCtx context.Context, nc net.Conn) {
	ctx, cancel := context.WithCancel(serverCtx)
	defer cancel()
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	m := s.broker.cfg.Metrics
	m.connOpened()
	defer m.connClosed()
	queue := make(chan *inflight, maxInflightPerConn)
	var pending atomic.Int32 // requests read whose responses are not written yet
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx, nc, queue, &pending)
		cancel()
		nc.Close() // unblock the reader
	}()
	// Requests are handled under readCtx, which ends with the reader: a
	// client gone (or a server closing) stops waits made on its behalf,
	// such as a JoinGroup parked for a rebalance, while produce responses
	// already queued are still written.
	readCtx, readDone := context.WithCancel(ctx)
	share := s.requests.share(nc.RemoteAddr())
	defer s.requests.unshare(share)
	s.readLoop(readCtx, nc, share, queue, &pending)
	readDone()
	close(queue)
	<-writerDone
	// A writer that stopped on an error left responses queued: unpin
	// their files, and take them out of the node's in-flight count.
	for fl := range queue {
		fl.release()
	}
	m.inFlight(-int(pending.Load()))
}

// readLoop reads and handles the connection's requests until the client
// closes it, it errs, or it is idle for connections.max.idle.ms. The
// reader keeps reading while responses wait (a parked fetch or group
// call), so it sees the client leave at once; a connection is not idle
// while a response is pending (pending > 0), as it was not when the wait
// blocked the reader.
func (s *Server) readLoop(ctx context.Context, nc net.Conn, share *ipShare, queue chan<- *inflight, pending *atomic.Int32) {
	cfg := s.broker.cfg
	br := bufio.NewReaderSize(nc, 64<<10)
	var buf []byte
	for ctx.Err() == nil {
		if cfg.ConnectionsMaxIdle > 0 {
			_ = nc.SetReadDeadline(time.Now().Add(cfg.ConnectionsMaxIdle))
		}
		var err error
		if br.Buffered() == 0 {
			// Wait for the next request's first byte apart, so an idle
			// timeout there has consumed nothing and may be forgiven.
			_, err = br.Peek(1)
			if errors.Is(err, os.ErrDeadlineExceeded) && pending.Load() > 0 {
				continue
			}
		}
		var frame []byte
		var h held
		if err == nil {
			frame, h, err = s.readRequest(ctx, nc, br, share, buf)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.logger.Info("closing connection", "remote", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		read := time.Now()
		req, err := protocol.ParseRequest(frame)
		s.broker.cfg.Metrics.requestRead(req.Key, len(frame)+4)
		if err != nil {
			h.release()
		}
		if err != nil {
			if req.Key == protocol.ApiVersionsKey && errors.Is(err, protocol.ErrUnsupportedVersion) {
				// KIP-511: answer in v0 with the error and our table so the
				// client can retry with a version we serve.
				resp := kmsg.NewPtrApiVersionsResponse()
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				resp.ApiKeys = protocol.ApiVersionsKeys()
				pending.Add(1)
				cfg.Metrics.inFlight(1)
				select {
				case queue <- &inflight{corr: req.CorrelationID, key: req.Key, start: read, resp: resp}:
					continue
				case <-ctx.Done():
					return
				}
			}
			s.logger.Warn("closing connection after a request it cannot serve", "remote", nc.RemoteAddr().String(),
				"client_id", req.ClientID, "api_key", req.Key, "api_version", req.Version, "err", err)
			return
		}
		fl := s.broker.Handle(ctx, req, nc.RemoteAddr(), s.listener)
		// The slot ends with the handling. The bytes end with it too,
		// except a fetch's: a parked fetch keeps its decoded request
		// until it is answered, so its charge goes with the response.
		h.releaseSlot()
		if fl != nil && req.Key == 1 {
			fl.held = h
		} else {
			h.releaseBytes()
		}
		// Only a produce request's records alias the frame, and the append
		// has copied them by now; anything else may keep references, so its
		// frame buffer is not reused. Nor is a large one: an idle
		// connection must not pin memory the budget no longer counts.
		if req.Key == 0 && cap(frame) <= maxReusedFrame {
			buf = frame[:0]
		} else {
			buf = nil
		}
		if fl == nil {
			continue // acks=0 produce with nothing to wait for
		}
		fl.corr, fl.key, fl.start, fl.version, fl.clientID = req.CorrelationID, req.Key, read, req.Version, req.ClientID
		pending.Add(1)
		cfg.Metrics.inFlight(1)
		select {
		case queue <- fl:
		case <-ctx.Done():
			fl.release()
			return
		}
	}
}

// maxReusedFrame is the largest request frame or response buffer a
// connection keeps between requests.
const maxReusedFrame = 1 << 20

// A request other than Produce is charged decodeAmplification times its
// frame: kmsg turns each array element into a struct, and elements of a
// few bytes (a Fetch of empty topics, say) decode to about 21 times their
// size. Such requests are small (a Metadata request naming 100,000 topics
// is some 3 MiB), so they are limited to maxOtherFrame, which bounds one
// request's charge (192 MiB). A Produce request is charged its frame when
// admitted and, once read, its entries' structs (protocol.ProduceEntries
// refuses one whose entries would decode to more than the frame again
// plus 64 KiB): its records alias the frame.
const (
	decodeAmplification = 24
	maxOtherFrame       = 8 << 20
)

// Reading a request body is bounded in time once its bytes are charged to
// the budget, so a client trickling a large frame cannot hold the budget
// (and with it every connection's reads) for long: the body must arrive
// within bodyGrace plus its size at bodyMinRate (35 s for the largest
// frame by default, 10.25 s for 1 MiB).
const (
	bodyGrace   = 10 * time.Second
	bodyMinRate = 4 << 20 // bytes per second
)

// readRequest reads one request frame, charging it to the listener's
// request budget first (a slot, and bytes within the client address's
// share): while it is spent the connection is not read (backpressure), so
// memory for requests is bounded node-wide. The caller gives the charge
// back with h.release once the request is handled.
func (s *Server) readRequest(ctx context.Context, nc net.Conn, br *bufio.Reader, share *ipShare, buf []byte) (frame []byte, h held, err error) {
	cfg := s.broker.cfg
	n, err := protocol.ReadFrameSize(br, cfg.SocketRequestMaxBytes)
	if err != nil {
		return nil, h, err
	}
	key, err := br.Peek(2) // n >= 8: the API key is there
	if err != nil {
		return nil, h, err
	}
	produce := key[0] == 0 && key[1] == 0
	charge := int64(n)
	if !produce {
		if n > maxOtherFrame {
			return nil, h, fmt.Errorf("%w: a %d-byte request other than Produce (limit %d)", protocol.ErrFrameTooLarge, n, maxOtherFrame)
		}
		charge *= decodeAmplification
	}
	if h, err = s.requests.acquire(ctx, share, charge); err != nil {
		return nil, h, err
	}
	if int(n) > br.Buffered() {
		_ = nc.SetReadDeadline(time.Now().Add(bodyGrace + time.Duration(n)*time.Second/bodyMinRate))
	}
	frame, err = protocol.ReadFrameBody(br, n, buf)
	if err == nil && produce && int16(binary.BigEndian.Uint16(frame[2:])) >= 3 {
		// A Produce request's records alias the frame; its topic and
		// partition entries decode to structs, counted (at most the
		// frame again, plus a slack) before they are decoded.
		var entries int
		entries, err = protocol.ProduceEntries(frame)
		h.force(int64(entries) * protocol.ProduceEntryBytes)
	}
	if err != nil {
		h.release()
		return nil, held{}, err
	}
	if cfg.ConnectionsMaxIdle <= 0 {
		_ = nc.SetReadDeadline(time.Time{})
	}
	return frame, h, nil
}

func (s *Server) writeLoop(ctx context.Context, nc net.Conn, queue <-chan *inflight, pending *atomic.Int32) {
	w := newConnWriter(nc)
	var out []byte
	var cuts []protocol.FetchCut
	for fl := range queue {
		if fl.finish != nil {
			fl.finish(ctx)
		}
		pending.Add(-1) // answered; what is left is writing it, under its own deadline
		s.broker.cfg.Metrics.inFlight(-1)
		if fl.silent {
			// A response written before it may still be buffered.
			if len(queue) == 0 && w.bw.Buffered() > 0 {
				if err := w.bw.Flush(); err != nil {
					s.logger.Debug("write failed, closing connection", "remote", nc.RemoteAddr().String(), "err", err)
					return
				}
			}
			continue
		}
		_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		var err error
		n := 0
		if fl.fetch != nil {
			// Counted before the write: with sendfile the client may
			// have the records before writeFetch returns.
			fl.fetch.countBytesOut(s.broker.cfg.Metrics)
			s.broker.cfg.Metrics.responseErrors(fl.key, fl.fetch.resp)
			out, cuts, err = s.writeFetch(w, out[:0], cuts[:0], fl)
			n = len(out)
			for _, c := range cuts {
				n += int(fl.fetch.recordSetLen(c.Topic, c.Partition))
			}
		} else {
			s.broker.cfg.Metrics.responseErrors(fl.key, fl.resp)
			out = protocol.AppendResponse(out[:0], fl.corr, fl.resp)
			_, err = w.bw.Write(out)
			n = len(out)
		}
		if err == nil && !fl.start.IsZero() {
			s.broker.cfg.Metrics.responseWritten(fl.key, fl.start, n)
			if rl := s.broker.cfg.RequestLog; rl != nil && rl.Load() {
				s.logger.Info("request", "api", kmsg.NameForKey(fl.key), "api_version", fl.version, "client_id", fl.clientID,
					"remote", nc.RemoteAddr().String(), "listener", s.listener, "duration", time.Since(fl.start), "response_bytes", n)
			}
		}
		fl.release()
		if err == nil && len(queue) == 0 {
			err = w.bw.Flush()
		}
		if err != nil {
			level := slog.LevelDebug // the peer went away, mostly
			if errors.Is(err, errFileShort) {
				level = slog.LevelWarn
			}
			s.logger.Log(ctx, level, "write failed, closing connection", "remote", nc.RemoteAddr().String(), "err", err)
			return
		}
		if cap(out) > maxReusedFrame {
			out = nil // do not pin a large response buffer on an idle connection
		}
	}
}

// writeFetch writes a fetch response: the encoded parts through the
// buffered writer and each partition's pinned record set in between,
// from the segment files (sendRegion). A failure part-way leaves a torn
// frame, so the caller closes the connection.
func (s *Server) writeFetch(w *connWriter, out []byte, cuts []protocol.FetchCut, fl *inflight) ([]byte, []protocol.FetchCut, error) {
	fr := fl.fetch
	out, cuts, err := protocol.AppendFetchResponse(out, cuts, fl.corr, fr.resp, fr.recordSetLen)
	if err != nil {
		s.logger.Warn("fetch response cannot be framed", "err", err)
		return out, cuts, err
	}
	prev := 0
	for _, c := range cuts {
		if _, err := w.bw.Write(out[prev:c.At]); err != nil {
			return out, cuts, err
		}
		for _, sl := range fr.sets[c.Topic][c.Partition].Slices() {
			if err := w.sendRegion(sl); err != nil {
				return out, cuts, err
			}
		}
		prev = c.At
	}
	_, err = w.bw.Write(out[prev:])
	return out, cuts, err
}

// Listen opens a TCP listener on addr.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
