package netserve

import (
	"context"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"
)

// socket.send.buffer.bytes and socket.receive.buffer.bytes reach the
// accepted socket (Linux reports twice the size set, for its bookkeeping).
func TestLoop_SocketBuffers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const send, recv = 24 << 10, 40 << 10
	type sizes struct{ snd, rcv int }
	got := make(chan sizes, 1)
	l := NewWithOptions(ln, func(ctx context.Context, nc net.Conn) {
		rc, err := nc.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Error(err)
			got <- sizes{}
			return
		}
		var s sizes
		_ = rc.Control(func(fd uintptr) {
			s.snd, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
			s.rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		})
		got <- s
	}, slog.New(slog.DiscardHandler), Options{SendBuffer: send, ReceiveBuffer: recv})
	l.Start()
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case s := <-got:
		if s.snd != 2*send || s.rcv != 2*recv {
			t.Fatalf("SO_SNDBUF %d, SO_RCVBUF %d; want %d and %d", s.snd, s.rcv, 2*send, 2*recv)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not served")
	}
}
