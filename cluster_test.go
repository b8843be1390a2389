package fjord_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

func startCluster(t *testing.T, n int, kv ...string) *fjord.Cluster {
	t.Helper()
	var opts []fjord.Option
	if os.Getenv("FJORD_TEST_LOG") != "" {
		opts = append(opts, fjord.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, fjord.WithConfig(kv[i], kv[i+1]))
	}
	c, err := fjord.NewCluster(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startNode starts one node on a temporary data folder from key/value
// pairs, closed at the end of the test.
func startNode(t *testing.T, kv ...string) *fjord.Node {
	t.Helper()
	opts := []fjord.Option{fjord.WithDataDir(t.TempDir())}
	if os.Getenv("FJORD_TEST_LOG") != "" {
		opts = append(opts, fjord.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, fjord.WithConfig(kv[i], kv[i+1]))
	}
	n, err := fjord.NewNode(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// A three-node cluster replicates a topic of replication factor 3: records
// produced with acks=all through any broker are read back from the
// leaders, and survive the loss of a leader.
func TestCluster_ReplicatesAndFailsOver(t *testing.T) {
	c := startCluster(t, 3, "min.insync.replicas", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("orders"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "orders"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 60)
	md, err := adm.ListTopics(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	p0 := md["orders"].Partitions[0]
	if len(p0.Replicas) != 3 || len(p0.ISR) != 3 {
		t.Fatalf("partition 0: replicas %v isr %v", p0.Replicas, p0.ISR)
	}
	// Kill the leader of partition 0; the rest keeps serving.
	leader := int(p0.Leader) - 1
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	produce(60, 120)
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	produce(120, 150)
	seen := map[string]bool{}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for len(seen) < 150 && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if len(seen) != 150 {
		t.Fatalf("read back %d of 150 acknowledged records", len(seen))
	}
}

// DescribeQuorum, sent to any broker, is answered by the active
// controller: three voters, one leader, every voter caught up.
func TestCluster_DescribeQuorum(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, addr := range c.Addrs() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		cl.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("node %d: %+v", i+1, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID < 1 || p.LeaderID > 3 || p.HighWatermark <= 0 || len(p.CurrentVoters) != 3 {
			t.Fatalf("node %d: partition %+v", i+1, p)
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset <= 0 {
				t.Fatalf("node %d: voter %+v has no log", i+1, v)
			}
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The seed's topology: one dedicated controller (process.roles=controller)
// and broker-only nodes, which keep their metadata as observers of the
// quorum and forward admin requests to it. A broker started later
// registers and takes new partitions.
func TestCluster_DedicatedControllerAndBrokers(t *testing.T) {
	cport := freePort(t)
	common := []string{
		"controller.quorum.voters", fmt.Sprintf("9@127.0.0.1:%d", cport),
		"controller.listener.names", "CONTROLLER",
		"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"offsets.topic.replication.factor", "2",
	}
	start := func(kv ...string) *fjord.Node {
		t.Helper()
		return startNode(t, append(kv, common...)...)
	}
	start("process.roles", "controller", "node.id", "9", "listeners", fmt.Sprintf("CONTROLLER://127.0.0.1:%d", cport))
	b1 := start("process.roles", "broker", "node.id", "1", "listeners", "PLAINTEXT://127.0.0.1:0")
	b2 := start("process.roles", "broker", "node.id", "2", "listeners", "PLAINTEXT://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b1.Addr()), kgo.DefaultProduceTopic("seed"), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 2, 2, nil, "seed"); err != nil || resp.Err != nil {
		t.Fatalf("create through a broker-only node: %v %v", err, resp.Err)
	}
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// A third broker joins later and is used for new partitions.
	b3 := start("process.roles", "broker", "node.id", "3", "listeners", "PLAINTEXT://127.0.0.1:0")
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "wide"); err != nil || resp.Err != nil {
		t.Fatalf("create with all three brokers: %v %v", err, resp.Err)
	}
	fresh, err := kgo.NewClient(kgo.SeedBrokers(b1.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	md, err := kadm.NewClient(fresh).BrokerMetadata(ctx)
	fresh.Close()
	if err != nil || len(md.Brokers) != 3 {
		t.Fatalf("brokers: %+v %v", md.Brokers, err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b2.Addr(), b3.Addr()), kgo.ConsumeTopics("seed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < 20 && ctx.Err() == nil {
		got += cons.PollFetches(ctx).NumRecords()
	}
	if got != 20 {
		t.Fatalf("read %d of 20 records", got)
	}
}

// Two broker listeners: clients on CLIENT, replication on REPLICATION
// (inter.broker.listener.name). Each listener's clients are answered with
// the brokers' addresses on that listener, as Kafka does, and the
// followers fetch over REPLICATION: each broker advertises its REPLICATION
// listener through a proxy only the followers dial; acks=all writes with
// min.insync.replicas=2 complete, stall while the proxies are cut and
// complete again once healed.
func TestCluster_SeparateInterBrokerListener(t *testing.T) {
	cport := freePort(t)
	type ports struct{ client, repl int }
	nodes := map[int]ports{}
	proxies := map[int]*fjordtest.Proxy{}
	bound := map[int]int{} // the REPLICATION listeners' own ports
	for id := 1; id <= 2; id++ {
		p := ports{freePort(t), freePort(t)}
		bound[id] = p.repl
		proxies[id] = fjordtest.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", p.repl))
		_, port, _ := net.SplitHostPort(proxies[id].Addr())
		p.repl, _ = strconv.Atoi(port) // advertised (and answered) through the proxy
		nodes[id] = p
	}
	start := func(kv ...string) {
		t.Helper()
		startNode(t, append(kv,
			"controller.quorum.voters", fmt.Sprintf("9@127.0.0.1:%d", cport),
			"controller.listener.names", "CONTROLLER",
			"listener.security.protocol.map", "CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"inter.broker.listener.name", "REPLICATION",
			"offsets.topic.replication.factor", "2",
			"min.insync.replicas", "2",
			"replica.lag.time.max.ms", "1500")...)
	}
	start("process.roles", "controller", "node.id", "9", "listeners", fmt.Sprintf("CONTROLLER://127.0.0.1:%d", cport))
	for id, p := range nodes {
		start("process.roles", "broker", "node.id", fmt.Sprint(id),
			"listeners", fmt.Sprintf("CLIENT://127.0.0.1:%d,REPLICATION://127.0.0.1:%d", p.client, bound[id]),
			"advertised.listeners", fmt.Sprintf("CLIENT://127.0.0.1:%d,REPLICATION://127.0.0.1:%d", p.client, p.repl))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, on := range []struct {
		name string
		port func(ports) int
	}{{"CLIENT", func(p ports) int { return p.client }}, {"REPLICATION", func(p ports) int { return p.repl }}} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", on.port(nodes[1]))))
		if err != nil {
			t.Fatal(err)
		}
		var md kadm.BrokerDetails
		for ctx.Err() == nil {
			m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			if err == nil && len(m.Brokers) == 2 {
				md = m.Brokers
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
		if len(md) != 2 {
			t.Fatalf("%s: brokers %+v", on.name, md)
		}
		for _, b := range md {
			if want := on.port(nodes[int(b.NodeID)]); int(b.Port) != want {
				t.Errorf("%s listener: broker %d answered at port %d, want its %s port %d", on.name, b.NodeID, b.Port, on.name, want)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", nodes[1].client)),
		kgo.DefaultProduceTopic("split"), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 2, nil, "split"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	produce := func(i int) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d with min.insync.replicas=2: %v", i, err)
		}
	}
	for i := range 20 {
		produce(i)
	}
	for _, px := range proxies {
		px.Cut()
	}
	// A client of its own that gives up (an idempotent franz-go producer
	// retries NOT_ENOUGH_REPLICAS without end).
	cutCl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", nodes[1].client)),
		kgo.DefaultProduceTopic("split"), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = cutCl.ProduceSync(ctx, &kgo.Record{Value: []byte("while cut")}).FirstErr()
	cutCl.Close()
	if err == nil {
		t.Fatal("an acks=all write completed with the inter-broker listener cut off: followers do not fetch over it")
	}
	for _, px := range proxies {
		px.Heal()
	}
	produce(21)
}
