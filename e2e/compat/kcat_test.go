package compat

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// TestKcat_Metadata checks that librdkafka sees the one broker at its
// bootstrap address and a topic's partitions, each led by that broker.
func TestKcat_Metadata(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	b := startBroker(t)
	const topic = "kcat-metadata"
	createTopic(t, b.Addr(), topic, 3)

	out := mustRun(t, "", kcat, "-b", b.Addr(), "-L", "-m", "30").stdout

	if !strings.Contains(out, " 1 brokers:") {
		t.Errorf("kcat -L does not list exactly one broker:\n%s", out)
	}
	m := regexp.MustCompile(`broker (-?\d+) at ` + regexp.QuoteMeta(b.Addr())).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("kcat -L does not show a broker at %s:\n%s", b.Addr(), out)
	}
	id := m[1]
	if !strings.Contains(out, fmt.Sprintf("topic %q with 3 partitions:", topic)) {
		t.Errorf("kcat -L does not show %s with 3 partitions:\n%s", topic, out)
	}
	for p := range 3 {
		want := fmt.Sprintf("partition %d, leader %s, replicas: %s, isrs: %s", p, id, id, id)
		if !strings.Contains(out, want) {
			t.Errorf("kcat -L lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(strings.ToLower(out), "err") {
		t.Errorf("kcat -L reports an error:\n%s", out)
	}
}

// TestKcat_KeyedProduceConsume produces key:value lines with -K: and reads
// them back with a key=value format: same lines, same order.
func TestKcat_KeyedProduceConsume(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	b := startBroker(t)
	const topic = "kcat-keyed"
	createTopic(t, b.Addr(), topic, 1) // one partition: one total order

	in := []string{"k1:hello world", "k2:second", "k3:value:with:colons", "k1:same key again", "k4:ünïcødé ✓"}
	var want []string
	for i := 0; i < 200; i++ { // enough lines for librdkafka to batch
		in = append(in, fmt.Sprintf("key-%03d:value %d %s", i, i, strings.Repeat("x", i)))
	}
	for _, l := range in {
		k, v, _ := strings.Cut(l, ":")
		want = append(want, k+"="+v)
	}

	mustRun(t, strings.Join(in, "\n")+"\n", kcat, "-b", b.Addr(), "-P", "-t", topic, "-K:")
	out := mustRun(t, "", kcat, "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%k=%s\n`).stdout

	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("consumed %d lines, produced %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}
