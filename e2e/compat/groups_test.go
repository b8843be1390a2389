package compat

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// completeLines returns the complete lines written to b so far.
func completeLines(b *lockedBuffer) []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// produceValues writes n records with values prefix0..prefix(n-1), record
// i to partition i % partitions.
func produceValues(t *testing.T, addr, topic, prefix string, n int, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
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

// kcatMember is one `kcat -G` balanced consumer printing "partition value"
// lines.
type kcatMember struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

// startKcatMember starts a kcat group consumer with a 6 s session (the
// smallest Fjord allows by default, as Kafka) and commits every 200 ms.
func startKcatMember(t *testing.T, c context.Context, kcat, addr, grp, topic string) *kcatMember {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.CommandContext(c, kcat, "-b", addr, "-G", grp, "-u", "-q",
		"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
		"-X", "auto.commit.interval.ms=200", "-f", "%p %s\n", topic)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &kcatMember{cmd: cmd, out: out}
	t.Cleanup(func() { m.stop() })
	return m
}

// stop asks kcat to leave (SIGTERM: it commits and leaves the group) and
// waits for it. Idempotent.
func (m *kcatMember) stop() {
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		_ = m.cmd.Wait()
	}
}

// kill is SIGKILL: no leave, no last commit.
func (m *kcatMember) kill() {
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

// waitKcatGroup waits until grp is Stable with n members that all hold
// partitions, covering all of the topic's partitions.
func waitKcatGroup(t *testing.T, c context.Context, addr, grp string, n, partitions int, outs ...*kcatMember) {
	t.Helper()
	adm := admin(t, addr)
	for {
		if c.Err() != nil {
			var logs []string
			for _, m := range outs {
				logs = append(logs, m.out.String())
			}
			t.Fatalf("no stable group of %d members; kcat output:\n%s", n, strings.Join(logs, "\n"))
		}
		dg, err := adm.DescribeGroups(c, grp)
		if err == nil && dg[grp].State == "Stable" && len(dg[grp].Members) == n {
			assigned, held := 0, 0
			for _, m := range dg[grp].Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					assigned++
					for _, tp := range ca.Topics {
						held += len(tp.Partitions)
					}
				}
			}
			if assigned == n && held == partitions {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
}

// printed counts the values with prefix printed across members, and which
// members printed any.
func printed(prefix string, ms ...*kcatMember) (map[string]int, int) {
	seen, members := map[string]int{}, 0
	for _, m := range ms {
		any := false
		for _, l := range completeLines(m.out) {
			if _, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(v, prefix) {
				seen[v]++
				any = true
			}
		}
		if any {
			members++
		}
	}
	return seen, members
}

// waitPrinted waits until every value prefix0..prefix(total-1) was printed
// by ms, then requires each exactly once and returns how many members
// printed them.
func waitPrinted(t *testing.T, c context.Context, prefix string, total int, ms ...*kcatMember) int {
	t.Helper()
	seen, members := printed(prefix, ms...)
	for len(seen) < total && c.Err() == nil {
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
		seen, members = printed(prefix, ms...)
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %q printed %d times", v, n)
		}
	}
	if len(seen) != total {
		var logs []string
		for _, m := range ms {
			logs = append(logs, m.out.String())
		}
		t.Fatalf("%d distinct %s records printed, want %d; output:\n%s", len(seen), prefix, total, strings.Join(logs, "\n"))
	}
	return members
}

// TestKcat_GroupConsumers runs three `kcat -G` balanced consumers of one
// group on a 6-partition topic (librdkafka's JoinGroup/SyncGroup/Heartbeat
// against Fjord's coordinator): every record is printed exactly once across
// them. One is then killed with SIGKILL: after its session timeout the
// coordinator removes it and its partitions move to the two others, which
// print every later record once. The survivors leave with their commits,
// the broker restarts, and a new kcat member resumes from the commits:
// it prints only records produced after them.
func TestKcat_GroupConsumers(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	b := startBroker(t)
	const topic, grp, total = "kcat-group", "kcat-group-g", 600
	createTopic(t, b.Addr(), topic, 6)

	c, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var ms []*kcatMember
	for range 3 {
		ms = append(ms, startKcatMember(t, c, kcat, b.Addr(), grp, topic))
	}
	// A stable group of three members that all hold partitions, so no
	// rebalance runs while records arrive.
	waitKcatGroup(t, c, b.Addr(), grp, 3, 6, ms...)
	produceValues(t, b.Addr(), topic, "r", total, 6)
	if n := waitPrinted(t, c, "r", total, ms...); n != 3 {
		t.Fatalf("records printed by %d members, want 3", n)
	}

	victim := ms[2]
	time.Sleep(500 * time.Millisecond) // let an auto-commit pass, so the victim's records are not all re-read
	victim.kill()
	survivors := ms[:2]
	waitKcatGroup(t, c, b.Addr(), grp, 2, 6, survivors...)
	produceValues(t, b.Addr(), topic, "s", total, 6)
	waitPrinted(t, c, "s", total, survivors...)
	covered := map[string]bool{}
	for _, m := range survivors {
		for _, l := range completeLines(m.out) {
			if p, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(v, "s") {
				covered[p] = true
			}
		}
	}
	if len(covered) != 6 {
		t.Fatalf("after the kill the survivors printed from partitions %v, want all 6", covered)
	}

	for _, m := range survivors {
		m.stop() // commits and leaves
	}
	adm := admin(t, b.Addr())
	checkCommittedAtEnd(t, adm, grp, topic)
	b.Restart(t)
	checkCommittedAtEnd(t, admin(t, b.Addr()), grp, topic)
	fresh := startKcatMember(t, c, kcat, b.Addr(), grp, topic)
	waitKcatGroup(t, c, b.Addr(), grp, 1, 6, fresh)
	produceValues(t, b.Addr(), topic, "t", 60, 6)
	waitPrinted(t, c, "t", 60, fresh)
	if old, _ := printed("r", fresh); len(old) > 0 {
		t.Fatalf("after the restart the new member re-read %d committed records", len(old))
	}
	if old, _ := printed("s", fresh); len(old) > 0 {
		t.Fatalf("after the restart the new member re-read %d committed records", len(old))
	}
}

// TestCLI_ConsumeGroup runs `fjord consume --group` against a Fjord
// process twice: the first run commits what it printed, the second resumes
// after it.
func TestCLI_ConsumeGroup(t *testing.T) {
	b := startBroker(t)
	const topic = "cli-group"
	createTopic(t, b.Addr(), topic, 1)
	produceValues(t, b.Addr(), topic, "v", 20, 1)

	var want1, want2 []string
	for i := range 10 {
		want1 = append(want1, fmt.Sprintf("v%d", i))
		want2 = append(want2, fmt.Sprintf("v%d", i+10))
	}
	for _, want := range [][]string{want1, want2} {
		res := fjordCLI(t, b.Addr(), "consume", topic, "--group", "cli-g", "--from-beginning", "-n", "10")
		if res.code != 0 {
			t.Fatalf("fjord consume --group: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		if got := strings.Fields(res.stdout); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("fjord consume --group printed %q, want %q\nstderr:\n%s", got, want, res.stderr)
		}
	}
	offs, err := admin(t, b.Addr()).FetchOffsets(ctx(t), "cli-g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 20 {
		t.Fatalf("committed offset %+v (found %v), want 20", o, ok)
	}
}
