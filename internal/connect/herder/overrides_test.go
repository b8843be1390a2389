package herder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// A connector's consumer.override.* keys (KIP-458) reach its consumer:
// a sink told auto.offset.reset=latest never sees the records that were
// in its topic before it started, one without the override does; a value
// the client cannot take fails the task; a worker whose policy is None
// refuses any override.
func TestStandalone_ConnectorClientOverrides(t *testing.T) {
	h, addr := startHerder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("ov"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce("old", 5)
	dir := t.TempDir()
	latest, earliest := filepath.Join(dir, "latest.txt"), filepath.Join(dir, "earliest.txt")
	for name, cfg := range map[string]map[string]string{
		"latest":   {"connector.class": "FileStreamSink", "file": latest, "topics": "ov", "consumer.override.auto.offset.reset": "latest"},
		"earliest": {"connector.class": "FileStreamSink", "file": earliest, "topics": "ov"},
	} {
		if _, _, err := h.PutConnectorConfig(ctx, name, cfg, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Records keep coming until the latest sink has written some: it may
	// take a while to be assigned its partition.
	for i := 0; len(lines(t, latest)) == 0; i++ {
		if ctx.Err() != nil {
			t.Fatal("the sink with auto.offset.reset=latest wrote nothing")
		}
		produce(fmt.Sprintf("new%d", i), 1)
		time.Sleep(100 * time.Millisecond)
	}
	if got := lines(t, latest); slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "old-") }) {
		t.Fatalf("auto.offset.reset=latest: the sink read the records from before it started: %v", got)
	}
	waitFor(t, ctx, "the sink without the override to read from the start", func() bool {
		got := lines(t, earliest)
		return len(got) > 0 && got[0] == "old-0"
	})

	// A value the consumer cannot take fails the task with the key named.
	if _, _, err := h.PutConnectorConfig(ctx, "sideways", map[string]string{"connector.class": "FileStreamSink",
		"file": filepath.Join(dir, "x.txt"), "topics": "ov", "consumer.override.auto.offset.reset": "sideways"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the task with a bad override to fail", func() bool {
		st, _ := h.ConnectorStatus(ctx, "sideways")
		return len(st.Tasks) == 1 && st.Tasks[0].State == connect.Failed && strings.Contains(st.Tasks[0].Trace, "consumer.override.auto.offset.reset")
	})

	// Policy None: the connector is refused with Kafka's message.
	h.cfg.OverridePolicy = connect.OverrideNone
	_, _, err = h.PutConnectorConfig(ctx, "refused", map[string]string{"connector.class": "FileStreamSink",
		"file": filepath.Join(dir, "y.txt"), "topics": "ov", "consumer.override.fetch.min.bytes": "1"}, false)
	var bad *connect.BadConfigError
	if !errors.As(err, &bad) || !strings.Contains(fmt.Sprint(bad.Infos), "The 'None' policy does not allow 'fetch.min.bytes' to be overridden in the connector configuration.") {
		t.Fatalf("an override under the None policy: %v", err)
	}
	if _, err := h.ConnectorInfo(ctx, "refused"); !errors.Is(err, connect.ErrNotFound) {
		t.Fatalf("the refused connector exists: %v", err)
	}
}

// The topics a connector's tasks use (KIP-558): a source's as produced
// to, a sink's as consumed; a reset forgets them until they are used
// again; a deleted connector's are gone.
func TestStandalone_ActiveTopics(t *testing.T) {
	h, addr := startHerder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "tracked"}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "dst", map[string]string{"connector.class": "FileStreamSink",
		"file": filepath.Join(dir, "out.txt"), "topics": "tracked"}, false); err != nil {
		t.Fatal(err)
	}
	topicsAre := func(name string, want ...string) func() bool {
		return func() bool {
			got, err := h.ConnectorTopics(ctx, name)
			return err == nil && slices.Equal(got, want)
		}
	}
	waitFor(t, ctx, "the source's topic", topicsAre("src", "tracked"))
	waitFor(t, ctx, "the sink's topic", topicsAre("dst", "tracked"))
	// Both lines consumed first: a record consumed after the reset would
	// report the topic again.
	waitFor(t, ctx, "the sink's copy", func() bool { return len(lines(t, filepath.Join(dir, "out.txt"))) == 2 })
	if err := h.ResetConnectorTopics(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.ConnectorTopics(ctx, "dst"); len(got) != 0 {
		t.Fatalf("after a reset: %v", got)
	}
	if got, _ := h.ConnectorTopics(ctx, "src"); !slices.Equal(got, []string{"tracked"}) {
		t.Fatalf("another connector's reset changed the source's topics: %v", got)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("tracked"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("three")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the sink's topic again once used after the reset", topicsAre("dst", "tracked"))
	if err := h.DeleteConnector(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ConnectorTopics(ctx, "dst"); !errors.Is(err, connect.ErrNotFound) {
		t.Fatalf("a deleted connector's topics: %v", err)
	}
}

// A source connector's topic.creation.* keys (KIP-158) create its topics
// before their first record: each topic by the first group that takes it,
// the rest by the default group. A connector missing the default group's
// partitions is refused.
func TestStandalone_TopicCreation(t *testing.T) {
	h, addr := startHerder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	creation := map[string]string{"connector.class": "FileStreamSource", "file": in,
		"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "3",
		"topic.creation.groups": "compacted", "topic.creation.compacted.include": "state.*",
		"topic.creation.compacted.partitions": "2", "topic.creation.compacted.cleanup.policy": "compact"}
	for name, topic := range map[string]string{"plain": "events", "state": "state-users"} {
		cfg := maps.Clone(creation)
		cfg["topic"] = topic
		if _, _, err := h.PutConnectorConfig(ctx, name, cfg, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, want := range map[string]struct {
		partitions int
		policy     string
	}{"events": {3, "delete"}, "state-users": {2, "compact"}} {
		waitFor(t, ctx, "topic "+topic, func() bool {
			d, err := adm.ListTopics(ctx, topic)
			return err == nil && d.Has(topic) && len(d[topic].Partitions) > 0
		})
		d, _ := adm.ListTopics(ctx, topic)
		rc, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rc.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, kv := range c.Configs {
			if kv.Key == "cleanup.policy" {
				policy = kv.MaybeValue()
			}
		}
		if got := len(d[topic].Partitions); got != want.partitions || policy != want.policy {
			t.Errorf("%s: %d partitions, cleanup.policy %q; want %+v", topic, got, policy, want)
		}
	}
	bad := maps.Clone(creation)
	delete(bad, "topic.creation.default.partitions")
	bad["topic"] = "x"
	var badCfg *connect.BadConfigError
	if _, _, err := h.PutConnectorConfig(ctx, "bad", bad, false); !errors.As(err, &badCfg) || !strings.Contains(fmt.Sprint(badCfg.Infos), "topic.creation.default.partitions") {
		t.Fatalf("missing default partitions: %v", err)
	}
}
