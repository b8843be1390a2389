package controller

// The quorum protocol, spoken on the controller listener: between voters
// (raft messages) and from brokers to the active controller (calls). A
// connection opens with an 8-byte magic, then carries frames:
//
//	u32 length | u8 kind | body
//
// kind 1, raft: body is one raftpb.Message (one-way).
// kind 2, call: body is u64 correlation | u16 method | payload.
// kind 3, reply: body is u64 correlation | i16 Kafka error code | payload,
// with the error message as payload when the code is not 0.
//
// Calls carrying a Kafka request (method forward) use kmsg's encoding:
// i16 API key | i16 version | request body, and the reply holds the
// response body; the controller answers them as Kafka's controller does.
// The protocol is private to Fjord nodes of one release.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

const (
	quorumMagic  = "FJORDQ01"
	maxFrame     = 64 << 20 // snapshots travel in one frame
	kindRaft     = 1
	kindCall     = 2
	kindReply    = 3
	dialTimeout  = 3 * time.Second
	writeTimeout = 10 * time.Second
)

// Methods of a call.
const (
	// MethodForward carries a Kafka request to the active controller.
	MethodForward uint16 = 1
	// MethodFetchMetadata reads committed metadata (brokers).
	MethodFetchMetadata uint16 = 2
	// MethodState asks a voter for its last index and term (a brand-new
	// voter checking whether the quorum is forming or established).
	MethodState uint16 = 3
	// MethodMembers asks a voter for the quorum's members with their
	// endpoints, as its image holds them (a VotersRecord; empty while
	// the voters never changed): how a node whose
	// controller.quorum.voters is out of date finds the current ones.
	MethodMembers uint16 = 4
)

// errFrame reports a malformed frame; the connection is closed.
var errFrame = errors.New("quorum protocol: malformed frame")

// writeFrame writes one frame.
func writeFrame(w io.Writer, kind byte, body ...[]byte) error {
	n := 1
	for _, b := range body {
		n += len(b)
	}
	if n > maxFrame {
		return fmt.Errorf("%w: %d bytes", errFrame, n)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	hdr[4] = kind
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, b := range body {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > maxFrame {
		return 0, nil, fmt.Errorf("%w: length %d", errFrame, n)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return hdr[4], body, nil
}

// callError is an error answered by the other side, with its Kafka code.
type callError struct {
	code int16
	msg  string
}

func (e *callError) Error() string { return e.msg }

// conn is one client connection with calls multiplexed by correlation ID.
type conn struct {
	nc      net.Conn
	wmu     sync.Mutex // serialises frame writes
	mu      sync.Mutex // guards pending, err
	pending map[uint64]chan reply
	err     error
	nextID  uint64
}

type reply struct {
	code    int16
	payload []byte
}

// dialConn opens a quorum-protocol connection to addr. sourceHost, when
// not empty, is the local IP the connection is made from (the node's own
// address), so that a test's fault proxy can tell which node a connection
// comes from and cut it; "" (or not an IP) lets the kernel choose.
func dialConn(ctx context.Context, addr, sourceHost string) (*conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	if ip := net.ParseIP(sourceHost); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write([]byte(quorumMagic)); err != nil {
		nc.Close()
		return nil, err
	}
	c := &conn{nc: nc, pending: map[uint64]chan reply{}}
	go c.readLoop() // ends when the connection closes
	return c, nil
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		kind, body, err := readFrame(br)
		if err == nil && (kind != kindReply || len(body) < 10) {
			err = errFrame
		}
		if err != nil {
			c.close(err)
			return
		}
		id := binary.BigEndian.Uint64(body)
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- reply{code: int16(binary.BigEndian.Uint16(body[8:])), payload: body[10:]}
		}
	}
}

func (c *conn) close(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	ps := c.pending
	c.pending = map[uint64]chan reply{}
	c.mu.Unlock()
	c.nc.Close()
	for _, ch := range ps {
		close(ch)
	}
}

func (c *conn) broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// call sends a call and waits for its reply.
func (c *conn) call(ctx context.Context, method uint16, payload []byte) ([]byte, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	hdr := binary.BigEndian.AppendUint64(nil, id)
	hdr = binary.BigEndian.AppendUint16(hdr, method)
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := writeFrame(c.nc, kindCall, hdr, payload)
	c.wmu.Unlock()
	if err != nil {
		c.close(err)
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("connection to %s closed", c.nc.RemoteAddr())
		}
		if r.code != 0 {
			return nil, &callError{code: r.code, msg: string(r.payload)}
		}
		return r.payload, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// sendRaft writes raft messages (already marshaled) on the connection.
func (c *conn) sendRaft(msgs [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	for _, m := range msgs {
		if err := writeFrame(c.nc, kindRaft, m); err != nil {
			c.close(err)
			return err
		}
	}
	return nil
}
