package server_test

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// served reports whether a new connection to addr is answered (false: the
// broker closed it).
func served(t *testing.T, addr string) (*rawConn, bool) {
	t.Helper()
	c := dialRaw(t, addr)
	return c, c.answers(1)
}

// answers reports whether an ApiVersions request on c is answered.
func (c *rawConn) answers(corr int32) bool {
	c.t.Helper()
	c.send(kmsg.NewPtrApiVersionsRequest(), corr)
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.br.Peek(4); err != nil {
		if errors.Is(err, io.EOF) || isReset(err) {
			return false
		}
		c.t.Fatalf("no answer and no close: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	return c.recv(resp) == corr && resp.ErrorCode == 0
}

// servedAgain retries new connections until one is answered, for a slot
// given back by a connection that is still ending.
func servedAgain(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, ok := served(t, addr)
		c.nc.Close()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new connection was served within %v of one closing", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Past max.connections or max.connections.per.ip (all from 127.0.0.1) the
// newest connection is closed at once; the others keep working, and a
// connection is served again once one closes.
func TestConns_LimitsRefuseTheNewest(t *testing.T) {
	for _, key := range []string{"max.connections", "max.connections.per.ip"} {
		t.Run(key, func(t *testing.T) {
			n := startNode(t, t.TempDir(), key, "2")
			a, ok1 := served(t, n.Addr())
			b, ok2 := served(t, n.Addr())
			if !ok1 || !ok2 {
				t.Fatal("a connection under the limit was refused")
			}
			if c, ok := served(t, n.Addr()); ok || !c.closed() {
				t.Fatalf("the third connection was served with %s=2", key)
			}
			if !a.answers(2) || !b.answers(2) {
				t.Fatal("a refusal disturbed the open connections")
			}
			a.nc.Close()
			servedAgain(t, n.Addr(), 10*time.Second)
		})
	}
}

// createTopicRaw creates a one-partition topic over c.
func createTopicRaw(t *testing.T, c *rawConn, name string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 5
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	c.send(req, 1)
	resp := kmsg.NewPtrCreateTopicsResponse()
	resp.Version = req.Version
	c.recv(resp)
	if ec := resp.Topics[0].ErrorCode; ec != 0 {
		t.Fatalf("create %s: error %d", name, ec)
	}
}

// longPoll is a fetch of an empty partition that waits up to wait for a
// record.
func longPoll(topic string, wait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MinBytes = 12, -1, 1
	req.MaxWaitMillis = int32(wait / time.Millisecond)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// park sends long polls on c until one waits (the new topic's partition
// may need a moment to have a leader; until then a fetch answers at once
// with an error).
func park(t *testing.T, c *rawConn, topic string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for corr := int32(10); ; corr++ {
		c.send(longPoll(topic, wait), corr)
		_ = c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.br.Peek(4); errors.Is(err, os.ErrDeadlineExceeded) {
			_ = c.nc.SetReadDeadline(time.Time{})
			return // parked
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 12
		c.recv(resp)
		if time.Now().After(deadline) {
			t.Fatalf("the long poll never parked: error %d", resp.Topics[0].Partitions[0].ErrorCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A long poll whose client closes the connection frees the connection at
// once, not when MaxWait (60 s here) runs out: with max.connections=1, a
// new client is served again within seconds.
func TestFetch_ParkedFetchFreedWhenClientCloses(t *testing.T) {
	n := startNode(t, t.TempDir(), "max.connections", "1")
	a := dialRaw(t, n.Addr())
	createTopicRaw(t, a, "parked")
	park(t, a, "parked", 60*time.Second)
	a.nc.Close()
	servedAgain(t, n.Addr(), 10*time.Second)
}

// A parked fetch is answered before the requests read after it, and is
// not cut short by connections.max.idle.ms while it waits.
func TestFetch_ParkedFetchKeepsOrderAndConnection(t *testing.T) {
	n := startNode(t, t.TempDir(), "connections.max.idle.ms", "1000")
	c := dialRaw(t, n.Addr())
	createTopicRaw(t, c, "order")
	park(t, c, "order", 3*time.Second)
	c.send(kmsg.NewPtrApiVersionsRequest(), 99)
	fetch := kmsg.NewPtrFetchResponse()
	fetch.Version = 12
	corr := c.recv(fetch)
	if corr == 99 {
		t.Fatal("ApiVersions was answered before the fetch read ahead of it")
	}
	if ec := fetch.Topics[0].Partitions[0].ErrorCode; ec != 0 {
		t.Fatalf("fetch error %d", ec)
	}
	if corr := c.recv(kmsg.NewPtrApiVersionsResponse()); corr != 99 {
		t.Fatalf("correlation %d, want 99", corr)
	}
	if !c.answers(100) {
		t.Fatal("the connection was closed as idle while its fetch was parked")
	}
}
