package server_test

import (
	"encoding/binary"
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
