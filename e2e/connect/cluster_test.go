package connect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Issue 10's cluster test: a standalone worker copies a file through a
// topic of a three-node Fjord cluster (replication factor 3,
// min.insync.replicas 2) while one broker is SIGKILLed and restarted:
// every line arrives, in order.
func TestStandalone_CopyThroughAClusterLosingABroker(t *testing.T) {
	bin := fjordtest.BuildFjord(t)
	c := fjordtest.StartCluster(t, bin, fjordtest.ClusterConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	boot := c.Bootstrap()
	cl, err := kgo.NewClient(kgo.SeedBrokers(boot...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "lines"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	const n, chunk = 30_000, 1000
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan error, 1)
	go func() {
		defer f.Close()
		for ch := 0; ch < n/chunk; ch++ {
			var b strings.Builder
			for i := ch * chunk; i < (ch+1)*chunk; i++ {
				fmt.Fprintf(&b, "line-%06d\n", i)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		writerDone <- nil
	}()
	worker, src, dst := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "source.properties"), filepath.Join(dir, "sink.properties")
	writeProps(t, worker, "bootstrap.servers", strings.Join(boot, ","), "listeners", "http://127.0.0.1:0",
		"key.converter", "org.apache.kafka.connect.storage.StringConverter",
		"value.converter", "org.apache.kafka.connect.storage.StringConverter",
		"offset.storage.file.filename", filepath.Join(dir, "offsets"), "offset.flush.interval.ms", "300",
		"consumer.session.timeout.ms", "6000", "consumer.heartbeat.interval.ms", "500")
	writeProps(t, src, "name", "src", "connector.class", "FileStreamSource", "file", in, "topic", "lines")
	writeProps(t, dst, "name", "dst", "connector.class", "FileStreamSink", "file", out, "topics", "lines")
	w := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "standalone", worker, src, dst)

	for len(readLines(out)) < n/4 {
		if ctx.Err() != nil {
			t.Fatalf("waiting for a quarter of the copy: %d lines\n%s", len(readLines(out)), w.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim := c.Node(2)
	victim.Proc.Kill()
	t.Logf("SIGKILLed broker 2 at %d lines", len(readLines(out)))
	time.Sleep(2 * time.Second)
	victim.Proc.Restart(t)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	for {
		got := readLines(out)
		seen := map[string]bool{}
		var firsts []string
		for _, l := range got {
			if !seen[l] {
				seen[l] = true
				firsts = append(firsts, l)
			}
		}
		if len(firsts) == n {
			for i, l := range firsts {
				if want := fmt.Sprintf("line-%06d", i); l != want {
					t.Fatalf("line %d of the copy is %q, want %q", i, l, want)
				}
			}
			t.Logf("%d lines copied through the cluster; %d duplicates", n, len(got)-n)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d distinct lines\n%s", len(firsts), n, w.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
