package connect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/rest"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Issue 12's Connect test: three `fjord connect distributed` workers with
// exactly.once.source.support=enabled run a FileStreamSource over a file
// that grows while they copy it. The worker running the task is SIGKILLed
// mid-copy (its open transaction is aborted when the task starts
// elsewhere), then the next owner is SIGSTOPped until the task moved
// again and resumed afterwards (a zombie: its writes are fenced). A
// read_committed consumer then finds every line exactly once. Without the
// transactions the kill alone duplicates what was sent since the last
// offset flush (60 s by default: everything).
func TestDistributed_ExactlyOnceSourceSurvivesSIGKILLAndSIGSTOP(t *testing.T) {
	bin := fjordtest.BuildFjord(t)
	broker := fjordtest.StartProcess(t, bin, t.TempDir())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	const n, chunk = 40_000, 200
	pad := strings.Repeat("x", 60)
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "lines"); err != nil {
		t.Fatal(err)
	}

	props := filepath.Join(dir, "worker.properties")
	writeProps(t, props, "bootstrap.servers", broker.Addr(), "group.id", "eos-cluster", "listeners", "http://127.0.0.1:0",
		"config.storage.topic", "eos-configs", "offset.storage.topic", "eos-offsets", "status.storage.topic", "eos-status",
		"config.storage.replication.factor", "1", "offset.storage.replication.factor", "1", "status.storage.replication.factor", "1",
		"key.converter", "org.apache.kafka.connect.storage.StringConverter", "value.converter", "org.apache.kafka.connect.storage.StringConverter",
		"session.timeout.ms", "6000", "heartbeat.interval.ms", "500", "scheduled.rebalance.max.delay.ms", "1000",
		"exactly.once.source.support", "enabled")
	workers := map[string]*fjordtest.Process{}
	var first *fjordtest.Process
	for range 3 {
		p := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "distributed", props)
		workers[p.Addr()] = p
		first = p
	}
	client := rest.NewClient("http://"+first.Addr(), 30*time.Second)
	if err := retry(ctx, func() error {
		_, err := client.Create(ctx, map[string]string{"name": "src", "connector.class": "FileStreamSource", "file": in, "topic": "lines",
			"batch.size": "500", "exactly.once.support": "required"})
		return err
	}); err != nil {
		t.Fatalf("creating the connector: %v", err)
	}

	// The file grows while the workers copy it, as a log being written.
	writerDone := make(chan error, 1)
	go func() {
		defer f.Close()
		for c := 0; c < n/chunk; c++ {
			var b strings.Builder
			for i := c * chunk; i < (c+1)*chunk; i++ {
				fmt.Fprintf(&b, "line-%06d-%s\n", i, pad)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				writerDone <- err
				return
			}
			select {
			case <-ctx.Done():
				writerDone <- ctx.Err()
				return
			case <-time.After(80 * time.Millisecond):
			}
		}
		writerDone <- nil
	}()

	// A read_committed consumer follows the topic the whole time.
	var mu sync.Mutex
	seen := map[string]int{}
	committed := 0
	consumer, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("lines"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	cctx, stopConsumer := context.WithCancel(ctx)
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for cctx.Err() == nil {
			consumer.PollFetches(cctx).EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seen[string(r.Value)]++
				committed++
				mu.Unlock()
			})
		}
	}()
	progress := func() int { mu.Lock(); defer mu.Unlock(); return committed }
	waitProgress := func(what string, want int) {
		t.Helper()
		if err := retry(ctx, func() error {
			if got := progress(); got < want {
				return fmt.Errorf("%d lines committed", got)
			}
			return nil
		}); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	owner := func(c *rest.Client, not string) *fjordtest.Process {
		t.Helper()
		var p *fjordtest.Process
		if err := retry(ctx, func() error {
			st, err := c.Status(ctx, "src")
			if err != nil {
				return err
			}
			if len(st.Tasks) != 1 || st.Tasks[0].State != connect.Running || st.Tasks[0].WorkerID == not {
				return fmt.Errorf("tasks %+v", st.Tasks)
			}
			p = workers[st.Tasks[0].WorkerID]
			if p == nil {
				return fmt.Errorf("task on unknown worker %s", st.Tasks[0].WorkerID)
			}
			return nil
		}); err != nil {
			t.Fatalf("the task's worker (not %s): %v", not, err)
		}
		return p
	}
	clientOf := func(except *fjordtest.Process) *rest.Client {
		for addr, p := range workers {
			if p != except {
				return rest.NewClient("http://"+addr, 30*time.Second)
			}
		}
		t.Fatal("no other worker")
		return nil
	}

	waitProgress("a fifth of the copy", n/5)
	victim := owner(client, "")
	victim.Kill()
	killedAt := progress()
	t.Logf("SIGKILLed the task's worker %s at %d committed lines", victim.Addr(), killedAt)
	if killedAt >= n {
		t.Fatal("the copy ended before the kill: the test did not kill mid-copy")
	}
	killedAddr := victim.Addr()
	next := owner(clientOf(victim), killedAddr)
	victim.Restart(t) // on a new REST port
	delete(workers, killedAddr)
	workers[victim.Addr()] = victim

	waitProgress("progress after the move", killedAt+2000)
	next.Pause()
	pausedAt := progress()
	t.Logf("SIGSTOPped the task's new worker %s at %d committed lines", next.Addr(), pausedAt)
	third := owner(clientOf(next), next.Addr())
	waitProgress("progress on the third owner", pausedAt+1000)
	next.Resume() // a zombie now: whatever it still sends is fenced
	t.Logf("task moved to %s; resumed the stopped worker as a zombie", third.Addr())

	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	waitProgress("every line", n)
	time.Sleep(2 * time.Second) // a late duplicate would show by now
	stopConsumer()
	<-consumerDone

	mu.Lock()
	defer mu.Unlock()
	var dups, missing []string
	for i := range n {
		line := fmt.Sprintf("line-%06d-%s", i, pad)
		switch seen[line] {
		case 0:
			missing = append(missing, line[:11])
		case 1:
		default:
			dups = append(dups, fmt.Sprintf("%s x%d", line[:11], seen[line]))
		}
	}
	if len(dups) > 0 || len(missing) > 0 || committed != n {
		t.Fatalf("read_committed: %d records for %d lines; %d duplicated (first %v), %d missing (first %v)",
			committed, n, len(dups), dups[:min(len(dups), 10)], len(missing), missing[:min(len(missing), 10)])
	}
	// What the kill and the zombie left aborted (visible read_uncommitted).
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "lines")
	if err != nil {
		t.Fatal(err)
	}
	var logEnd int64
	ends.Each(func(o kadm.ListedOffset) { logEnd += o.Offset })
	t.Logf("EOS-CONNECT: %d lines exactly once read_committed; the log holds %d offsets (aborted records and transaction markers included)", n, logEnd)
}
