// Package kconn is a Kafka protocol connection from one broker to another:
// one request at a time, each with a deadline, the response read into a
// buffer the connection keeps (so a follower's fetch rounds do not
// allocate one each). Replication's fetchers and the transaction
// coordinator's marker writer use it. Invariant: a response is read whole
// and its correlation ID checked before it is decoded; anything else
// closes the exchange with an error (the caller drops the connection).
package kconn

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponse bounds a response read from a leader.
const maxResponse = 256 << 20

// maxKeptResponseBuffer bounds the response buffer a connection keeps
// between requests; a larger response gets a buffer of its own.
const maxKeptResponseBuffer = 4 << 20

// Conn is a Kafka connection to a broker, one request at a time. It is
// not safe for concurrent use.
type Conn struct {
	nc     net.Conn
	br     *bufio.Reader
	format *kmsg.RequestFormatter
	corr   int32
	buf    []byte
	// rbuf is reused for every response: a response's records alias it
	// and are appended before the next request (the fetcher's round),
	// so one buffer per connection replaces an allocation (and its
	// zeroing and garbage) per fetch.
	rbuf []byte
}

// Dial connects to a broker's Kafka listener. sourceHost, when not empty,
// is the local IP the connection is made from; "" (or not an IP) lets the
// kernel choose. The dial gives up after 3 s or when ctx ends.
func Dial(ctx context.Context, addr, sourceHost, clientID string) (*Conn, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	if ip := net.ParseIP(sourceHost); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return New(nc, clientID), nil
}

// New wraps an established connection (tests use one end of a pipe).
func New(nc net.Conn, clientID string) *Conn {
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 256<<10), format: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// Request sends req and reads its response into resp, within timeout. The
// response may alias the connection's buffer: it is valid until the next
// request.
func (c *Conn) Request(req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	c.corr++
	c.buf = c.format.AppendRequest(c.buf[:0], req, c.corr)
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	if _, err := c.nc.Write(c.buf); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxResponse {
		return fmt.Errorf("response of %d bytes", n)
	}
	var body []byte
	switch {
	case int(n) <= cap(c.rbuf):
		body = c.rbuf[:n]
	case n <= maxKeptResponseBuffer:
		c.rbuf = make([]byte, n, max(n, 64<<10))
		body = c.rbuf
	default:
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(c.br, body); err != nil {
		return err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != c.corr {
		return fmt.Errorf("correlation %d, want %d", corr, c.corr)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && resp.Key() != 18 {
		// Response header v1: tagged fields (none are sent by Fjord).
		if len(body) == 0 {
			return fmt.Errorf("short response")
		}
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

// Interrupt makes a request in progress fail at once (its read deadline
// passes); safe to call from another goroutine. The connection is then
// dropped by its user.
func (c *Conn) Interrupt() { _ = c.nc.SetReadDeadline(time.Now()) }

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }
