package controller

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/netserve"
)

// maxCallsPerConn bounds the calls one connection may have in progress.
const maxCallsPerConn = 64

// Handler answers calls on the controller listener.
type Handler interface {
	// Forward answers a Kafka request as the active controller.
	Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	// FetchMetadata answers a broker's metadata fetch.
	FetchMetadata(ctx context.Context, node int32, from int64, maxBytes int32, wait time.Duration) ([]byte, error)
	// Offset is the metadata offset the handler's answers are at.
	Offset() int64
}

// Server serves the quorum protocol on the controller listener: raft
// messages go to the quorum, calls to the handler. Every goroutine it
// starts ends by Close.
type Server struct {
	loop    *netserve.Loop
	quorum  *RaftQuorum
	handler Handler
	logger  *slog.Logger
}

// NewServer returns a server of the quorum protocol on ln.
func NewServer(ln net.Listener, q *RaftQuorum, h Handler, logger *slog.Logger) *Server {
	s := &Server{quorum: q, handler: h, logger: logger}
	s.loop = netserve.New(ln, s.serve, logger)
	return s
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.loop.Addr() }

// Start accepts connections in the background.
func (s *Server) Start() { s.loop.Start() }

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() error { return s.loop.Close() }

func (s *Server) serve(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	magic := make([]byte, len(quorumMagic))
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != quorumMagic {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	var wmu sync.Mutex
	sem := make(chan struct{}, maxCallsPerConn)
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		kind, body, err := readFrame(br)
		if err != nil {
			return
		}
		switch kind {
		case kindRaft:
			var m pb.Message
			if err := m.Unmarshal(body); err != nil || s.quorum == nil {
				return
			}
			s.quorum.Step(m)
		case kindCall:
			if len(body) < 10 {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			calls.Add(1)
			go func() {
				defer calls.Done()
				defer func() { <-sem }()
				code, payload := s.answer(ctx, binary.BigEndian.Uint16(body[8:]), body[10:])
				out := binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(body))
				out = binary.BigEndian.AppendUint16(out, uint16(code))
				wmu.Lock()
				_ = nc.SetWriteDeadline(time.Now().Add(writeTimeout))
				err := writeFrame(nc, kindReply, out, payload)
				wmu.Unlock()
				if err != nil {
					nc.Close()
				}
			}()
		default:
			return
		}
	}
}

// answer runs one call; a non-zero code carries the error text.
func (s *Server) answer(ctx context.Context, method uint16, payload []byte) (int16, []byte) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out []byte
	var err error
	switch method {
	case MethodForward:
		out, err = s.forward(ctx, payload)
	case MethodFetchMetadata:
		if len(payload) != 20 {
			err = fmt.Errorf("%w: metadata fetch of %d bytes", kerr.InvalidRequest, len(payload))
			break
		}
		node := int32(binary.BigEndian.Uint32(payload))
		from := int64(binary.BigEndian.Uint64(payload[4:]))
		maxBytes := int32(binary.BigEndian.Uint32(payload[12:]))
		wait := time.Duration(binary.BigEndian.Uint32(payload[16:])) * time.Millisecond
		out, err = s.handler.FetchMetadata(ctx, node, from, maxBytes, min(wait, 30*time.Second))
	case MethodState:
		if s.quorum == nil {
			err = fmt.Errorf("%w: not a voter", kerr.InvalidRequest)
			break
		}
		li, term := s.quorum.State()
		out = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, li), term)
	case MethodMembers:
		if s.quorum == nil {
			err = fmt.Errorf("%w: not a voter", kerr.InvalidRequest)
			break
		}
		if v := s.quorum.loader.Image().Voters(); v != nil {
			out = encodeRecords([]metadata.Record{&metadata.VotersRecord{Voters: v}})
		}
	default:
		err = fmt.Errorf("%w: unknown method %d", kerr.InvalidRequest, method)
	}
	if err != nil {
		code := codeOf(err)
		return code, []byte(err.Error())
	}
	return 0, out
}

func (s *Server) forward(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) < 4 {
		return nil, fmt.Errorf("%w: forwarded request of %d bytes", kerr.InvalidRequest, len(payload))
	}
	key, version := int16(binary.BigEndian.Uint16(payload)), int16(binary.BigEndian.Uint16(payload[2:]))
	req := kmsg.RequestForKey(key)
	if req == nil {
		return nil, fmt.Errorf("%w: unknown API key %d", kerr.InvalidRequest, key)
	}
	req.SetVersion(version)
	if err := req.ReadFrom(payload[4:]); err != nil {
		return nil, fmt.Errorf("%w: forwarded %s v%d: %v", kerr.InvalidRequest, kmsg.NameForKey(key), version, err)
	}
	resp, err := s.handler.Forward(ctx, req)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(nil, uint64(s.handler.Offset()))
	return resp.AppendTo(out), nil
}

// codeOf maps an error to a Kafka code for the reply: the code of a
// *kerr.Error in the chain, NOT_CONTROLLER for ErrNotController, else
// UNKNOWN_SERVER_ERROR.
func codeOf(err error) int16 {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, ErrNotController), errors.Is(err, ErrQuorumStopped):
		return kerr.NotController.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// Client reaches the active controller from a broker: calls go to the
// voter believed to lead, and move on (to the leader a NOT_CONTROLLER
// answer names, or to the next voter) until one answers or ctx ends.
type Client struct {
	voters     []config.Voter
	sourceHost string // local IP to dial from; "" lets the kernel choose
	logger     *slog.Logger

	mu     sync.Mutex // guards conns, leader, next
	conns  map[int32]*conn
	leader int32
	next   int
}

// NewClient returns a client of the quorum of voters. sourceHost, when not
// empty, is the local IP its connections are made from (see
// node's SourceHost rule); "" lets the kernel choose.
func NewClient(voters []config.Voter, sourceHost string, logger *slog.Logger) *Client {
	return &Client{voters: voters, sourceHost: sourceHost, logger: logger, conns: map[int32]*conn{}, leader: -1}
}

// Close closes every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, cn := range c.conns {
		cn.close(errors.New("client closed"))
		delete(c.conns, id)
	}
}

// voterCount is how many voters the client knows (at least one).
func (c *Client) voterCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(len(c.voters), 1)
}

// Members asks the known voters, in turn, for the quorum's members with
// their endpoints (MethodMembers): nil, nil when no voter answered with a
// changed voter set (the voters never changed, or none answered).
func (c *Client) Members(ctx context.Context) ([]config.Voter, error) {
	c.mu.Lock()
	voters := slices.Clone(c.voters)
	c.mu.Unlock()
	var last error
	for _, v := range voters {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		out, err := c.CallVoter(cctx, v, MethodMembers, nil)
		cancel()
		if err != nil {
			last = err
			continue
		}
		recs, err := decodeRecords(out)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if vr, ok := r.(*metadata.VotersRecord); ok && len(vr.Voters) > 0 {
				return configVoters(vr.Voters), nil
			}
		}
	}
	return nil, last
}

// configVoters converts member records to the voters a client and a
// transport reach.
func configVoters(vs []metadata.Voter) []config.Voter {
	out := make([]config.Voter, 0, len(vs))
	for _, v := range vs {
		out = append(out, config.Voter{ID: v.ID, Host: v.Host, Port: int(v.Port)})
	}
	return out
}

// SetVoters replaces the voters the client reaches (a change of the
// quorum's voters, from the metadata image); connections to voters no
// longer listed are closed.
func (c *Client) SetVoters(voters []config.Voter) {
	if len(voters) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.voters = slices.Clone(voters)
	for id, cn := range c.conns {
		if !slices.ContainsFunc(voters, func(v config.Voter) bool { return v.ID == id }) {
			cn.close(errors.New("no longer a voter"))
			delete(c.conns, id)
		}
	}
}

func (c *Client) target() config.Voter {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.voters {
		if v.ID == c.leader {
			return v
		}
	}
	v := c.voters[c.next%len(c.voters)]
	c.next++
	return v
}

func (c *Client) connTo(ctx context.Context, v config.Voter) (*conn, error) {
	c.mu.Lock()
	cn := c.conns[v.ID]
	c.mu.Unlock()
	if cn != nil && !cn.broken() {
		return cn, nil
	}
	cn, err := dialConn(ctx, v.Address(), c.sourceHost)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old := c.conns[v.ID]; old != nil && old != cn {
		old.close(errors.New("replaced"))
	}
	c.conns[v.ID] = cn
	c.mu.Unlock()
	return cn, nil
}

// CallVoter sends one call to a given voter (no retry, no redirection).
func (c *Client) CallVoter(ctx context.Context, v config.Voter, method uint16, payload []byte) ([]byte, error) {
	cn, err := c.connTo(ctx, v)
	if err != nil {
		return nil, err
	}
	return cn.call(ctx, method, payload)
}

// Call sends a call to the active controller, retrying as it moves.
func (c *Client) Call(ctx context.Context, method uint16, payload []byte) ([]byte, error) {
	backoff := 20 * time.Millisecond
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (last: %w)", err, last)
			}
			return nil, err
		}
		v := c.target()
		cn, err := c.connTo(ctx, v)
		if err == nil {
			var out []byte
			out, err = cn.call(ctx, method, payload)
			var ce *callError
			switch {
			case err == nil:
				c.setLeader(v.ID)
				return out, nil
			case errors.As(err, &ce) && ce.code == kerr.NotController.Code:
				c.setLeader(leaderHint(ce.msg))
			case errors.As(err, &ce):
				return nil, fmt.Errorf("%w: %s", kerr.ErrorForCode(ce.code), ce.msg)
			default:
				c.setLeader(-1)
			}
		} else {
			c.setLeader(-1)
		}
		last = err
		if n := c.voterCount(); attempt%n == n-1 {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 500*time.Millisecond)
		}
	}
}

func (c *Client) setLeader(id int32) {
	c.mu.Lock()
	c.leader = id
	c.mu.Unlock()
}

// leaderHint reads "the leader is N" from a NOT_CONTROLLER message.
func leaderHint(msg string) int32 {
	i := strings.LastIndex(msg, "the leader is ")
	if i < 0 {
		return -1
	}
	f := strings.Fields(msg[i+len("the leader is "):])
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimRight(f[0], ".,;:)"))
	if err != nil || n <= 0 {
		return -1
	}
	return int32(n)
}

// PeerTransport sends raft messages to the other voters, one connection
// and one bounded queue per peer; a full queue drops (raft resends).
type PeerTransport struct {
	self       int32
	sourceHost string // local IP to dial from; "" lets the kernel choose
	logger     *slog.Logger
	report     func(id int32, unreachable bool, snapshot bool, ok bool)

	mu     sync.Mutex // guards peers, closed
	peers  map[int32]*peer
	closed bool
	wg     sync.WaitGroup
}

type peer struct {
	v    config.Voter
	q    chan []byte
	snap chan bool // per queued snapshot: whether it was sent
	stop chan struct{}
}

// NewPeerTransport returns a transport to voters (self excluded). report,
// when set, hears of unreachable peers and snapshot outcomes (the quorum
// tells raft). sourceHost, when not empty, is the local IP its connections
// are made from; "" lets the kernel choose.
func NewPeerTransport(self int32, voters []config.Voter, sourceHost string, logger *slog.Logger) *PeerTransport {
	t := &PeerTransport{self: self, sourceHost: sourceHost, logger: logger, peers: map[int32]*peer{}}
	t.SetVoters(voters)
	return t
}

// SetVoters makes the transport reach exactly these members (self
// excluded): a change of the quorum's voters starts a pump for a new
// member, stops a removed one's, and restarts one whose endpoint moved.
func (t *PeerTransport) SetVoters(voters []config.Voter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	want := map[int32]config.Voter{}
	for _, v := range voters {
		if v.ID != t.self {
			want[v.ID] = v
		}
	}
	for id, p := range t.peers {
		if v, ok := want[id]; !ok || v.Address() != p.v.Address() {
			close(p.stop)
			delete(t.peers, id)
		}
	}
	for id, v := range want {
		if t.peers[id] != nil {
			continue
		}
		p := &peer{v: v, q: make(chan []byte, 4096), stop: make(chan struct{})}
		t.peers[id] = p
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.pump(p)
		}()
	}
}

// OnReport sets the callback for unreachable peers and snapshots.
func (t *PeerTransport) OnReport(f func(id int32, unreachable bool, snapshot bool, ok bool)) {
	t.mu.Lock()
	t.report = f
	t.mu.Unlock()
}

// Send implements Transport.
func (t *PeerTransport) Send(msgs []pb.Message) {
	for _, m := range msgs {
		t.mu.Lock()
		p := t.peers[int32(m.To)]
		t.mu.Unlock()
		if p == nil {
			if m.Type == pb.MsgSnap {
				// Raft waits for a snapshot's outcome before sending that
				// peer anything else: a dropped one must be reported.
				t.notify(int32(m.To), true, true, false)
			}
			continue
		}
		b, err := m.Marshal()
		if err != nil {
			continue
		}
		if m.Type == pb.MsgSnap {
			b = append([]byte{1}, b...)
		} else {
			b = append([]byte{0}, b...)
		}
		select {
		case p.q <- b:
		default: // full: raft will retransmit
			if m.Type == pb.MsgSnap {
				t.notify(p.v.ID, true, true, false)
			}
		}
	}
}

func (t *PeerTransport) notify(id int32, unreachable, snapshot, ok bool) {
	t.mu.Lock()
	f := t.report
	t.mu.Unlock()
	if f != nil {
		f(id, unreachable, snapshot, ok)
	}
}

// pump owns one peer's connection: it dials on demand and writes queued
// messages, dropping them while the peer is down.
func (t *PeerTransport) pump(p *peer) {
	var cn *conn
	defer func() {
		if cn != nil {
			cn.close(errors.New("transport closed"))
		}
		// A snapshot left in the queue is never sent: raft must hear so,
		// or it waits for its outcome and sends that peer nothing more.
		for {
			select {
			case b := <-p.q:
				if b[0] == 1 {
					t.notify(p.v.ID, true, true, false)
				}
			default:
				return
			}
		}
	}()
	for {
		var b []byte
		select {
		case <-p.stop:
			return
		case b = <-p.q:
		}
		isSnap := b[0] == 1
		batch := [][]byte{b[1:]}
		for more := true; more && len(batch) < 256; {
			select {
			case nb := <-p.q:
				if nb[0] == 1 {
					isSnap = true
				}
				batch = append(batch, nb[1:])
			default:
				more = false
			}
		}
		if cn == nil || cn.broken() {
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			var err error
			cn, err = dialConn(ctx, p.v.Address(), t.sourceHost)
			cancel()
			if err != nil {
				cn = nil
				t.notify(p.v.ID, true, isSnap, false)
				select { // do not spin on a dead peer
				case <-p.stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
		}
		err := cn.sendRaft(batch)
		if err != nil {
			t.notify(p.v.ID, true, isSnap, false)
		} else if isSnap {
			t.notify(p.v.ID, false, true, true)
		}
	}
}

// Close stops every peer's pump.
func (t *PeerTransport) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for _, p := range t.peers {
			close(p.stop)
		}
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// ReleaseWhenForming runs while q holds its votes (a brand-new log): it
// asks the other voters for their log position every interval and lets q
// vote once a majority of the voters, itself included, are brand new too
// (a cluster forming). A voter rejoining an established quorum after
// losing its disk never finds that majority; it votes once it hears from
// the leader instead. It returns when q votes or ctx ends.
func ReleaseWhenForming(ctx context.Context, q *RaftQuorum, c *Client, self int32, voters []config.Voter) {
	for q.Fresh() && ctx.Err() == nil {
		fresh := 1
		for _, v := range voters {
			if v.ID == self {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			out, err := c.CallVoter(cctx, v, MethodState, nil)
			cancel()
			if err == nil && len(out) == 16 && binary.BigEndian.Uint64(out) <= 1 && binary.BigEndian.Uint64(out[8:]) <= 1 {
				fresh++
			}
		}
		if fresh > len(voters)/2 {
			q.ReleaseVotes()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
