package fjordtest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameServer is a stand-in broker for proxy tests: it answers each request
// frame with a frame holding the request's correlation ID, except Produce
// with acks=0, and reports every request it receives.
type frameServer struct {
	ln       net.Listener
	received chan int16 // API keys of received requests
	wg       sync.WaitGroup
}

func newFrameServer(t *testing.T) *frameServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &frameServer{ln: ln, received: make(chan int16, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *frameServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	for {
		f, err := readFrame(c)
		if err != nil {
			return
		}
		key, _ := requestKey(f)
		s.received <- key
		if !expectsResponse(f) {
			continue
		}
		resp := make([]byte, 8)
		binary.BigEndian.PutUint32(resp, 4)
		copy(resp[4:], f[8:12]) // correlation ID
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

func (s *frameServer) addr() string { return s.ln.Addr().String() }

// expectReceived waits for the server to receive a request with key.
func (s *frameServer) expectReceived(t *testing.T, key int16) {
	t.Helper()
	select {
	case k := <-s.received:
		if k != key {
			t.Fatalf("server received key %d, want %d", k, key)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("server never received key %d", key)
	}
}

func frame(t *testing.T, r kmsg.Request, corr int32) []byte {
	t.Helper()
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, r, corr)
}

func metadataReq() kmsg.Request {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 4
	return r
}

func produceReq(version, acks int16) kmsg.Request {
	r := kmsg.NewPtrProduceRequest()
	r.Version = version
	r.Acks = acks
	r.TimeoutMillis = 1000
	return r
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(t *testing.T, c net.Conn, f []byte) {
	t.Helper()
	if _, err := c.Write(f); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// recvCorr reads one response and returns its correlation ID.
func recvCorr(c net.Conn) (int32, error) {
	f, err := readFrame(c)
	if err != nil {
		return 0, err
	}
	if len(f) < 8 {
		return 0, errors.New("short response")
	}
	return int32(binary.BigEndian.Uint32(f[4:8])), nil
}

func roundTrip(t *testing.T, c net.Conn, r kmsg.Request, corr int32) {
	t.Helper()
	send(t, c, frame(t, r, corr))
	got, err := recvCorr(c)
	if err != nil {
		t.Fatalf("response to correlation %d: %v", corr, err)
	}
	if got != corr {
		t.Fatalf("response correlation %d, want %d", got, corr)
	}
}

// expectClosed asserts the proxy closed c without sending another response.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if corr, err := recvCorr(c); err == nil {
		t.Fatalf("got response with correlation %d, want the connection closed", corr)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

func TestProxy_ForwardsPipelinedFrames(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, s.addr())
	c := dial(t, p.Addr())
	for corr := int32(1); corr <= 3; corr++ {
		send(t, c, frame(t, metadataReq(), corr))
	}
	for want := int32(1); want <= 3; want++ {
		got, err := recvCorr(c)
		if err != nil || got != want {
			t.Fatalf("response %d: correlation %d, err %v", want, got, err)
		}
	}
}

func TestProxy_RefusesWithoutTarget(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, "")
	c := dial(t, p.Addr())
	send(t, c, frame(t, metadataReq(), 1))
	expectClosed(t, c)
	p.SetTarget(s.addr())
	roundTrip(t, dial(t, p.Addr()), metadataReq(), 2)
}

func TestProxy_CutAndHeal(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, s.addr())
	before := dial(t, p.Addr())
	roundTrip(t, before, metadataReq(), 1)

	p.Cut()
	expectClosed(t, before)
	during := dial(t, p.Addr())
	send(t, during, frame(t, metadataReq(), 2))
	expectClosed(t, during)

	p.Heal()
	roundTrip(t, dial(t, p.Addr()), metadataReq(), 3)
}

func TestProxy_DropResponses(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, s.addr())
	p.DropResponses(1, int16(kmsg.Produce))

	c := dial(t, p.Addr())
	// Metadata is not a Produce: answered. Then a pipelined Metadata and
	// Produce: the first is answered, the Produce reaches the server but
	// its response is swallowed and the link closed.
	roundTrip(t, c, metadataReq(), 1)
	s.expectReceived(t, int16(kmsg.Metadata))
	send(t, c, frame(t, metadataReq(), 2))
	send(t, c, frame(t, produceReq(9, -1), 3))
	if got, err := recvCorr(c); err != nil || got != 2 {
		t.Fatalf("response before the dropped one: correlation %d, err %v", got, err)
	}
	expectClosed(t, c)
	s.expectReceived(t, int16(kmsg.Metadata))
	s.expectReceived(t, int16(kmsg.Produce))
	if d := p.Dropped(); d != 1 {
		t.Fatalf("Dropped() = %d, want 1", d)
	}

	// Only one drop was armed: a retry succeeds.
	roundTrip(t, dial(t, p.Addr()), produceReq(9, -1), 4)
}

func TestProxy_DropSkipsAcksZero(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, s.addr())
	p.DropResponses(1) // any key

	c := dial(t, p.Addr())
	send(t, c, frame(t, produceReq(7, 0), 1)) // no response expected, not chosen
	s.expectReceived(t, int16(kmsg.Produce))
	send(t, c, frame(t, produceReq(7, 1), 2)) // chosen
	expectClosed(t, c)
	s.expectReceived(t, int16(kmsg.Produce))
	if d := p.Dropped(); d != 1 {
		t.Fatalf("Dropped() = %d, want 1", d)
	}
}

func TestProxy_DelayStillDeliversAndCloseInterrupts(t *testing.T) {
	s := newFrameServer(t)
	p := NewProxy(t, s.addr())
	p.Delay(10 * time.Millisecond)
	c := dial(t, p.Addr())
	roundTrip(t, c, metadataReq(), 1)

	// A frame held for an hour must not hold up Close.
	p.Delay(time.Hour)
	send(t, c, frame(t, metadataReq(), 2))
	s2 := make(chan struct{})
	go func() {
		p.Close()
		close(s2)
	}()
	select {
	case <-s2:
	case <-time.After(30 * time.Second):
		t.Fatal("Close blocked behind a delayed frame")
	}
	expectClosed(t, c)
}

func TestExpectsResponse(t *testing.T) {
	txn := "txn"
	for v := int16(0); v <= (&kmsg.ProduceRequest{}).MaxVersion(); v++ {
		for _, acks := range []int16{0, 1, -1} {
			for _, withTxn := range []bool{false, true} {
				r := produceReq(v, acks).(*kmsg.ProduceRequest)
				if withTxn && v >= 3 {
					r.TransactionID = &txn
				}
				f := frame(t, r, 7)
				got, ok := produceAcks(f[4:])
				if !ok || got != acks {
					t.Errorf("produce v%d acks=%d txn=%v: parsed acks=%d ok=%v", v, acks, withTxn, got, ok)
				}
				if want := acks != 0; expectsResponse(f) != want {
					t.Errorf("produce v%d acks=%d: expectsResponse=%v, want %v", v, acks, !want, want)
				}
			}
		}
	}
	if !expectsResponse(frame(t, metadataReq(), 1)) {
		t.Error("metadata: expectsResponse=false")
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 1}, {0, 0, 0, 4, 0, 0, 0, 9}} {
		if !expectsResponse(bad) {
			t.Errorf("unparseable frame %v: expectsResponse=false, want true", bad)
		}
	}
}

// FuzzProduceAcks checks that parsing arbitrary request bytes never panics.
func FuzzProduceAcks(f *testing.F) {
	f.Add([]byte{})
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, 1), 1)[4:])
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(3, 0), 1)[4:])
	f.Fuzz(func(t *testing.T, b []byte) {
		produceAcks(b)
		expectsResponse(append([]byte{0, 0, 0, 0}, b...))
	})
}

// echoServer echoes bytes back on every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dialFrom connects to addr from the local IP src.
func dialFrom(t *testing.T, src, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.Dial("tcp", addr)
}

const echoMsg = "FJORDQ01 not a kafka frame"

// sendEcho writes echoMsg on c.
func sendEcho(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(echoMsg)); err != nil {
		t.Fatal(err)
	}
}

// echoed reports whether echoMsg comes back on c within d.
func echoed(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(echoMsg))
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == echoMsg
}

// A raw proxy forwards any bytes. Block stalls the connections of the
// blocked source IP, old and new, both ways, while others carry on; Heal
// delivers what was held.
func TestProxy_RawBlockBySource(t *testing.T) {
	px := NewProxyWith(t, ProxyConfig{Target: echoServer(t), Raw: true})
	fromClient, err := dialFrom(t, "127.0.0.1", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer fromClient.Close()
	fromNode, err := dialFrom(t, "127.0.0.12", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer fromNode.Close()
	for _, c := range []net.Conn{fromClient, fromNode} {
		sendEcho(t, c)
		if !echoed(c, 2*time.Second) {
			t.Fatal("raw proxy does not forward")
		}
	}
	px.Block("127.0.0.12")
	sendEcho(t, fromNode)
	if echoed(fromNode, 300*time.Millisecond) {
		t.Error("blocked source's connection still forwards")
	}
	sendEcho(t, fromClient)
	if !echoed(fromClient, 2*time.Second) {
		t.Error("other source's connection stalled too")
	}
	late, err := dialFrom(t, "127.0.0.12", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	sendEcho(t, late)
	if echoed(late, 300*time.Millisecond) {
		t.Error("blocked source's new connection was forwarded")
	}
	px.Heal()
	if !echoed(fromNode, 2*time.Second) {
		t.Error("what the blocked connection sent was not delivered after Heal")
	}
	if !echoed(late, 2*time.Second) {
		t.Error("the connection accepted while blocked was not connected after Heal")
	}
}
