package compat

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// kip848Overrides make the consumer group protocol quick enough to test:
// members hear of a new target within 300 ms and a vanished one is evicted
// after 3 s.
var kip848Overrides = append(append([]string{}, groupOverrides...),
	"group.consumer.heartbeat.interval.ms=300", "group.consumer.session.timeout.ms=3000")

// serverSide opts a franz-go member into KIP-848.
var serverSide = []kgo.Opt{kgo.ServerSideBalancer()}

// waitStableConsumerGroup waits until the KIP-848 group is Stable with n
// members, each holding a partition, and returns the partitions held per
// client ID.
func waitStableConsumerGroup(t *testing.T, adm *kadm.Client, group string, n int) map[string]int {
	t.Helper()
	return waitStable(t, group, n, func() (string, int, map[string]int, error) {
		dg, err := adm.DescribeConsumerGroups(ctx(t), group)
		if err != nil {
			return "", 0, nil, err
		}
		d := dg[group]
		held := map[string]int{}
		for _, m := range d.Members {
			m.Assignment.Each(func(string, int32) { held[m.ClientID]++ })
		}
		return d.State, len(d.Members), held, d.Err
	})
}

// TestFranzGo_KIP848GroupRebalanceAndRestart: three franz-go members using
// the consumer group protocol (ServerSideBalancer, the broker's uniform
// assignor) join one by one while records arrive on six partitions. Every
// record is consumed exactly once across the revoke-then-assign steps, the
// CLI describes the group (members, lag) from ConsumerGroupDescribe, the
// commits are the log end after all leave, and after a broker restart new
// members resume from them.
func TestFranzGo_KIP848GroupRebalanceAndRestart(t *testing.T) {
	joinRebalanceRestart(t, kip848Overrides, "kip848", serverSide, waitStableConsumerGroup, checkCLIDescribesConsumerGroup)
}

// checkCLIDescribesConsumerGroup: `fjord group describe` finds the stable
// three-member KIP-848 group through ConsumerGroupDescribe.
func checkCLIDescribesConsumerGroup(t *testing.T, b *fjordtest.Process, _ *kadm.Client, group string) {
	t.Helper()
	var described []struct {
		State        string `json:"state"`
		ProtocolType string `json:"protocol_type"`
		Protocol     string `json:"protocol"`
		Members      []struct {
			ClientID string             `json:"client_id"`
			Assigned map[string][]int32 `json:"assigned"`
		} `json:"members"`
		Partitions []struct {
			MemberID string `json:"member_id"`
		} `json:"partitions"`
	}
	out := fjordCLI(t, b.Addr(), "group", "describe", group, "-o", "json")
	if out.code != 0 {
		t.Fatalf("fjord group describe: exit %d\n%s", out.code, out.stderr)
	}
	if err := json.Unmarshal([]byte(out.stdout), &described); err != nil || len(described) != 1 {
		t.Fatalf("describe output %q: %v", out.stdout, err)
	}
	if d := described[0]; d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "uniform" || len(d.Members) != 3 || len(d.Partitions) != 6 {
		t.Errorf("described %+v", d)
	}
}

// TestFranzGo_KIP848MemberKilledLosesPartitions: a KIP-848 member that
// vanishes without leaving is removed after group.consumer.session.timeout.ms
// and the survivor is given all partitions.
func TestFranzGo_KIP848MemberKilledLosesPartitions(t *testing.T) {
	memberKilledLosesPartitions(t, kip848Overrides, "kip848-kill", serverSide, waitStableConsumerGroup)
}

// TestFranzGo_KIP848Churn: members of a KIP-848 group come and go (each
// leaving member commits and leaves; a new one joins) while records keep
// arriving. The coordinator's revoke-before-assign keeps every partition
// with one member at a time, so every record is consumed exactly once.
func TestFranzGo_KIP848Churn(t *testing.T) {
	b := startBroker(t, kip848Overrides...)
	const topic, group, perStep, steps = "kip848-churn", "kip848-churn-g", 60, 6
	createTopic(t, b.Addr(), topic, 6)
	adm := admin(t, b.Addr())
	seen := newSeenSet()
	var ms []*groupMember
	for i := range 3 {
		ms = append(ms, startMember(t, b.Addr(), group, topic, fmt.Sprintf("m%d", i), seen, serverSide...))
	}
	waitStableConsumerGroup(t, adm, group, 3)
	var want []string
	for step := range steps {
		prefix := fmt.Sprintf("step%d-", step)
		produceValues(t, b.Addr(), topic, prefix, perStep, 6)
		want = append(want, values(prefix, perStep)...)
		// The oldest member leaves while the records are being consumed;
		// a new one joins.
		old := ms[0]
		old.stopPolling()
		if err := old.cl.CommitUncommittedOffsets(ctx(t)); err != nil {
			t.Fatalf("%s: commit: %v", old.name, err)
		}
		old.close()
		ms = append(ms[1:], startMember(t, b.Addr(), group, topic, fmt.Sprintf("m%d", step+3), seen, serverSide...))
		waitStableConsumerGroup(t, adm, group, 3)
		seen.waitAll(t, want)
	}
	seen.checkOnce(t, want)
}
