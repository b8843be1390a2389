package cli

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// ownTopics keeps the listed topics this test created.
func (e *testEnv) ownTopics(all []topicListJSON) []topicListJSON {
	var out []topicListJSON
	for _, tl := range all {
		if strings.HasPrefix(tl.Name, e.prefix) {
			out = append(out, tl)
		}
	}
	return out
}

func TestTopic_Lifecycle(t *testing.T) {
	e := newEnv(t, 1)
	orders, events := e.name("orders"), e.name("events")

	r := e.ok("", "topic", "create", orders, "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=1000", "--config", "cleanup.policy=compact")
	mustContain(t, "create", r.stdout, fmt.Sprintf(`Created topic %q: 3 partition(s), replication factor 1, id `, orders), "retention.ms=1000")

	var created topicCreateJSON
	decode(t, e.ok("", "topic", "create", "--topic", events, "-p", "2", "-r", "1", "-o", "json").stdout, &created)
	if !created.Created || created.Name != events || created.Partitions != 2 || created.ID == "" {
		t.Errorf("create --topic JSON = %+v: want created %s with 2 partitions and an ID", created, events)
	}

	r = e.ok("", "topic", "list")
	mustContain(t, "list", r.stdout, "NAME", "PARTITIONS", orders, events)
	var listed []topicListJSON
	decode(t, e.ok("", "topic", "list", "-o", "json").stdout, &listed)
	listed = e.ownTopics(listed)
	if len(listed) != 2 || listed[0].Name != events || listed[1].Name != orders || listed[1].Partitions != 3 || listed[1].ReplicationFactor != 1 {
		t.Errorf("list JSON = %+v: want events then orders (3 partitions, RF 1)", listed)
	}

	r = e.ok("", "topic", "describe", orders)
	mustContain(t, "describe", r.stdout, "Topic: "+orders, "Partitions:         3", "cleanup.policy=compact,retention.ms=1000", "PARTITION  LEADER")
	var described []topicDescribeJSON
	decode(t, e.ok("", "topic", "describe", orders, "-o", "json").stdout, &described)
	if len(described) != 1 {
		t.Fatalf("describe JSON has %d topics, want 1", len(described))
	}
	d := described[0]
	if d.ID == "" || len(d.Partitions) != 3 || d.Configs["retention.ms"] != "1000" || d.ReplicationFactor != 1 {
		t.Errorf("describe JSON = %+v", d)
	}
	for i, p := range d.Partitions {
		if p.Partition != int32(i) || p.Leader < 0 || !slices.Equal(p.Replicas, []int32{p.Leader}) || !slices.Equal(p.ISR, p.Replicas) || p.Error != "" {
			t.Errorf("partition %d = %+v: want a leader that is the one replica, in the ISR", i, p)
		}
	}

	r = e.ok("", "topic", "alter-config", orders, "--set", "retention.ms=5000", "--delete", "cleanup.policy")
	mustContain(t, "alter-config", r.stdout, fmt.Sprintf(`Altered configs of topic %q`, orders), "set retention.ms=5000", "deleted cleanup.policy")
	var altered []topicDescribeJSON
	decode(t, e.ok("", "topic", "describe", orders, "-o", "json").stdout, &altered)
	if c := altered[0].Configs; c["retention.ms"] != "5000" || c["cleanup.policy"] != "" {
		t.Errorf("configs after alter = %v: want retention.ms=5000 and no cleanup.policy", c)
	}

	e.ok("", "topic", "add-partitions", orders, "--partitions", "5")
	var grown []topicDescribeJSON
	decode(t, e.ok("", "topic", "describe", orders, "-o", "json").stdout, &grown)
	if n := len(grown[0].Partitions); n != 5 {
		t.Errorf("after add-partitions: %d partitions, want 5", n)
	}

	r = e.ok("", "topic", "delete", orders, events)
	mustContain(t, "delete", r.stdout, fmt.Sprintf("Deleted topic %q.", orders), fmt.Sprintf("Deleted topic %q.", events))
	var after []topicListJSON
	decode(t, e.ok("", "topic", "list", "-o", "json").stdout, &after)
	if own := e.ownTopics(after); len(own) != 0 {
		t.Errorf("topics left after delete: %+v", own)
	}
}

func TestTopicCreate_IfNotExistsAndValidateOnly(t *testing.T) {
	e := newEnv(t, 2, "existing")
	existing, dry := e.name("existing"), e.name("dry")

	r := e.ok("", "topic", "create", existing, "--if-not-exists")
	mustContain(t, "stdout", r.stdout, fmt.Sprintf("Topic %q already exists.", existing))
	var out topicCreateJSON
	decode(t, e.ok("", "topic", "create", existing, "--if-not-exists", "-o", "json").stdout, &out)
	if out.Created || !out.AlreadyExists {
		t.Errorf("JSON = %+v: want already_exists, not created", out)
	}

	r = e.ok("", "topic", "create", dry, "-p", "4", "-r", "1", "--validate-only")
	mustContain(t, "stdout", r.stdout, fmt.Sprintf("Topic %q would be created: 4 partition(s)", dry))
	if r = e.ok("", "topic", "list"); strings.Contains(r.stdout, dry) {
		t.Errorf("validate-only created the topic:\n%s", r.stdout)
	}
}

func TestTopic_KafkaErrors(t *testing.T) {
	e := newEnv(t, 2, "existing")
	existing, missing := e.name("existing"), e.name("missing")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"already exists", []string{"topic", "create", existing},
			[]string{"TOPIC_ALREADY_EXISTS", "Hint: pass --if-not-exists"}},
		{"replication factor", []string{"topic", "create", e.name("big"), "-r", "1000"},
			[]string{"INVALID_REPLICATION_FACTOR", "Hint: this cluster has ", "broker(s); use --replication-factor "}},
		{"zero partitions", []string{"topic", "create", e.name("none"), "-p", "0"},
			[]string{"INVALID_PARTITIONS"}},
		{"describe missing", []string{"topic", "describe", existing, missing},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION", fmt.Sprintf("%q", missing), "fjord topic list"}},
		{"delete missing", []string{"topic", "delete", missing},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION"}},
		{"alter missing", []string{"topic", "alter-config", missing, "--set", "retention.ms=1"},
			[]string{"UNKNOWN_TOPIC_OR_PARTITION"}},
		{"shrink partitions", []string{"topic", "add-partitions", existing, "-p", "1"},
			[]string{"INVALID_PARTITIONS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run("", tt.args...)
			if r.code != ExitError {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, ExitError, r.stdout, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, append([]string{"Error: "}, tt.want...)...)
		})
	}

	// --output json turns the error into one JSON object naming the code.
	r := e.run("", "topic", "create", existing, "-o", "json")
	var ej errorJSON
	decode(t, r.stderr, &ej)
	if r.code != ExitError || ej.Error != "TOPIC_ALREADY_EXISTS" || ej.Code != 36 || ej.Hint == "" {
		t.Errorf("exit %d, JSON error %+v: want TOPIC_ALREADY_EXISTS (36) with a hint", r.code, ej)
	}
	// describe still prints the topics it found, marking the missing one.
	var described []topicDescribeJSON
	r = e.run("", "topic", "describe", existing, missing, "-o", "json")
	decode(t, r.stdout, &described)
	if len(described) != 2 || described[0].Error != "" || described[1].Error != "UNKNOWN_TOPIC_OR_PARTITION" {
		t.Errorf("describe JSON = %+v: want existing fine, missing UNKNOWN_TOPIC_OR_PARTITION", described)
	}
	if r = e.run("", "topic", "delete", missing, "--if-exists"); r.code != ExitOK {
		t.Errorf("delete --if-exists missing: exit %d: %s", r.code, r.stderr)
	}
}
