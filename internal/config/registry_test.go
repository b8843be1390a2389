package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the registry")

func TestRegistry_Consistent(t *testing.T) {
	reg := Registry()
	seen := map[string]bool{}
	for _, k := range reg.Keys() {
		if seen[k.Name] {
			t.Errorf("%s defined twice", k.Name)
		}
		seen[k.Name] = true
		if k.Doc == "" || k.Type == TypeUnknown || k.Scope == 0 {
			t.Errorf("%s: missing doc, type or scope", k.Name)
		}
		if k.Default != "" {
			if _, err := k.Parse(k.Default); err != nil {
				t.Errorf("%s: default does not validate: %v", k.Name, err)
			}
		}
		if k.IsTopic() && !k.Dynamic {
			t.Errorf("%s: topic keys are dynamic", k.Name)
		}
		if k.TopicKey != "" {
			tk, ok := reg.Lookup(k.TopicKey)
			if !ok || !tk.IsTopic() || tk.Type == TypeUnknown {
				t.Errorf("%s feeds %s, which is not a topic key", k.Name, k.TopicKey)
			}
		}
	}
	for _, tk := range reg.TopicKeys() {
		if len(reg.BrokerSynonyms(tk.Name)) == 0 && !strings.HasSuffix(tk.Name, ".replication.throttled.replicas") {
			t.Errorf("topic key %s has no broker key supplying its default", tk.Name)
		}
	}
}

// The registry's topic defaults (shown in the docs and used as the base of
// APPEND) must be what the broker derives from its own defaults.
func TestRegistry_TopicDefaultsMatchBrokerDefaults(t *testing.T) {
	b := mustLoad(t, nil)
	for _, tk := range Registry().TopicKeys() {
		if got := b.topicDefaults[tk.Name]; got != tk.Default {
			t.Errorf("%s: registry default %q, derived from broker defaults %q", tk.Name, tk.Default, got)
		}
	}
}

func TestRegistry_RequiredKeys(t *testing.T) {
	reg := Registry()
	broker := []string{"node.id", "process.roles", "controller.quorum.voters", "controller.listener.names", "listeners",
		"advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name", "log.dirs", "log.dir",
		"num.partitions", "default.replication.factor", "auto.create.topics.enable", "delete.topic.enable",
		"log.segment.bytes", "log.roll.ms", "log.roll.hours", "log.retention.ms", "log.retention.minutes",
		"log.retention.hours", "log.retention.bytes", "log.retention.check.interval.ms", "message.max.bytes",
		"log.flush.interval.messages", "log.flush.interval.ms", "log.flush.scheduler.interval.ms",
		"log.message.timestamp.type", "socket.request.max.bytes", "socket.send.buffer.bytes",
		"socket.receive.buffer.bytes", "num.network.threads", "num.io.threads", "queued.max.requests",
		"connections.max.idle.ms", "offsets.topic.num.partitions", "offsets.topic.replication.factor",
		"group.initial.rebalance.delay.ms", "transaction.state.log.replication.factor",
		"transaction.state.log.min.isr", "cluster.id", "log.cleanup.policy", "log.index.interval.bytes",
		"log.index.size.max.bytes", "min.insync.replicas", "compression.type", "log.cleaner.delete.retention.ms",
		"log.cleaner.min.cleanable.ratio", "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms",
		"log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms", "unclean.leader.election.enable"}
	topic := []string{"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
		"flush.messages", "flush.ms", "index.interval.bytes", "max.message.bytes", "message.timestamp.type",
		"message.timestamp.before.max.ms", "message.timestamp.after.max.ms", "min.cleanable.dirty.ratio",
		"min.compaction.lag.ms", "max.compaction.lag.ms", "min.insync.replicas", "preallocate", "retention.bytes",
		"retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
		"unclean.leader.election.enable"}
	for _, n := range broker {
		if k, ok := reg.Lookup(n); !ok || !k.IsBroker() {
			t.Errorf("missing broker key %s", n)
		}
	}
	for _, n := range topic {
		if k, ok := reg.Lookup(n); !ok || !k.IsTopic() {
			t.Errorf("missing topic key %s", n)
		}
	}
	feeds := map[string]string{"log.segment.bytes": "segment.bytes", "log.retention.ms": "retention.ms",
		"message.max.bytes": "max.message.bytes", "log.flush.interval.messages": "flush.messages",
		"log.flush.interval.ms": "flush.ms", "log.message.timestamp.type": "message.timestamp.type",
		"log.cleanup.policy": "cleanup.policy", "log.roll.ms": "segment.ms", "log.roll.hours": "segment.ms",
		"log.retention.bytes": "retention.bytes", "log.index.interval.bytes": "index.interval.bytes",
		"log.index.size.max.bytes": "segment.index.bytes", "min.insync.replicas": "min.insync.replicas",
		"compression.type": "compression.type", "log.cleaner.delete.retention.ms": "delete.retention.ms",
		"log.cleaner.min.cleanable.ratio":     "min.cleanable.dirty.ratio",
		"log.cleaner.min.compaction.lag.ms":   "min.compaction.lag.ms",
		"log.cleaner.max.compaction.lag.ms":   "max.compaction.lag.ms",
		"log.message.timestamp.before.max.ms": "message.timestamp.before.max.ms",
		"log.message.timestamp.after.max.ms":  "message.timestamp.after.max.ms",
		"unclean.leader.election.enable":      "unclean.leader.election.enable"}
	for b, tk := range feeds {
		if k, _ := reg.Lookup(b); k.TopicKey != tk {
			t.Errorf("%s.TopicKey = %q, want %q", b, k.TopicKey, tk)
		}
	}
	if k, _ := reg.Lookup("log.flush.interval.messages"); k.Default != "1" || !strings.Contains(k.Doc, "9223372036854775807") {
		t.Errorf("log.flush.interval.messages: default %q doc %q", k.Default, k.Doc)
	}
}

func TestRegistry_ReadOnly(t *testing.T) {
	reg := Registry()
	keys := reg.Keys()
	keys[0].Name = "changed"
	if k, ok := reg.Lookup("node.id"); !ok || k.Name != "node.id" || reg.Keys()[0].Name == "changed" {
		t.Error("modifying Keys() changed the registry")
	}
}

func TestDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	got := GenerateDocs()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s)", err, DocsCommand)
	}
	if got != string(want) {
		t.Errorf("docs/config.md is stale; run %s", DocsCommand)
	}
	for _, k := range Registry().Keys() {
		if !strings.Contains(got, "| `"+k.Name+"` |") {
			t.Errorf("docs miss %s", k.Name)
		}
	}
}
