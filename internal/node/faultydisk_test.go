package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/vfs"
)

// A disk that starts failing the writes or fsyncs of one partition's
// files (EIO, injected under a running node): the write is refused with
// KAFKA_STORAGE_ERROR and never acknowledged, the node takes its log
// directory offline (every partition then answers KAFKA_STORAGE_ERROR, the
// healthy one too, as Kafka's handleLogDirFailure does), reports the
// failure through Failed and Err within seconds, says so once and not
// "partition maintenance failed" every second, and after a power cut and
// a restart on a healthy disk every record acknowledged before is there.
func TestFaultyDisk_FailingDiskTakesTheNodeDown(t *testing.T) {
	for _, kind := range []vfs.OpKind{vfs.OpSync, vfs.OpWrite} {
		t.Run(kind.String(), func(t *testing.T) { testFailingDisk(t, kind) })
	}
}

func testFailingDisk(t *testing.T, kind vfs.OpKind) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mem := vfs.NewMem()
	var broken atomic.Bool
	fsys := vfs.Inject(mem, func(op vfs.Op) error {
		if broken.Load() && op.Kind == kind && strings.Contains(op.Path, "/bad-0") {
			return vfs.ErrInjected
		}
		return nil
	})
	props := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dataDir, "http.listeners": ""}
	logs := &lockedBuffer{}
	b, _, err := config.LoadBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Broker: b, Props: props, FS: fsys,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = n.Abort() }()
	client := func(n *node.Node, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Addr())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := client(n, kgo.RecordRetries(1), kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	for _, topic := range []string{"bad", "good"} {
		if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, resp.Err)
		}
	}
	produce := func(topic string, i int) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", topic, i)}).FirstErr()
	}
	acked := map[string]int{}
	for i := range 10 {
		for _, topic := range []string{"bad", "good"} {
			if err := produce(topic, i); err != nil {
				t.Fatalf("healthy disk: produce to %s: %v", topic, err)
			}
			acked[topic]++
		}
	}
	if n.Err() != nil {
		t.Fatalf("healthy node: Err = %v", n.Err())
	}
	broken.Store(true)
	for i := 10; i < 13; i++ {
		for _, topic := range []string{"bad", "good"} {
			err := produce(topic, i)
			if err == nil {
				t.Fatalf("record %s-%d acknowledged after the disk failed", topic, i)
			}
			if !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("produce to %s on a failed disk: %v, want KAFKA_STORAGE_ERROR", topic, err)
			}
		}
	}
	select {
	case <-n.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("the node did not report its failed log directory")
	}
	if err := n.Err(); !errors.Is(err, node.ErrLogDirFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Err = %v, want ErrLogDirFailed wrapping the I/O error", err)
	}
	time.Sleep(2500 * time.Millisecond) // two maintenance rounds
	out := logs.String()
	if c := strings.Count(out, "partition maintenance failed"); c > 0 {
		t.Errorf("%q logged %d times after the failure:\n%s", "partition maintenance failed", c, out)
	}
	if c := strings.Count(out, "log directory failed"); c != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", c, out)
	}
	crashed := mem.CrashClone(vfs.CrashOptions{})
	_ = n.Abort()
	n2, err := startNode(ctx, props, crashed)
	if err != nil {
		t.Fatalf("restart on a healthy disk: %v", err)
	}
	defer func() { _ = n2.Close() }()
	for topic, want := range acked {
		cons := client(n2, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]bool{}
		for len(seen) < want && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		for i := range want {
			if v := fmt.Sprintf("%s-%d", topic, i); !seen[v] {
				t.Errorf("acknowledged record %s lost", v)
			}
		}
	}
}

// lockedBuffer collects a node's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
