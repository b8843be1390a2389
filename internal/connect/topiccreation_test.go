package connect

import (
	"strings"
	"testing"
)

func TestParseTopicCreation(t *testing.T) {
	if tc, err := ParseTopicCreation(map[string]string{"topic": "x"}); tc != nil || err != nil {
		t.Fatalf("without topic.creation keys: %+v %v", tc, err)
	}
	tc, err := ParseTopicCreation(map[string]string{
		"topic.creation.default.replication.factor": "-1", "topic.creation.default.partitions": "3",
		"topic.creation.default.compression.type": "zstd",
		"topic.creation.groups":                   "compacted, logs, default, compacted",
		"topic.creation.compacted.include":        "db\\..*, users", "topic.creation.compacted.exclude": "db\\.tmp.*",
		"topic.creation.compacted.cleanup.policy": "compact", "topic.creation.compacted.partitions": "1",
		"topic.creation.logs.include": "logs.*", "topic.creation.logs.replication.factor": "2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Groups) != 2 {
		t.Fatalf("groups %+v", tc.Groups)
	}
	for topic, want := range map[string]struct {
		group    string
		parts    int32
		rf       int16
		policy   string
		compress string
	}{
		"db.orders":   {"compacted", 1, -1, "compact", ""},
		"users":       {"compacted", 1, -1, "compact", ""},
		"users2":      {"default", 3, -1, "", "zstd"}, // include matches whole names only
		"db.tmp1":     {"default", 3, -1, "", "zstd"}, // excluded from compacted
		"logs-app":    {"logs", 3, 2, "", ""},
		"xdb.orders":  {"default", 3, -1, "", "zstd"},
		"anything.db": {"default", 3, -1, "", "zstd"},
	} {
		g := tc.For(topic)
		str := func(k string) string {
			if v := g.Configs[k]; v != nil {
				return *v
			}
			return ""
		}
		if g.Name != want.group || g.Partitions != want.parts || g.ReplicationFactor != want.rf || str("cleanup.policy") != want.policy || str("compression.type") != want.compress {
			t.Errorf("%s: %s %d %d %v, want %+v", topic, g.Name, g.Partitions, g.ReplicationFactor, g.Configs, want)
		}
	}
	for _, c := range []struct {
		config map[string]string
		want   string
	}{
		{map[string]string{"topic.creation.default.replication.factor": "1"}, `"topic.creation.default.partitions" which has no default value`},
		{map[string]string{"topic.creation.groups": "a"}, "Missing required configuration"},
		{map[string]string{"topic.creation.default.cleanup.policy": "compact"}, "Missing required configuration"},
		{map[string]string{"topic.creation.default.replication.factor": "0", "topic.creation.default.partitions": "1"}, "Number of replicas must be at least 1 or -1"},
		{map[string]string{"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "x"}, "Number of partitions"},
		{map[string]string{"topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "1",
			"topic.creation.groups": "a", "topic.creation.a.include": "("}, "topic.creation.a.include"},
	} {
		if _, err := ParseTopicCreation(c.config); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.config, err, c.want)
		}
	}
}
