package hostile

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a hand-driven Kafka connection.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// frame is req encoded as a request frame with client ID "hostile".
func frame(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("hostile")).AppendRequest(nil, req, corr)
}

func (c *rawConn) write(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

func (c *rawConn) send(req kmsg.Request, corr int32) {
	c.t.Helper()
	if err := c.write(frame(req, corr)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one response into resp and returns its correlation ID.
func (c *rawConn) recv(resp kmsg.Response) (int32, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return 0, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.br, body); err != nil {
		return 0, err
	}
	corr := int32(binary.BigEndian.Uint32(body))
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		body = body[1:] // empty header tags
	}
	return corr, resp.ReadFrom(body)
}

// closedByPeer reports whether the broker closed the connection within
// wait (reading and dropping anything it sent first).
func (c *rawConn) closedByPeer(wait time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return err == nil || (!errors.As(err, &ne) || !ne.Timeout())
}

// produceV is a one-partition Produce request of version v carrying batch.
func produceV(v int16, topic string, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = v
	req.Acks = -1
	req.TimeoutMillis = 10000
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	tp.Partitions = append(tp.Partitions, pp)
	req.Topics = append(req.Topics, tp)
	return req
}

// produceCode sends batch to topic/0 and returns the partition's error
// code, or an error if the connection failed.
func (c *rawConn) produceCode(v int16, topic string, batch []byte, corr int32) (int16, error) {
	if err := c.write(frame(produceV(v, topic, batch), corr)); err != nil {
		return 0, err
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = v
	if _, err := c.recv(resp); err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("produce response has %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

// healthy proves the broker still serves a well-behaved client: a record
// produced with acks=all is read back.
func healthy(t testing.TB, addr, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.RecordRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Join the partition at its end before producing, so the record read
	// is this one.
	cl.ForceMetadataRefresh()
	value := []byte("healthy-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	go func() {
		time.Sleep(300 * time.Millisecond)
		cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, r := range fs.Records() {
			if string(r.Value) == string(value) {
				return
			}
		}
	}
	t.Fatalf("a healthy client could not produce and read back a record on %s", topic)
}

// rss returns the process's current and peak resident set sizes in bytes.
func rss(t testing.TB, pid int) (cur, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc status for the broker: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

// batch wraps an already compressed payload in a v2 batch header of codec
// (1 gzip, 2 snappy, 3 lz4, 4 zstd) claiming numRecords records.
func batch(codec int16, payload []byte, numRecords int32) []byte {
	const headerSize = 61
	b := make([]byte, headerSize, headerSize+len(payload))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(headerSize-12+len(payload))) // batch length
	b[16] = 2                                               // magic
	be.PutUint16(b[21:], uint16(codec))
	be.PutUint32(b[23:], uint32(numRecords-1)) // last offset delta
	now := uint64(time.Now().UnixMilli())
	be.PutUint64(b[27:], now)        // base timestamp
	be.PutUint64(b[35:], now)        // max timestamp
	be.PutUint64(b[43:], ^uint64(0)) // producer ID -1
	be.PutUint16(b[51:], 0xffff)     // producer epoch -1
	be.PutUint32(b[53:], 0xffffffff) // base sequence -1
	be.PutUint32(b[57:], uint32(numRecords))
	b = append(b, payload...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// recordOf returns the wire form of one record (key "k") whose value is
// valueLen zero bytes, as a prefix and suffix around the value, so a huge
// value can be streamed into a compressor without being held.
func recordOf(valueLen int64) (prefix, suffix []byte) {
	var body []byte
	body = append(body, 0)                     // attributes
	body = binary.AppendVarint(body, 0)        // timestamp delta
	body = binary.AppendVarint(body, 0)        // offset delta
	body = binary.AppendVarint(body, 1)        // key length
	body = append(body, 'k')                   //
	body = binary.AppendVarint(body, valueLen) // value length
	suffix = binary.AppendVarint(nil, 0)       // no headers
	length := int64(len(body)) + valueLen + int64(len(suffix))
	prefix = binary.AppendVarint(nil, length)
	return append(prefix, body...), suffix
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
