package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/console"
)

// The overview shows each broker's figures read from its node's /metrics
// (bytes in, produce latency, leaders) and charts them by broker; a
// metrics URL that reaches nothing is reported, not fatal.
func TestConsole_BrokerMetrics(t *testing.T) {
	c, err := fjord.NewCluster(2, fjord.WithConfig("http.listeners", "http://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("metered"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 2, nil, "metered"); err != nil {
		t.Fatal(err)
	}
	dead := "127.0.0.1:1" // nothing listens there
	con, err := console.New(console.Config{Client: cl, SampleInterval: 100 * time.Millisecond,
		MetricsURLs: []string{c.Node(0).HTTPAddr(), "http://" + c.Node(1).HTTPAddr() + "/metrics", dead}})
	if err != nil {
		t.Fatal(err)
	}
	defer con.Close()
	srv := httptest.NewServer(con)
	defer srv.Close()
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("v", 1000))}).FirstErr()
		}
	}()
	defer func() { close(stop); <-produced }()

	// Both brokers' rows carry figures, and the produce latency of both
	// is drawn once two samples with produces were taken.
	p99 := regexp.MustCompile(`node \d: \d+\.\d ms`)
	var page string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = string(b)
		if strings.Count(page, "<td>1</td><td>127.0.0.1:") >= 1 && !strings.Contains(page, "no metrics read from this broker") &&
			len(p99.FindAllString(page, -1)) == 2 && strings.Contains(page, "/s</td>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no per-broker figures on the overview:\n%s", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(page, "Bytes in per second") || !strings.Contains(page, "<polyline class=\"s1\"") {
		t.Errorf("no chart by broker:\n%s", page)
	}
	if !strings.Contains(page, "metrics: http://127.0.0.1:1/metrics/node: ") {
		t.Errorf("the unreachable endpoint is not reported:\n%s", page)
	}
}

// BenchmarkSampler measures one round of the console's sampling (every
// partition's end offset, every group's lag, the node's metrics) on a
// node hosting 10,000 partitions (100 topics of 100) with 20 groups: the
// console pays this every sample interval (5 s by default).
func BenchmarkSampler(b *testing.B) {
	const topics, parts, groups = 100, 100, 20
	n, err := fjord.NewNode(fjord.WithDataDir(b.TempDir()), fjord.WithConfig("http.listeners", "http://127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RequestTimeoutOverhead(5*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32((4 * time.Minute).Milliseconds()))
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("topic-%03d", i)
	}
	if _, err := adm.CreateTopics(ctx, parts, 1, nil, names...); err != nil {
		b.Fatal(err)
	}
	for g := range groups {
		offs := kadm.Offsets{}
		for p := range int32(parts) {
			offs.AddOffset(names[g], p, 0, -1)
		}
		if _, err := adm.CommitOffsets(ctx, fmt.Sprintf("group-%02d", g), offs); err != nil {
			b.Fatal(err)
		}
	}
	for _, withNodes := range []bool{false, true} {
		cfg := console.Config{Client: cl, SampleInterval: time.Hour}
		if withNodes {
			cfg.MetricsURLs = []string{n.HTTPAddr()}
		}
		con, err := console.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("node-metrics=%v", withNodes), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := console.SampleOnce(ctx, con); err != nil {
					b.Fatal(err)
				}
			}
		})
		con.Close()
	}
}
