package server_test

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// While queued.max.request.bytes is spent by a request still arriving, the
// broker reads no other connection's requests (backpressure, not
// allocation); once the request is done with, they are served.
func TestBudget_SpentBudgetStopsReadingUntilReleased(t *testing.T) {
	n := startNode(t, t.TempDir(), "queued.max.request.bytes", "2097152") // 1 MiB for frames
	addr := n.Addr()

	hog := dialRaw(t, addr)
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], 3<<20) // a 3 MiB frame, sent in part
	if _, err := hog.nc.Write(append(size[:], make([]byte, 64<<10)...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the broker admit it

	other := dialRaw(t, addr)
	other.send(kmsg.NewPtrApiVersionsRequest(), 7)
	_ = other.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := other.br.Peek(1); err == nil {
		t.Fatal("a request was read and answered while the request budget was spent")
	}

	// The rest of the frame arrives (garbage: the broker closes that
	// connection), which hands its bytes back.
	if _, err := hog.nc.Write(make([]byte, 3<<20-64<<10)); err != nil {
		t.Fatal(err)
	}
	_ = other.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := kmsg.NewPtrApiVersionsResponse()
	if corr := other.recv(resp); corr != 7 || resp.ErrorCode != 0 {
		t.Fatalf("after the budget was released: corr %d, error %d", corr, resp.ErrorCode)
	}
	if !hog.closed() {
		t.Fatal("the garbage frame did not close its connection")
	}
}

// One client address may hold a quarter of the request budget (and one
// request more): while a request from 127.0.0.1 arrives slowly and holds
// more than that, that address's other requests wait, and another
// address's are served.
func TestBudget_OneAddressHoldsAQuarter(t *testing.T) {
	n := startNode(t, t.TempDir(), "queued.max.request.bytes", "67108864") // 48 MiB for frames, 12 per address
	addr := n.Addr()

	hog := dialRaw(t, addr)
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], 13<<20) // a 13 MiB produce, sent in part
	if _, err := hog.nc.Write(append(size[:], make([]byte, 64<<10)...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	same := dialRaw(t, addr)
	same.send(kmsg.NewPtrApiVersionsRequest(), 1)
	_ = same.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := same.br.Peek(1); err == nil {
		t.Fatal("a second request from the address holding its share was read")
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	other := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	other.send(kmsg.NewPtrApiVersionsRequest(), 2)
	if corr := other.recv(kmsg.NewPtrApiVersionsResponse()); corr != 2 {
		t.Fatalf("another address: corr %d", corr)
	}

	hog.nc.Close() // the share is given back
	_ = same.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if corr := same.recv(kmsg.NewPtrApiVersionsResponse()); corr != 1 {
		t.Fatalf("after the hog left: corr %d", corr)
	}
}
