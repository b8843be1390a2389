package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// `cluster health` exits 0 on a healthy cluster; a stopped broker
// (under-replicated partitions, a fenced broker) and a group whose lag
// grows make it exit 1, named in the report.
func TestClusterHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c, err := fjord.NewCluster(3, fjord.WithConfig("min.insync.replicas", "2"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	boot := strings.Join(c.Addrs(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, nil, "orders"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	health := func() (healthJSON, result) {
		r := runFjord(t, "", "--bootstrap-server", boot, "cluster", "health", "--lag-interval", "300ms", "--output", "json")
		var h healthJSON
		decode(t, r.stdout, &h)
		return h, r
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, r := health()
		if r.code == ExitOK && h.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %+v\n%s", h, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A group that committed and stopped reading, while records arrive:
	// its lag grows between the two samples.
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 0, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "stalled", offs); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("o")})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	h, r := health()
	close(stop)
	<-done
	if r.code != ExitError || h.Healthy || len(h.Groups) != 1 || !h.Groups[0].Growing || !strings.Contains(strings.Join(h.Problems, ";"), "group stalled: lag grew") {
		t.Fatalf("a growing lag: exit %d, %+v", r.code, h)
	}

	if err := c.Stop(2); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		r := runFjord(t, "", "--bootstrap-server", c.Node(0).Addr(), "cluster", "health", "--lag-interval", "0")
		if r.code == ExitError && strings.Contains(r.stdout, "UNHEALTHY") && strings.Contains(r.stdout, "under-replicated partition(s)") &&
			strings.Contains(r.stdout, "fenced broker(s) 3") {
			if !strings.Contains(r.stderr, "not healthy") {
				t.Fatalf("stderr %q", r.stderr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stopped broker not reported: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
