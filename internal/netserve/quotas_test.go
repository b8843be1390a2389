package netserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoLoop starts a loop whose connections echo what they read.
func echoLoop(t *testing.T, opts Options) *Loop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewWithOptions(ln, func(ctx context.Context, nc net.Conn) {
		_, _ = io.Copy(nc, nc)
	}, slog.New(slog.DiscardHandler), opts)
	l.Start()
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// echoes dials addr and reports whether the connection echoes a message
// (false: the server closed it).
func echoes(t *testing.T, addr string) (net.Conn, bool) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, echoOn(t, nc)
}

func echoOn(t *testing.T, nc net.Conn) bool {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte("ping")); err != nil {
		return false
	}
	buf := make([]byte, 4)
	_, err := io.ReadFull(nc, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
		return false
	}
	if err != nil {
		t.Fatalf("reading the echo: %v (a refused connection must be closed at once)", err)
	}
	return string(buf) == "ping"
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// eventually retries a dial until it echoes, for a slot given back by a
// connection goroutine that is still ending.
func eventually(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, ok := echoes(t, addr)
		if ok {
			return nc
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("no connection was accepted again after one closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func unlimited() QuotaConfig {
	return QuotaConfig{MaxConnections: Unlimited, MaxConnectionsPerIP: Unlimited, MaxCreationRate: Unlimited}
}

// Over max.connections a new connection is closed at once, the others keep
// working, and a slot given back is taken again.
func TestLoop_MaxConnections(t *testing.T) {
	cfg := unlimited()
	cfg.MaxConnections = 2
	q := NewQuotas(cfg, slog.New(slog.DiscardHandler))
	l := echoLoop(t, Options{Quotas: q})
	a, ok1 := echoes(t, l.Addr().String())
	b, ok2 := echoes(t, l.Addr().String())
	if !ok1 || !ok2 {
		t.Fatal("a connection under the limit was refused")
	}
	if _, ok := echoes(t, l.Addr().String()); ok {
		t.Fatal("the third connection was served with max.connections=2")
	}
	if !echoOn(t, a) || !echoOn(t, b) {
		t.Fatal("a refusal disturbed the open connections")
	}
	a.Close()
	eventually(t, l.Addr().String())
	if n := q.Open(); n != 2 {
		t.Fatalf("%d connections counted, want 2", n)
	}
}

// max.connections.per.ip refuses the connections of one address past the
// limit; a protected listener's connections count toward max.connections
// without being refused by it.
func TestLoop_MaxConnectionsPerIPAndProtected(t *testing.T) {
	cfg := unlimited()
	cfg.MaxConnectionsPerIP = 2
	cfg.MaxConnections = 1
	q := NewQuotas(cfg, slog.New(slog.DiscardHandler))
	client := echoLoop(t, Options{Quotas: q})
	inter := echoLoop(t, Options{Quotas: q, Protected: true})
	if _, ok := echoes(t, client.Addr().String()); !ok {
		t.Fatal("the first client connection was refused")
	}
	a, ok := echoes(t, inter.Addr().String())
	if !ok {
		t.Fatal("the protected listener refused a connection at max.connections")
	}
	if _, ok := echoes(t, inter.Addr().String()); ok {
		t.Fatal("a third connection from 127.0.0.1 was served with max.connections.per.ip=2")
	}
	if _, ok := echoes(t, client.Addr().String()); ok {
		t.Fatal("a client connection was served past max.connections")
	}
	a.Close()
	eventually(t, inter.Addr().String())
}

// Over max.connection.creation.rate the accept loop waits its turn: every
// connection is served, the ones past the first second's burst later.
func TestLoop_CreationRate(t *testing.T) {
	cfg := unlimited()
	cfg.MaxCreationRate = 5
	l := echoLoop(t, Options{Quotas: NewQuotas(cfg, slog.New(slog.DiscardHandler))})
	start := time.Now()
	for i := range 15 {
		if _, ok := echoes(t, l.Addr().String()); !ok {
			t.Fatalf("connection %d was refused; the rate paces, it does not refuse", i)
		}
	}
	// 5 at once, then 10 more at 5 a second.
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("15 connections at max.connection.creation.rate=5 were served in %v", took)
	}
}

// countHandler counts log lines by message.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// Failing accepts (out of descriptors) are logged once per interval, not
// once per try; refusals once per address and limit.
func TestLoop_LogLinesLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(6)
	h := &countHandler{n: map[string]int{}}
	cfg := unlimited()
	cfg.MaxConnections = 0
	l := NewWithOptions(fl, func(ctx context.Context, nc net.Conn) {}, slog.New(h), Options{Quotas: NewQuotas(cfg, slog.New(h))})
	l.Start()
	defer l.Close()
	for range 5 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("refused connection read %d, %v; want closed", n, err)
		}
		c.Close()
	}
	if n := h.count("accept failed"); n != 1 {
		t.Errorf("%d accept failure lines for 6 failures, want 1", n)
	}
	if n := h.count("connection refused: over the connection limit"); n != 1 {
		t.Errorf("%d refusal lines for 5 refusals from one address, want 1", n)
	}
}
