package fjordtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Proxy limits.
const (
	// maxFrame is the largest Kafka frame the proxy forwards, Kafka's
	// socket.request.max.bytes default; larger frames close the link.
	maxFrame = 100 << 20
	// dialTimeout bounds connecting to the target for each accepted client.
	dialTimeout = 5 * time.Second
	// maxLinks bounds concurrent proxied connections.
	maxLinks = 1024
	// rawChunk is the read buffer of a raw link.
	rawChunk = 64 << 10
)

// Proxy is a TCP proxy in front of a broker that injects network faults. It
// understands Kafka's framing (a 4-byte length before each request and
// response) so it can delay whole frames and swallow the response to a
// chosen request while still delivering the request itself.
//
// A raw proxy (ProxyConfig.Raw) forwards bytes without looking for frames,
// for protocols other than Kafka's, such as Fjord's quorum protocol.
//
// The proxy knows the source IP of each connection it accepted, so a test
// can partition one source away (Block) while others pass: with every node
// of a cluster dialing from its own loopback address, that cuts the links a
// node opens as well as those made to it (see Cluster.Isolate).
//
// Kafka clients connect to the addresses a broker advertises in Metadata, so
// a test that must keep every connection on the proxy starts the broker with
// advertised.listeners set to Proxy.Addr (see StartBehindProxy).
type Proxy struct {
	t       testing.TB
	ln      net.Listener
	raw     bool
	closing chan struct{} // closed by Close
	wg      sync.WaitGroup

	mu       sync.Mutex
	target   string             // guarded by mu: host:port to dial; "" refuses clients
	cut      bool               // guarded by mu: refuse clients
	blocked  map[string]bool    // guarded by mu: source IPs partitioned away
	healed   chan struct{}      // guarded by mu: closed (and replaced) by Heal
	delay    time.Duration      // guarded by mu: added before forwarding each frame
	dropN    int                // guarded by mu: responses still to swallow
	dropKeys []int16            // guarded by mu: API keys dropN applies to; empty means any
	dropped  int                // guarded by mu: responses swallowed so far
	links    map[*link]struct{} // guarded by mu
	closed   bool               // guarded by mu
}

// ProxyConfig configures NewProxyWith.
type ProxyConfig struct {
	// Target is the host:port connections are forwarded to; "" refuses
	// clients until SetTarget.
	Target string
	// Raw forwards bytes as they arrive instead of Kafka frames: Delay then
	// holds each chunk read, and DropResponses has no effect.
	Raw bool
}

// NewProxy listens on 127.0.0.1:0 and forwards each connection to target.
// target may be "" and set later with SetTarget; until then clients are
// refused. The proxy is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	return NewProxyWith(t, ProxyConfig{Target: target})
}

// NewProxyWith is NewProxy with the options of cfg.
func NewProxyWith(t testing.TB, cfg ProxyConfig) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{
		t:       t,
		ln:      ln,
		raw:     cfg.Raw,
		closing: make(chan struct{}),
		target:  cfg.Target,
		blocked: map[string]bool{},
		healed:  make(chan struct{}),
		links:   map[*link]struct{}{},
	}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// StartBehindProxy starts a broker whose advertised listener is a new Proxy,
// so every client connection, including those made after Metadata, goes
// through the proxy. It returns both; clients bootstrap from Proxy.Addr.
func StartBehindProxy(t testing.TB, bin, dataDir string, overrides ...string) (*Process, *Proxy) {
	t.Helper()
	px := NewProxy(t, "")
	ov := append([]string{"advertised.listeners=PLAINTEXT://" + px.Addr()}, overrides...)
	proc := StartProcess(t, bin, dataDir, ov...)
	px.SetTarget(proc.ListenAddr())
	return proc, px
}

// Addr returns the proxy's listening host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget changes where new connections are forwarded.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Cut closes every proxied connection and refuses new ones until Heal: a
// network partition between clients and the broker.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := p.snapshotLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// Heal accepts connections again after Cut, and ends every Block: stalled
// connections deliver what was held, and connections accepted meanwhile
// are connected to the target.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	clear(p.blocked)
	close(p.healed)
	p.healed = make(chan struct{})
	p.mu.Unlock()
}

// Block partitions the connections whose source IP (the client's end, as
// the proxy accepted it) is one of hosts away from the target until Heal,
// as a network partition drops packets: nothing passes either way on their
// existing connections (each stalls before forwarding its next frame or
// chunk, the kernel's buffers then fill and the senders block), and new
// connections from them are accepted but not connected to the target, so
// they get no answer. Nothing is lost: once healed, what was held is
// delivered, as TCP retransmits after a partition heals, unless an end gave
// up and closed its connection first (which then closes the link).
// Connections from other sources carry on.
func (p *Proxy) Block(hosts ...string) {
	p.mu.Lock()
	for _, h := range hosts {
		p.blocked[h] = true
	}
	p.mu.Unlock()
}

// gate reports whether src is blocked and, if so, the channel Heal closes.
func (p *Proxy) gate(src string) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked[src], p.healed
}

// Links returns how many connections the proxy is forwarding now.
func (p *Proxy) Links() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Delay holds every frame, in both directions, for d before forwarding it.
// Zero removes the delay.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// DropResponses arms the proxy to swallow the responses to the next n
// requests whose API key is in apiKeys (any key if none are given). Such a
// request is forwarded and the broker answers it, so it takes effect; the
// proxy then discards the answer and closes that connection, so the client
// sees a broken connection instead of a response and must retry. Produce
// requests with acks=0 get no response and are never chosen.
func (p *Proxy) DropResponses(n int, apiKeys ...int16) {
	p.mu.Lock()
	p.dropN = n
	p.dropKeys = slices.Clone(apiKeys)
	p.mu.Unlock()
}

// Dropped returns how many responses the proxy has swallowed so far.
func (p *Proxy) Dropped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Close stops accepting, closes every connection and waits for the proxy's
// goroutines. It is called automatically when the test ends.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.closing)
	links := p.snapshotLocked()
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
}

func (p *Proxy) snapshotLocked() []*link {
	out := make([]*link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

// takeDrop reports whether the response to a request with this key should be
// swallowed, consuming one armed drop if so.
func (p *Proxy) takeDrop(key int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropN <= 0 || (len(p.dropKeys) > 0 && !slices.Contains(p.dropKeys, key)) {
		return false
	}
	p.dropN--
	return true
}

func (p *Proxy) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// acceptLoop owns the listener; it ends when Close closes it.
func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		l := &link{p: p, src: sourceHost(c), client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.cut || p.target == "" || p.closed || len(p.links) >= maxLinks {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go l.connect()
	}
}

// connect connects a newly accepted link to the target, once its source
// is not blocked, and starts forwarding. It owns the dial.
func (l *link) connect() {
	defer l.p.wg.Done()
	if !l.waitOpen() {
		l.close()
		return
	}
	l.p.mu.Lock()
	target := l.p.target
	l.p.mu.Unlock()
	s, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		l.close()
		return
	}
	l.mu.Lock()
	select {
	case <-l.done: // closed while dialing
		l.mu.Unlock()
		_ = s.Close()
		return
	default:
	}
	l.server = s
	l.mu.Unlock()
	l.p.wg.Add(2)
	if l.p.raw {
		go l.copyRaw(l.client, s)
		go l.copyRaw(s, l.client)
	} else {
		go l.requests()
		go l.responses()
	}
}

// waitOpen waits while the link's source is blocked, reporting false if
// the link closed meanwhile.
func (l *link) waitOpen() bool {
	for {
		blocked, healed := l.p.gate(l.src)
		if !blocked {
			return true
		}
		select {
		case <-healed:
		case <-l.done:
			return false
		}
	}
}

// sourceHost is the IP a connection came from, "" if unknown.
func sourceHost(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return ""
	}
	return host
}

// link is one proxied client connection and its connection to the target.
type link struct {
	p         *Proxy
	src       string        // source IP of the client connection
	client    net.Conn      // the accepted connection
	done      chan struct{} // closed by close
	closeOnce sync.Once

	mu     sync.Mutex
	server net.Conn // guarded by mu: the target connection, nil until connect dials it; read-only after
	sent   int64    // guarded by mu: requests forwarded that expect a response
	dropAt int64    // guarded by mu: ordinal of the request whose response is swallowed; 0 none
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.done)
		s := l.server
		l.mu.Unlock()
		_ = l.client.Close()
		if s != nil {
			_ = s.Close()
		}
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

// sleep waits d unless the link or the proxy closes first.
func (l *link) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// copyRaw forwards bytes from one end of a raw link to the other, each
// chunk held for the proxy's delay. It owns reads from `from`.
func (l *link) copyRaw(from, to net.Conn) {
	defer l.p.wg.Done()
	defer l.close()
	buf := make([]byte, rawChunk)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			if !l.sleep(l.p.currentDelay()) || !l.waitOpen() {
				return
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// requests forwards client frames to the server, choosing which responses
// to swallow. It owns reads from the client.
func (l *link) requests() {
	defer l.p.wg.Done()
	defer l.close()
	for {
		frame, err := readFrame(l.client)
		if err != nil {
			return
		}
		if key, ok := requestKey(frame); ok && expectsResponse(frame) {
			l.mu.Lock()
			l.sent++
			// One swallowed response per link: after it the link closes.
			if l.dropAt == 0 && l.p.takeDrop(key) {
				l.dropAt = l.sent
			}
			l.mu.Unlock()
		}
		if !l.sleep(l.p.currentDelay()) || !l.waitOpen() {
			return
		}
		if _, err := l.server.Write(frame); err != nil {
			return
		}
	}
}

// responses forwards server frames to the client, except the swallowed one,
// after which it closes the link. It owns reads from the server.
func (l *link) responses() {
	defer l.p.wg.Done()
	defer l.close()
	var received int64
	for {
		frame, err := readFrame(l.server)
		if err != nil {
			return
		}
		received++
		l.mu.Lock()
		drop := l.dropAt != 0 && received == l.dropAt
		l.mu.Unlock()
		if drop {
			l.p.mu.Lock()
			l.p.dropped++
			l.p.mu.Unlock()
			return
		}
		if !l.sleep(l.p.currentDelay()) || !l.waitOpen() {
			return
		}
		if _, err := l.client.Write(frame); err != nil {
			return
		}
	}
}

// readFrame reads one size-prefixed Kafka frame, prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("frame size %d out of range", n)
	}
	frame := make([]byte, 4+int(n))
	copy(frame, hdr[:])
	if _, err := io.ReadFull(r, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

// requestKey returns the API key of a request frame.
func requestKey(frame []byte) (int16, bool) {
	if len(frame) < 6 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(frame[4:6])), true
}

// produceKey and produceFirstFlexible are the Produce API key and the first
// Produce version with flexible (compact, tagged) encoding.
const (
	produceKey           = 0
	produceFirstFlexible = 9
)

// expectsResponse reports whether the broker answers this request frame:
// everything except Produce with acks=0. It errs towards true when the frame
// cannot be parsed, which at worst makes a drop miss its target.
func expectsResponse(frame []byte) bool {
	key, ok := requestKey(frame)
	if !ok || key != produceKey {
		return true
	}
	acks, ok := produceAcks(frame[4:])
	return !ok || acks != 0
}

// produceAcks extracts acks from a Produce request (without the size
// prefix): header v1 (key, version, correlation ID, client ID) or, from v9,
// header v2 (plus tagged fields); then, from v3, the transactional ID.
func produceAcks(b []byte) (int16, bool) {
	r := wireReader{b: b}
	r.skip(2) // api key
	version := r.int16()
	r.skip(4) // correlation id
	r.skip(max(int(r.int16()), 0))
	flexible := version >= produceFirstFlexible
	if flexible {
		r.skipTags()
	}
	if version >= 3 {
		if flexible {
			n := r.uvarint() // compact nullable string: length+1, 0 is null
			if n > 0 {
				r.skip(int(min(n-1, uint64(len(r.b)+1))))
			}
		} else {
			r.skip(max(int(r.int16()), 0))
		}
	}
	acks := r.int16()
	return acks, !r.bad
}

// wireReader reads Kafka's big-endian and varint encodings, recording
// rather than panicking on short input.
type wireReader struct {
	b   []byte
	bad bool
}

func (r *wireReader) skip(n int) {
	if n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return
	}
	r.b = r.b[n:]
}

func (r *wireReader) int16() int16 {
	if len(r.b) < 2 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) skipTags() {
	n := r.uvarint()
	for i := uint64(0); i < n && !r.bad; i++ {
		r.uvarint() // tag
		size := r.uvarint()
		r.skip(int(min(size, uint64(len(r.b)+1))))
	}
}
