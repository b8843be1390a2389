package hostile

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// A flood of connections past max.connections is refused at accept time
// while the connections already open keep being served, and once the flood
// ends a healthy client gets in again with the descriptors given back.
func TestHostile_ConnectionFloodPastMaxConnections(t *testing.T) {
	p := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir(), "max.connections=40")
	addr := p.Addr()
	createTopics(t, addr, "healthy")
	healthy(t, addr, "healthy")
	before := openFiles(t, p.PID())

	// Fill every slot with a connection that is served (a refused dial,
	// while the healthy client's connections are still going away, is
	// retried).
	held := make([]*rawConn, 0, 40)
	for len(held) < 40 {
		c := dial(t, addr)
		c.send(kmsg.NewPtrApiVersionsRequest(), 1)
		if _, err := c.recv(kmsg.NewPtrApiVersionsResponse()); err != nil {
			c.nc.Close()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		held = append(held, c)
	}
	start := time.Now()
	for i := range 200 {
		if !dial(t, addr).closedByPeer(5 * time.Second) {
			t.Fatalf("connection %d past max.connections=40 was not refused", i)
		}
	}
	t.Logf("200 connections past the limit refused in %v", time.Since(start).Round(time.Millisecond))
	for i, c := range held {
		c.send(kmsg.NewPtrApiVersionsRequest(), int32(i))
		if corr, err := c.recv(kmsg.NewPtrApiVersionsResponse()); err != nil || corr != int32(i) {
			t.Fatalf("held connection %d stopped being served: corr %d, %v", i, corr, err)
		}
		c.nc.Close()
	}
	healthy(t, addr, "healthy")
	waitFiles(t, p.PID(), before+10)
}

// Fetches parked for a minute whose clients close free their connections
// at once, not when their MaxWait runs out.
func TestHostile_ParkedFetchesFreedWhenClientsClose(t *testing.T) {
	p := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir())
	addr := p.Addr()
	createTopics(t, addr, "empty", "healthy")
	healthy(t, addr, "healthy")
	before := openFiles(t, p.PID())

	conns := make([]*rawConn, 100)
	for i := range conns {
		c := dial(t, addr)
		conns[i] = c
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.ReplicaID = -1
		req.MaxWaitMillis = 60000
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "empty"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		c.send(req, int32(i))
	}
	time.Sleep(500 * time.Millisecond) // every fetch is parked
	if n := openFiles(t, p.PID()); n < before+90 {
		t.Fatalf("%d descriptors with 100 parked fetches, %d before", n, before)
	}
	for _, c := range conns {
		c.nc.Close()
	}
	waitFiles(t, p.PID(), before+10) // 10 s, far under the fetches' minute
	healthy(t, addr, "healthy")
}

// waitFiles waits up to 10 s for the process to hold at most n descriptors.
func waitFiles(t *testing.T, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := openFiles(t, pid)
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open 10 s after the clients left, want at most %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
