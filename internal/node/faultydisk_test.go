package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/node"
	"github.com/fjordstream/fjord/internal/vfs"
)

// A disk that starts failing the fsyncs of one partition's files (EIO,
// injected under a running node): writes to that partition are refused
// with KAFKA_STORAGE_ERROR and never acknowledged, the node keeps serving
// its other partitions, and after a power cut and a restart on a healthy
// disk every record acknowledged before is there.
func TestFaultyDisk_FailingFsyncIsNeverAcknowledged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mem := vfs.NewMem()
	var broken atomic.Bool
	fsys := vfs.Inject(mem, func(op vfs.Op) error {
		if broken.Load() && op.Kind == vfs.OpSync && strings.Contains(op.Path, "/bad-0") {
			return vfs.ErrInjected
		}
		return nil
	})
	props := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dataDir}
	n, err := startNode(ctx, props, fsys)
	if err != nil {
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
	broken.Store(true)
	for i := 10; i < 13; i++ {
		err := produce("bad", i)
		if err == nil {
			t.Fatalf("record %d acknowledged although its fsync failed", i)
		}
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a failing disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
		if err := produce("good", i); err != nil {
			t.Fatalf("produce to a healthy partition beside the failing one: %v", err)
		}
		acked["good"]++
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
