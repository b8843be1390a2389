package perf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fjordstream/fjord/internal/bench"
)

// The NATS JetStream peer of the distributed-mode benchmarks: three
// nats-server instances in this process, clustered over loopback routes,
// each with JetStream on file storage in its own temporary folder. A Kafka
// partition maps to a JetStream stream (the unit of replication, one Raft
// group each), so "6 partitions" is six R3 streams.
//
// Fairness, as docs/performance.md explains: the publisher keeps
// natsWindow unacknowledged messages in flight per connection (JetStream's
// own default, 4000 x 1 KiB, about what franz-go's idempotent producer keeps
// in flight: five requests of up to 1 MB per broker), publishes each stream
// through a connection to the server that leads it (as a Kafka client
// writes to the partition leader), and counts a message once its PubAck
// arrives (the stream leader's ack after the Raft quorum stored it).

// natsWindow is the async publish window per connection: JetStream's default
// (WithPublishAsyncMaxPending 4000).
const natsWindow = 4000

// natsStampHeader carries the publisher's run ID and the send time (Unix
// nanoseconds), as "RUNID NANOS" in decimal (header values are text), in
// each published message; the ack
// handler and the consumer read it back, and the consumer counts only its
// run's messages.
const natsStampHeader = "Fjord-Bench-Sent"

// natsCluster is three in-process nats-server instances forming one cluster.
type natsCluster struct {
	servers []*natsserver.Server
	urls    map[string]string // server name -> client URL
}

// startNATS starts a three-node JetStream cluster on loopback. syncAlways
// makes every server fsync each write before acknowledging it (JetStream's
// sync_always); otherwise JetStream's default applies: the file store is
// fsynced every sync_interval (2 minutes), and an ack means the write is in
// the page cache of a quorum of servers.
func startNATS(b *testing.B, syncAlways bool) *natsCluster {
	b.Helper()
	const n = 3
	ports := make([]int, n)
	var routes []*url.URL
	for i := range ports {
		ports[i] = freePort(b)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))})
	}
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = b.TempDir() // before the shutdown below is registered, so removed after it runs
	}
	c := &natsCluster{urls: map[string]string{}}
	b.Cleanup(func() {
		for _, s := range c.servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	for i := range n {
		opts := &natsserver.Options{
			ServerName:        "n" + strconv.Itoa(i+1),
			Host:              "127.0.0.1",
			Port:              -1, // random client port
			NoSigs:            true,
			NoLog:             true,
			JetStream:         true,
			StoreDir:          dirs[i],
			JetStreamMaxStore: 16 << 30,
			SyncAlways:        syncAlways,
			Cluster: natsserver.ClusterOpts{
				Name: "fjord-perf",
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: routes,
		}
		s, err := natsserver.NewServer(opts)
		if err != nil {
			b.Fatal(err)
		}
		c.servers = append(c.servers, s)
		go s.Start()
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(30 * time.Second) {
			b.Fatalf("nats server %s not ready", s.Name())
		}
		c.urls[s.Name()] = s.ClientURL()
	}
	return c
}

// freePort asks the OS for a free loopback port.
func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// connect opens a client connection to the named server; it is closed when
// the benchmark ends.
func (c *natsCluster) connect(b *testing.B, server string, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream) {
	b.Helper()
	nc, err := nats.Connect(c.urls[server], nats.MaxReconnects(-1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return nc, js
}

// createStreams creates count R3 file streams named prefix-0.. (subjects
// prefix-i.data) and returns each one's leader server name, waiting until
// every stream has a leader (JetStream's meta group forms after start).
func (c *natsCluster) createStreams(b *testing.B, prefix string, count int) []string {
	b.Helper()
	_, js := c.connect(b, "n1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leaders := make([]string, count)
	for i := range count {
		name := fmt.Sprintf("%s-%d", prefix, i)
		for {
			// Each try has its own short deadline: until the meta group
			// has a leader, an API request is never answered.
			tctx, tcancel := context.WithTimeout(ctx, 3*time.Second)
			s, err := js.CreateStream(tctx, jetstream.StreamConfig{
				Name: name, Subjects: []string{name + ".data"},
				Replicas: 3, Storage: jetstream.FileStorage,
			})
			if err == nil {
				var info *jetstream.StreamInfo
				info, err = s.Info(tctx)
				if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
					leaders[i] = info.Cluster.Leader
					tcancel()
					break
				}
			}
			tcancel()
			if ctx.Err() != nil {
				b.Fatalf("stream %s: no leader: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return leaders
}

// natsPublisher publishes to streams through connections to their leaders.
type natsPublisher struct {
	subjects []string
	js       []jetstream.JetStream // per stream: the context of its leader's connection
	payload  []byte
	runID    uint64
	hist     *bench.Histogram // send -> PubAck
	acked    atomic.Int64
	lastAck  atomic.Int64 // UnixNano
	errs     atomic.Int64
	firstErr atomic.Pointer[error]
}

func newNATSPublisher(b *testing.B, c *natsCluster, prefix string, leaders []string, size int) *natsPublisher {
	p := &natsPublisher{payload: make([]byte, size), hist: bench.NewHistogram(), runID: rand.Uint64()}
	for i := range p.payload {
		p.payload[i] = byte('A' + i%26)
	}
	conns := map[string]jetstream.JetStream{}
	for i, leader := range leaders {
		js, ok := conns[leader]
		if !ok {
			_, js = c.connect(b, leader,
				jetstream.WithPublishAsyncMaxPending(natsWindow),
				jetstream.WithPublishAsyncAckHandler(p.onAck),
				jetstream.WithPublishAsyncErrHandler(p.onErr))
			conns[leader] = js
		}
		p.subjects = append(p.subjects, fmt.Sprintf("%s-%d.data", prefix, i))
		p.js = append(p.js, js)
	}
	return p
}

func (p *natsPublisher) onAck(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	now := time.Now()
	if sent, ok := natsStamp(m.Header, p.runID); ok {
		p.hist.Record(now.Sub(sent))
	}
	p.acked.Add(1)
	p.lastAck.Store(now.UnixNano())
}

func (p *natsPublisher) onErr(_ jetstream.JetStream, _ *nats.Msg, err error) {
	p.errs.Add(1)
	p.firstErr.CompareAndSwap(nil, &err)
}

// run publishes records messages (or for at most d), round-robin over the
// streams, at rate messages per second (0: as fast as the windows allow),
// then waits for every ack. It returns the result as the bench tool counts
// it: from the first send to the last ack.
func (p *natsPublisher) run(ctx context.Context, records int64, d time.Duration, rate float64) (bench.Result, error) {
	start := time.Now()
	var sent int64
	for i := int64(0); i < records; i++ {
		now := time.Now()
		if d > 0 && now.Sub(start) >= d {
			break
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
			if wait := due.Sub(now); wait > 0 {
				time.Sleep(wait)
			}
		}
		s := int(i) % len(p.subjects)
		m := &nats.Msg{Subject: p.subjects[s], Data: p.payload, Header: nats.Header{}}
		m.Header.Set(natsStampHeader, p.stamp(time.Now()))
		// A full window blocks the call (for up to the stall wait, then
		// it fails and is tried again): the publisher waits for acks, as
		// franz-go waits once its buffer is full.
		for {
			_, err := p.js[s].PublishMsgAsync(m, jetstream.WithStallWait(time.Second))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
				return p.result(start), fmt.Errorf("publish: %w", err)
			}
		}
		sent++
		if e := p.firstErr.Load(); e != nil {
			return p.result(start), *e
		}
	}
	for _, js := range p.js {
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return p.result(start), fmt.Errorf("waiting for acks (%d of %d): %w", p.acked.Load(), sent, ctx.Err())
		}
	}
	if e := p.firstErr.Load(); e != nil {
		return p.result(start), *e
	}
	return p.result(start), nil
}

func (p *natsPublisher) result(start time.Time) bench.Result {
	n := p.acked.Load()
	r := bench.Result{Mode: bench.ModeProduce, Topic: p.subjects[0], Records: n,
		Bytes: n * int64(len(p.payload)), Errors: p.errs.Load(), Latency: p.hist.Summary()}
	if last := p.lastAck.Load(); last > 0 {
		r.Elapsed = time.Unix(0, last).Sub(start)
	}
	return r
}

// natsProduce publishes records 1 KiB messages to count fresh R3 streams
// as fast as the window allows and reports as bench.Produce does.
func natsProduce(b *testing.B, c *natsCluster, prefix string, streams int, records int64, d time.Duration) bench.Result {
	b.Helper()
	leaders := c.createStreams(b, prefix, streams)
	b.Logf("stream leaders: %v", leaders)
	p := newNATSPublisher(b, c, prefix, leaders, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := p.run(ctx, records, d, 0)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// natsE2E publishes at rate messages per second to one fresh R3 stream
// (after e2eWarmUp messages at the same rate, not counted) while an ordered
// consumer (connected to the stream's leader, starting after the warm-up)
// reads it, and reports the send -> receive latency as bench.E2E does.
func natsE2E(b *testing.B, c *natsCluster, prefix string, records int64, rate float64) bench.Result {
	b.Helper()
	leaders := c.createStreams(b, prefix, 1)
	_, js := c.connect(b, leaders[0])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	warm := newNATSPublisher(b, c, prefix, leaders, 1024)
	if _, err := warm.run(ctx, e2eWarmUp, 0, rate); err != nil {
		b.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, prefix+"-0", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	hist := bench.NewHistogram()
	var got atomic.Int64
	var lastNs atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	p := newNATSPublisher(b, c, prefix, leaders, 1024)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		sent, ok := natsStamp(m.Headers(), p.runID)
		if !ok {
			return // a warm-up message
		}
		hist.Record(now.Sub(sent))
		lastNs.Store(now.UnixNano())
		if got.Add(1) >= records {
			once.Do(func() { close(done) })
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	start := time.Now()
	if _, err := p.run(ctx, records, 0, rate); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal(errors.New("nats e2e: consumer did not read every message"))
	}
	return bench.Result{Mode: bench.ModeE2E, Topic: prefix, Records: got.Load(), Bytes: got.Load() * 1024,
		Elapsed: time.Unix(0, lastNs.Load()).Sub(start), Latency: hist.Summary()}
}

// stamp is the natsStampHeader value for a message sent now.
func (p *natsPublisher) stamp(now time.Time) string {
	return strconv.FormatUint(p.runID, 10) + " " + strconv.FormatInt(now.UnixNano(), 10)
}

// natsStamp returns the send time stamped in h by the publisher runID.
func natsStamp(h nats.Header, runID uint64) (time.Time, bool) {
	id, ns, ok := strings.Cut(h.Get(natsStampHeader), " ")
	if !ok || id != strconv.FormatUint(runID, 10) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}
