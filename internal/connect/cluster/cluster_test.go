package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/rest"
)

type runningWorker struct {
	url  string
	stop context.CancelFunc
	done chan struct{} // closed when Run returned, with err set
	err  error
}

func startWorker(t *testing.T, broker string) *runningWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWorker{stop: cancel, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(w.done)
		w.err = Run(ctx, Config{Worker: map[string]string{
			"bootstrap.servers": broker, "group.id": "connect-cluster", "listeners": "http://127.0.0.1:0",
			"config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets", "status.storage.topic": "connect-status",
			"config.storage.replication.factor": "1", "offset.storage.replication.factor": "1", "status.storage.replication.factor": "1",
			"offset.storage.partitions": "5", "status.storage.partitions": "2",
			"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter",
			"scheduled.rebalance.max.delay.ms": "2000", "session.timeout.ms": "6000", "heartbeat.interval.ms": "300",
			"offset.flush.interval.ms": "500",
		}, Ready: func(url string) { ready <- url }, Logger: testLogger(t)})
	}()
	select {
	case w.url = <-ready:
	case <-w.done:
		t.Fatalf("worker exited: %v", w.err)
	case <-time.After(60 * time.Second):
		t.Fatal("worker not ready within 60 s")
	}
	t.Cleanup(func() { w.stop(); <-w.done })
	return w
}

// taskWorkers returns the worker of each running task of a connector.
func taskWorkers(ctx context.Context, c *rest.Client, name string) ([]string, error) {
	st, err := c.Status(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range st.Tasks {
		if t.State != connect.Running {
			return nil, fmt.Errorf("task %d is %s", t.ID, t.State)
		}
		out = append(out, t.WorkerID)
	}
	return out, nil
}

// Issue 10's distributed test, in process: three workers share a
// connector's six tasks two each; a connector created through any worker
// (a follower forwards to the leader) takes effect; when a worker leaves,
// its tasks move to the others after scheduled.rebalance.max.delay.ms;
// a fourth worker joins and gets tasks.
func TestDistributed_TasksSpreadMoveAndJoin(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() }) // after the workers' cleanups, which need it
	var workers []*runningWorker
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := startWorker(t, n.Addr())
			mu.Lock()
			workers = append(workers, w)
			mu.Unlock()
		}()
	}
	wg.Wait()
	clients := make([]*rest.Client, len(workers))
	for i, w := range workers {
		clients[i] = rest.NewClient(w.url, 30*time.Second)
	}
	// Every worker takes writes: the followers forward them.
	for i, c := range clients {
		var info connect.ConnectorInfo
		err := retry(ctx, func() error {
			var err error
			info, err = c.Create(ctx, map[string]string{"name": fmt.Sprintf("gen-%d", i), "connector.class": "Datagen",
				"quickstart": "users", "kafka.topic": "users", "max.interval": "100", "tasks.max": "6"})
			return err
		})
		if err != nil {
			t.Fatalf("creating through worker %d: %v", i, err)
		}
		if info.Name != fmt.Sprintf("gen-%d", i) {
			t.Fatalf("created %+v", info)
		}
	}
	for i := 1; i < len(clients); i++ {
		if err := clients[0].Delete(ctx, fmt.Sprintf("gen-%d", i)); err != nil {
			t.Fatalf("deleting gen-%d: %v", i, err)
		}
	}
	spread := func(want int) []string {
		t.Helper()
		var owners []string
		err := retry(ctx, func() error {
			var err error
			owners, err = taskWorkers(ctx, clients[0], "gen-0")
			if err != nil {
				return err
			}
			counts := map[string]int{}
			for _, o := range owners {
				counts[o]++
			}
			if len(owners) != 6 || len(counts) != want {
				return fmt.Errorf("tasks on %v", owners)
			}
			for _, c := range counts {
				if c != 6/want {
					return fmt.Errorf("uneven: %v", counts)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("six tasks over %d workers: %v", want, err)
		}
		return owners
	}
	spread(3)
	// KIP-558: the topic the tasks produce to is in the status topic, read
	// by every worker (the reset is checked at the end).
	topicsAre := func(c *rest.Client, want ...string) error {
		got, err := c.Topics(ctx, "gen-0")
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("topics %v, want %v", got, want)
		}
		return err
	}
	if err := retry(ctx, func() error { return topicsAre(clients[1], "users") }); err != nil {
		t.Fatalf("gen-0's topics: %v", err)
	}
	gone := workers[2]
	gone.stop()
	<-gone.done
	left := time.Now()
	owners := spread(2)
	t.Logf("tasks moved %v after the worker left (delay 2 s)", time.Since(left).Round(100*time.Millisecond))
	if slices.Contains(owners, gone.url[len("http://"):]) {
		t.Fatalf("a task still runs on the departed worker: %v", owners)
	}
	fourth := startWorker(t, n.Addr())
	err = retry(ctx, func() error {
		owners, err := taskWorkers(ctx, clients[0], "gen-0")
		if err != nil {
			return err
		}
		if !slices.Contains(owners, fourth.url[len("http://"):]) {
			return fmt.Errorf("tasks on %v", owners)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the fourth worker got no task: %v", err)
	}
	// A reset through a follower, while the connector is stopped, leaves
	// no topic; resumed, its tasks report the topic again.
	if err := clients[1].Stop(ctx, "gen-0"); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error {
		st, err := clients[0].Status(ctx, "gen-0")
		if err == nil && (st.Connector.State != connect.Stopped || len(st.Tasks) != 0) {
			err = fmt.Errorf("status %+v", st)
		}
		return err
	}); err != nil {
		t.Fatalf("stopping gen-0: %v", err)
	}
	if err := clients[1].ResetTopics(ctx, "gen-0"); err != nil {
		t.Fatal(err)
	}
	if err := topicsAre(clients[0]); err != nil {
		t.Fatalf("gen-0's topics after a reset: %v", err)
	}
	if err := clients[0].Resume(ctx, "gen-0"); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return topicsAre(clients[0], "users") }); err != nil {
		t.Fatalf("gen-0's topics once resumed: %v", err)
	}
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for ctx.Err() == nil {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("FJORD_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
