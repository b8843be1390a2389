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

// TestKcat_GroupConsumers runs three `kcat -G` balanced consumers of one
// group on a 6-partition topic: librdkafka's JoinGroup/SyncGroup/Heartbeat
// against Fjord's coordinator must give each member partitions, and every
// record produced afterwards must be printed exactly once across them.
func TestKcat_GroupConsumers(t *testing.T) {
	kcat := fjordtest.RequireTool(t, fjordtest.ToolKcat)
	b := startBroker(t)
	const topic, grp, total = "kcat-group", "kcat-group-g", 600
	createTopic(t, b.Addr(), topic, 6)

	c, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var outs []*lockedBuffer
	var cmds []*exec.Cmd
	for range 3 {
		out := &lockedBuffer{}
		cmd := exec.CommandContext(c, kcat, "-b", b.Addr(), "-G", grp, "-u", "-q",
			"-X", "auto.offset.reset=earliest", "-f", `%p %o\n`, topic)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		outs, cmds = append(outs, out), append(cmds, cmd)
	}
	stop := func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(syscall.SIGTERM) // kcat leaves the group and commits
		}
		for _, cmd := range cmds {
			_ = cmd.Wait()
		}
	}
	defer stop()

	// Wait for a stable group of three members that all have partitions,
	// so no rebalance runs while records arrive.
	adm := admin(t, b.Addr())
	for {
		if c.Err() != nil {
			t.Fatalf("no stable group of 3 members; kcat output:\n%s\n%s\n%s", outs[0], outs[1], outs[2])
		}
		dg, err := adm.DescribeGroups(c, grp)
		if err == nil && dg[grp].State == "Stable" && len(dg[grp].Members) == 3 {
			assigned := 0
			for _, m := range dg[grp].Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					assigned++
				}
			}
			if assigned == 3 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}

	produceValues(t, b.Addr(), topic, "r", total, 6)
	seen := map[string]int{}
	for len(seen) < total && c.Err() == nil {
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
		clear(seen)
		for _, out := range outs {
			for _, l := range completeLines(out) {
				seen[l]++
			}
		}
	}
	members := 0
	for _, out := range outs {
		if len(completeLines(out)) > 0 {
			members++
		}
	}
	for l, n := range seen {
		if n != 1 {
			t.Errorf("record %q printed %d times", l, n)
		}
	}
	if len(seen) != total || members != 3 {
		t.Fatalf("%d distinct records printed by %d members, want %d by 3; output:\n%s\n%s\n%s",
			len(seen), members, total, outs[0], outs[1], outs[2])
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
