package server_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a hand-driven Kafka connection for requests a well-behaved
// client would never send.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(req kmsg.Request, corr int32) {
	c.t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, corr)
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one response frame into resp (header v0 or v1 per resp).
func (c *rawConn) recv(resp kmsg.Response) int32 {
	c.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.br, body); err != nil {
		c.t.Fatal(err)
	}
	corr := int32(binary.BigEndian.Uint32(body))
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding %T: %v", resp, err)
	}
	return corr
}

// closed reports whether the server closed the connection.
func (c *rawConn) closed() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.ReadByte()
	return errors.Is(err, io.EOF) || isReset(err)
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestRaw_BadInputClosesOnlyItsConnection(t *testing.T) {
	n := startNode(t, t.TempDir(), "socket.request.max.bytes", "1048576")
	healthy := dialRaw(t, n.Addr())

	cases := []struct {
		name  string
		bytes []byte
	}{
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 64<<20)},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe}},
		{"too short for a header", []byte{0, 0, 0, 2, 0, 1}},
		{"unknown api key", append(binary.BigEndian.AppendUint32(nil, 10), 0x7f, 0x00, 0, 0, 0, 0, 0, 9, 0xff, 0xff)},
		{"garbage body", append(binary.BigEndian.AppendUint32(nil, 12), 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := dialRaw(t, n.Addr())
			if _, err := bad.nc.Write(c.bytes); err != nil {
				t.Fatal(err)
			}
			if !bad.closed() {
				t.Fatal("server kept a connection that sent garbage")
			}
			// The broker still serves everyone else.
			req := kmsg.NewPtrApiVersionsRequest()
			healthy.send(req, int32(100+i))
			resp := kmsg.NewPtrApiVersionsResponse()
			if corr := healthy.recv(resp); corr != int32(100+i) || resp.ErrorCode != 0 {
				t.Fatalf("healthy connection: corr %d err %d", corr, resp.ErrorCode)
			}
		})
	}
}

func TestRaw_ApiVersionsUnsupportedVersionAnsweredInV0(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := dialRaw(t, n.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 99 // kmsg encodes it like the newest; the server must not decode it
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 7)
	if _, err := c.nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if corr := c.recv(resp); corr != 7 {
		t.Fatalf("corr %d", corr)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestRaw_PipelinedRequestsAnsweredInOrder(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := dialRaw(t, n.Addr())
	for i := int32(0); i < 20; i++ {
		if i%2 == 0 {
			c.send(kmsg.NewPtrApiVersionsRequest(), i)
		} else {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 9
			c.send(req, i)
		}
	}
	for i := int32(0); i < 20; i++ {
		var resp kmsg.Response
		if i%2 == 0 {
			resp = kmsg.NewPtrApiVersionsResponse()
		} else {
			r := kmsg.NewPtrMetadataResponse()
			r.Version = 9
			resp = r
		}
		if corr := c.recv(resp); corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
}

// kafka-python 2.0.2 sends Metadata v0/v1; Kafka creates unknown topics for
// them when auto.create.topics.enable is on, and so must Fjord.
func TestRaw_MetadataV0AutoCreates(t *testing.T) {
	for _, v := range []int16{0, 1, 3, 4} {
		n := startNode(t, t.TempDir())
		c := dialRaw(t, n.Addr())
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		name := "test_topic"
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
		c.send(req, 1)
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = v
		c.recv(resp)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp.Topics)
		}
		if len(resp.Brokers) != 1 {
			t.Fatalf("v%d: brokers %+v", v, resp.Brokers)
		}
	}
	// With auto-creation off, an unknown topic is UNKNOWN_TOPIC_OR_PARTITION.
	n := startNode(t, t.TempDir(), "auto.create.topics.enable", "false")
	c := dialRaw(t, n.Addr())
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 1
	rt := kmsg.NewMetadataRequestTopic()
	name := "nope"
	rt.Topic = &name
	req.Topics = append(req.Topics, rt)
	c.send(req, 1)
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 1
	c.recv(resp)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("error %d", resp.Topics[0].ErrorCode)
	}
}

// librdkafka and kafka-python fail on a null record set; an empty partition
// must be answered with an empty (size 0) one, as Kafka does.
func TestRaw_FetchEmptyPartitionHasEmptyNotNullRecords(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := dialRaw(t, n.Addr())
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	md.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	name := "empty"
	rt.Topic = &name
	md.Topics = append(md.Topics, rt)
	c.send(md, 1)
	mresp := kmsg.NewPtrMetadataResponse()
	mresp.Version = 4
	c.recv(mresp)

	for _, v := range []int16{4, 11} {
		req := kmsg.NewPtrFetchRequest()
		req.Version = v
		req.MaxWaitMillis = 1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "empty"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		c.send(req, 2)
		// Read the raw frame to see the wire size of the record set.
		var size [4]byte
		if _, err := io.ReadFull(c.br, size[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c.br, body); err != nil {
			t.Fatal(err)
		}
		// The record set is the last field: int32 size 0 means empty, -1 null.
		if got := int32(binary.BigEndian.Uint32(body[len(body)-4:])); got != 0 {
			t.Fatalf("v%d: record set size %d, want 0", v, got)
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 0 {
			t.Fatalf("v%d: partition %+v", v, p)
		}
	}
}
