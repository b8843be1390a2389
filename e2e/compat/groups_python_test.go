package compat

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// groupConsumerScript is the seed's KafkaConsumer with a group_id; see its
// usage line.
const groupConsumerScript = "testdata/group_consumer.py"

// runGroupConsumer runs the group consumer script to completion: it prints
// up to limit values (stopping earlier after idle with no record), commits
// and closes. It returns the printed values.
func runGroupConsumer(t *testing.T, python, addr, group, topic string, limit int, idle time.Duration) []string {
	t.Helper()
	res := mustRun(t, "", python, "-u", groupConsumerScript, addr, group, topic,
		strconv.Itoa(limit), strconv.Itoa(int(idle.Milliseconds())), "0")
	return strings.Fields(res.stdout)
}

// TestKafkaPython_GroupCommitAndResume consumes with kafka-python's
// KafkaConsumer in a group (join, fetch, commit, close), produces more, and
// runs a new consumer of the same group: it must resume from the committed
// offsets and see only the new records.
func TestKafkaPython_GroupCommitAndResume(t *testing.T) {
	python := fjordtest.RequireTool(t, fjordtest.ToolKafkaPython)
	b := startBroker(t, groupOverrides...)
	const group, parts, n = "py-g", 3, 30
	createTopic(t, b.Addr(), seedTopic, parts)

	produceUncompressed(t, b.Addr(), seedTopic, "old", n, parts)
	got := runGroupConsumer(t, python, b.Addr(), group, seedTopic, n, 20*time.Second)
	if want := values("old", n); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("first consumer printed %q, want %q", got, want)
	}
	checkCommittedAtEnd(t, admin(t, b.Addr()), group, seedTopic)

	produceUncompressed(t, b.Addr(), seedTopic, "new", n, parts)
	// Asks for one record more than there are, so it stops only when idle:
	// any old record it saw would show up here.
	got = runGroupConsumer(t, python, b.Addr(), group, seedTopic, n+1, 5*time.Second)
	if want := values("new", n); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("resumed consumer printed %q, want only the new records %q", got, want)
	}
	checkCommittedAtEnd(t, admin(t, b.Addr()), group, seedTopic)
}

// watchedConsumer is the group consumer script running in the background
// with its assignments printed on stderr.
type watchedConsumer struct {
	stdout, stderr *lineWatcher
}

func startWatchedConsumer(t *testing.T, python, addr, group, topic string) *watchedConsumer {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*cmdTimeout)
	cmd := exec.CommandContext(c, python, "-u", groupConsumerScript, addr, group, topic,
		"1000000", strconv.Itoa(int((2 * cmdTimeout).Milliseconds())), "1")
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wc := &watchedConsumer{stdout: watchLines(outR), stderr: watchLines(errR)}
	t.Cleanup(func() {
		cancel() // kills the consumer
		for _, w := range []*lineWatcher{wc.stdout, wc.stderr} {
			select {
			case <-w.finished:
			case <-time.After(cmdTimeout):
				t.Errorf("consumer output still open %v after kill", cmdTimeout)
			}
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- consumer stdout ---\n%s\n--- consumer stderr ---\n%s", wc.stdout.text(), wc.stderr.text())
		}
	})
	return wc
}

// assignment returns the partitions of the consumer's latest assignment,
// and false if it has none yet.
func (wc *watchedConsumer) assignment() ([]int, bool) {
	wc.stderr.mu.Lock()
	defer wc.stderr.mu.Unlock()
	for i := len(wc.stderr.lines) - 1; i >= 0; i-- {
		rest, ok := strings.CutPrefix(wc.stderr.lines[i], "assigned: ")
		if !ok {
			continue
		}
		var ps []int
		for _, f := range strings.Split(rest, ",") {
			if p, err := strconv.Atoi(f); err == nil {
				ps = append(ps, p)
			}
		}
		return ps, true
	}
	return nil, false
}

// TestKafkaPython_GroupRebalanceTwoConsumers starts two kafka-python
// consumers of one group on a 4-partition topic: the coordinator must
// rebalance so each gets partitions, together all four, none shared, and
// every record produced afterwards must be printed exactly once.
func TestKafkaPython_GroupRebalanceTwoConsumers(t *testing.T) {
	python := fjordtest.RequireTool(t, fjordtest.ToolKafkaPython)
	b := startBroker(t, groupOverrides...)
	const group, parts, n = "py-rebalance", 4, 40
	createTopic(t, b.Addr(), seedTopic, parts)

	cs := []*watchedConsumer{
		startWatchedConsumer(t, python, b.Addr(), group, seedTopic),
		startWatchedConsumer(t, python, b.Addr(), group, seedTopic),
	}
	deadline := time.Now().Add(cmdTimeout)
	for {
		a0, ok0 := cs[0].assignment()
		a1, ok1 := cs[1].assignment()
		all := append(slices.Clone(a0), a1...)
		slices.Sort(all)
		if ok0 && ok1 && len(a0) > 0 && len(a1) > 0 && slices.Equal(all, []int{0, 1, 2, 3}) {
			t.Logf("assignments: %v and %v", a0, a1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no split of the %d partitions between the two consumers; latest assignments %v (%v) and %v (%v)", parts, a0, ok0, a1, ok1)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}

	produceUncompressed(t, b.Addr(), seedTopic, "r", n, parts)
	want := values("r", n)
	printed := func() []string {
		var got []string
		for _, c := range cs {
			c.stdout.mu.Lock()
			got = append(got, c.stdout.lines...)
			c.stdout.mu.Unlock()
		}
		return got
	}
	for !slices.Equal(sorted(printed()), sorted(want)) {
		if time.Now().After(deadline.Add(cmdTimeout)) || len(printed()) > n {
			t.Fatalf("the two consumers printed %q, want each of %q once", sorted(printed()), sorted(want))
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
	for i, c := range cs {
		if len(c.stdout.text()) == 0 {
			t.Errorf("consumer %d printed no record", i)
		}
	}
}

// produceUncompressed is produceValues without compression: the
// kafka-python here has no snappy library, franz-go's default codec.
func produceUncompressed(t *testing.T, addr, topic, prefix string, n int, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%s%d", prefix, i)})
	}
	if err := cl.ProduceSync(ctx(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
