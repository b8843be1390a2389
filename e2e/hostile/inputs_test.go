package hostile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// records is the wire form of n small records (keys "k", values "v").
func records(n int) []byte {
	var out []byte
	for i := range n {
		var body []byte
		body = append(body, 0)
		body = binary.AppendVarint(body, 0)
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, 1)
		body = append(body, 'k')
		body = binary.AppendVarint(body, 1)
		body = append(body, 'v')
		body = binary.AppendVarint(body, 0)
		out = binary.AppendVarint(out, int64(len(body)))
		out = append(out, body...)
	}
	return out
}

func compressed(t testing.TB, codec int16, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	switch codec {
	case codecGzip:
		w := gzip.NewWriter(&out)
		_, _ = w.Write(raw)
		_ = w.Close()
	case codecZstd:
		w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		return w.EncodeAll(raw, nil)
	default:
		t.Fatalf("codec %d", codec)
	}
	return out.Bytes()
}

// legacyMessage is one magic 1 message (the pre-0.11 format) with a good
// CRC.
func legacyMessage(value string) []byte {
	body := []byte{1, 0} // magic, attributes
	body = binary.BigEndian.AppendUint64(body, uint64(time.Now().UnixMilli()))
	body = binary.BigEndian.AppendUint32(body, 0xffffffff) // null key
	body = binary.BigEndian.AppendUint32(body, uint32(len(value)))
	body = append(body, value...)
	msg := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	msg = append(msg, body...)
	out := binary.BigEndian.AppendUint64(nil, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	return append(out, msg...)
}

// sizePrefixed is a frame of the given declared size carrying body.
func sizePrefixed(size int32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(size)), body...)
}

// hostileCase sends one input on its own connection and checks the answer.
type hostileCase struct {
	name string
	run  func(t *testing.T, addr string)
}

// wantProduceCode is a case producing batch with version v to topic.
func wantProduceCode(v int16, topic string, batch []byte, want *kerr.Error) func(t *testing.T, addr string) {
	return func(t *testing.T, addr string) {
		code, err := dial(t, addr).produceCode(v, topic, batch, 1)
		if err != nil {
			t.Fatal(err)
		}
		if code != want.Code {
			t.Fatalf("error code %d (%v), want %s", code, kerr.ErrorForCode(code), want.Message)
		}
	}
}

// wantClosed is a case whose raw bytes make the broker close the
// connection, as Kafka does for input it cannot answer.
func wantClosed(b []byte) func(t *testing.T, addr string) {
	return func(t *testing.T, addr string) {
		c := dial(t, addr)
		if err := c.write(b); err != nil {
			t.Fatal(err)
		}
		if !c.closedByPeer(10 * time.Second) {
			t.Fatal("the broker kept the connection open")
		}
	}
}

// Each hostile input gets Kafka's answer, on a broker that keeps serving a
// healthy client after every one of them.
func TestHostile_InputsGetKafkasAnswer(t *testing.T) {
	p := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir())
	addr := p.Addr()
	createTopics(t, addr, "plain", "healthy")
	healthy(t, addr, "healthy")

	lying := batch(0, records(3), 5)
	lyingGzip := batch(codecGzip, compressed(t, codecGzip, records(3)), 5)
	lyingMax := batch(0, records(3), math.MaxInt32)
	zstdBatch := batch(codecZstd, compressed(t, codecZstd, records(2)), 2)
	truncatedMeta := frame(kmsg.NewPtrMetadataRequest(), 1)
	truncatedMeta = sizePrefixed(int32(len(truncatedMeta)-5), truncatedMeta[4:len(truncatedMeta)-1])
	unknownKey := sizePrefixed(10, []byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}) // key 9999
	bigFetch := sizePrefixed(9<<20, []byte{0, 1, 0, 12})                             // a 9 MiB Fetch
	emptyEntries := kmsg.NewPtrProduceRequest()
	emptyEntries.Version = 9
	emptyEntries.Acks = 1
	et := kmsg.NewProduceRequestTopic()
	et.Topic = "plain"
	for i := range 200000 {
		ep := kmsg.NewProduceRequestTopicPartition()
		ep.Partition = int32(i)
		et.Partitions = append(et.Partitions, ep)
	}
	emptyEntries.Topics = append(emptyEntries.Topics, et)

	cases := []hostileCase{
		{"frame size negative", wantClosed(sizePrefixed(-1, nil))},
		{"frame size over socket.request.max.bytes", wantClosed(sizePrefixed(200<<20, make([]byte, 64)))},
		{"frame shorter than a header", wantClosed(sizePrefixed(3, []byte{0, 1, 2}))},
		{"unknown api key", wantClosed(unknownKey)},
		{"body ends inside the request", wantClosed(truncatedMeta)},
		{"request other than Produce over 8 MiB", wantClosed(bigFetch)},
		{"Produce of 200,000 empty partition entries", wantClosed(frame(emptyEntries, 1))},
		{"record count larger than the records", wantProduceCode(9, "plain", lying, kerr.InvalidRecord)},
		{"record count larger than the records, gzip", wantProduceCode(9, "plain", lyingGzip, kerr.InvalidRecord)},
		{"record count of 2^31-1", wantProduceCode(9, "plain", lyingMax, kerr.InvalidRecord)},
		{"zstd before Produce v7", wantProduceCode(6, "plain", zstdBatch, kerr.UnsupportedCompressionType)},
		{"magic 1 message on Produce v3", wantProduceCode(3, "plain", legacyMessage("old"), kerr.InvalidRecord)},
		{"client produce to __consumer_offsets", produceToOffsetsTopic},
		{"giant client ID", giantClientID},
		{"DeleteTopics __consumer_offsets", deleteInternalTopic},
		{"IncrementalAlterConfigs with a key twice", duplicateConfigKey},
		{"Fetch in an unknown session", unknownFetchSession},
		{"pipelined flood", pipelinedFlood},
		{"idle half-frames", idleHalfFrames},
		{"connection churn", func(t *testing.T, addr string) { connectionChurn(t, addr, p.PID()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, addr)
			healthy(t, addr, "healthy")
		})
	}
}

// A client may not write to __consumer_offsets (once it exists: a group
// lookup creates it).
func produceToOffsetsTopic(t *testing.T, addr string) {
	c := dial(t, addr)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "hostile"
	deadline := time.Now().Add(20 * time.Second)
	for i := int32(1); ; i++ {
		c.send(fc, i)
		if _, err := c.recv(kmsg.NewPtrFindCoordinatorResponse()); err != nil {
			t.Fatal(err)
		}
		code, err := c.produceCode(9, "__consumer_offsets", batch(0, records(1), 1), i)
		if err != nil {
			t.Fatal(err)
		}
		if code == kerr.InvalidTopicException.Code {
			return
		}
		if code != kerr.UnknownTopicOrPartition.Code || time.Now().After(deadline) {
			t.Fatalf("error code %d (%v), want INVALID_TOPIC_EXCEPTION", code, kerr.ErrorForCode(code))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A client ID of 32767 bytes (the most an int16 length allows) is served.
func giantClientID(t *testing.T, addr string) {
	c := dial(t, addr)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(strings.Repeat("x", math.MaxInt16))).
		AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 3)
	if err := c.write(f); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if corr, err := c.recv(resp); err != nil || corr != 3 || resp.ErrorCode != 0 {
		t.Fatalf("corr %d, error code %d, %v", corr, resp.ErrorCode, err)
	}
}

func deleteInternalTopic(t *testing.T, addr string) {
	c := dial(t, addr)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 5
	req.TopicNames = []string{"__consumer_offsets"}
	req.TimeoutMillis = 10000
	c.send(req, 1)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	resp.Version = 5
	if _, err := c.recv(resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("answer %+v, want INVALID_REQUEST", resp.Topics)
	}
}

func duplicateConfigKey(t *testing.T, addr string) {
	c := dial(t, addr)
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = "plain"
	for _, v := range []string{"1000", "2000"} {
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name = "retention.ms"
		cfg.Value = kmsg.StringPtr(v)
		r.Configs = append(r.Configs, cfg)
	}
	req.Resources = append(req.Resources, r)
	c.send(req, 1)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	resp.Version = 1
	if _, err := c.recv(resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("answer %+v, want INVALID_REQUEST", resp.Resources)
	}
}

func unknownFetchSession(t *testing.T, addr string) {
	c := dial(t, addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.SessionID = 424242
	req.SessionEpoch = 3
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	c.send(req, 1)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	if _, err := c.recv(resp); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("error code %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// Thousands of requests written without reading a response are all
// answered, in order, once the client reads (the broker stops reading
// while its responses wait rather than queueing without bound).
func pipelinedFlood(t *testing.T, addr string) {
	const n = 5000
	c := dial(t, addr)
	var wire []byte
	for i := range n {
		wire = append(wire, frame(kmsg.NewPtrApiVersionsRequest(), int32(i))...)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		werr = c.write(wire)
	}()
	time.Sleep(time.Second) // the broker's queue and the socket buffers fill
	for i := range n {
		resp := kmsg.NewPtrApiVersionsResponse()
		corr, err := c.recv(resp)
		if err != nil || corr != int32(i) {
			t.Fatalf("response %d: correlation %d, %v", i, corr, err)
		}
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
}

// Connections that send the start of a frame and go idle hold their
// charge, not the broker: others are served meanwhile.
func idleHalfFrames(t *testing.T, addr string) {
	for range 40 {
		c := dial(t, addr)
		if err := c.write(sizePrefixed(1<<20, make([]byte, 100))); err != nil {
			t.Fatal(err)
		}
	}
	healthy(t, addr, "healthy")
}

// Thousands of connections opened and closed at once leave the broker
// serving, with its descriptors back near where they were.
func connectionChurn(t *testing.T, addr string, pid int) {
	before := openFiles(t, pid)
	const n = 2000
	for i := range n {
		c := dial(t, addr)
		if i%2 == 0 {
			_ = c.write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
		}
		c.nc.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := openFiles(t, pid)
		if after <= before+10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open before %d connections came and went, %d after", before, n, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openFiles(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Skipf("no /proc fd listing: %v", err)
	}
	return len(entries)
}

// Half-sent frames stall reading for a bounded time only, and only for
// their own address: one address may hold a quarter of the request budget,
// so a client elsewhere is served meanwhile, and the half-frame
// connections are closed once their bodies are overdue (10 s plus their
// size at 4 MiB/s), after which their address is served again.
func TestHostile_HalfFramesOverTheBudgetAreCutOff(t *testing.T) {
	p := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir(),
		"queued.max.request.bytes=33554432") // 16 MiB for requests, 4 MiB per address
	addr := p.Addr()
	createTopics(t, addr, "healthy")
	healthy(t, addr, "healthy")

	start := time.Now()
	hogs := make([]*rawConn, 8)
	for i := range hogs {
		hogs[i] = dial(t, addr)
		if err := hogs[i].write(sizePrefixed(1<<20, make([]byte, 100))); err != nil {
			t.Fatal(err)
		}
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	if nc, err := d.Dial("tcp", addr); err != nil {
		t.Logf("cannot dial from 127.0.0.2, skipping the other-address check: %v", err)
	} else {
		other := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		other.send(kmsg.NewPtrApiVersionsRequest(), 9)
		if corr, err := other.recv(kmsg.NewPtrApiVersionsResponse()); err != nil || corr != 9 {
			t.Fatalf("another address was not served while half-frames held their own: %d, %v", corr, err)
		}
		nc.Close()
	}
	for i, h := range hogs {
		if !h.closedByPeer(time.Until(start.Add(40 * time.Second))) {
			t.Fatalf("half-frame connection %d still open %v after it stopped sending", i, time.Since(start))
		}
	}
	t.Logf("every half-frame connection closed %v after they started", time.Since(start).Round(time.Millisecond))
	healthy(t, addr, "healthy")
}
