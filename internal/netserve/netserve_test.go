package netserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// flakyListener fails its first accepts as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("accept: too many open files")
	}
	return f.Listener.Accept()
}

// Accept errors do not stop the loop; Close ends every connection's
// goroutine, even one blocked reading.
func TestLoop_SurvivesAcceptErrorsAndClosesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(3)
	served := make(chan struct{}, 1)
	var ended atomic.Bool
	l := New(fl, func(ctx context.Context, nc net.Conn) {
		served <- struct{}{}
		_, _ = io.Copy(io.Discard, nc) // blocks until the connection is closed
		ended.Store(true)
	}, slog.New(slog.DiscardHandler))
	l.Start()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not served after failed accepts")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		t.Fatal("Close returned before the connection's goroutine ended")
	}
}
