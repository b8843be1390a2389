package fjord_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/cli"
)

// quorumVoters returns the metadata quorum's voters as DescribeQuorum
// answers them.
func quorumVoters(ctx context.Context, cl *kgo.Client) ([]int32, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("DescribeQuorum answered %d topics", len(resp.Topics))
	}
	var ids []int32
	for _, v := range resp.Topics[0].Partitions[0].CurrentVoters {
		ids = append(ids, v.ReplicaID)
	}
	slices.Sort(ids)
	return ids, nil
}

// freeAddr returns a loopback address no one listens on (for a node
// started later).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Issue 9's quorum test: a controller is added to a running three-node
// cluster and another removed, under an idempotent acks=all load, with
// `fjord cluster quorum add|remove` (in process); the removed node is
// stopped, its data folder wiped and reused for a fresh node 3, which joins
// and is added back. Writes go on throughout, and every acknowledged record
// is read back once. (That a new voter counts towards elections and
// commits is TestRaft_VotersAddedAndRemoved's.)
func TestCluster_QuorumAddAndRemoveUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster under load")
	}
	c := startCluster(t, 3)
	addrs := c.Addrs()
	all := strings.Join(addrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	admCl, adm := adminClient(t, addrs)
	const topic = "quorum"
	createTopicOn(t, ctx, admCl, topic, onFirstThree[:3]...)
	load := startLoad(t, addrs, topic, 256, 128)
	waitFor(t, ctx, "acknowledged records", func() (bool, string) { return load.ledger.Len() >= 500, fmt.Sprint(load.ledger.Len()) })
	waitVoters := func(want ...int32) {
		t.Helper()
		waitFor(t, ctx, fmt.Sprintf("voters %v", want), func() (bool, string) {
			got, err := quorumVoters(ctx, admCl)
			return err == nil && slices.Equal(got, want), fmt.Sprint(got, err)
		})
	}
	progress := func(what string) {
		t.Helper()
		n := load.ledger.Len()
		waitFor(t, ctx, what, func() (bool, string) { return load.ledger.Len() >= n+300, fmt.Sprint(load.ledger.Len()) })
	}

	// Node 4: a controller-only node whose node.id is not among the
	// voters; it waits, outside the quorum, to be added.
	ctrl := c.ControllerAddrs()
	var voters []string
	for i, a := range ctrl {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, a))
	}
	addr4 := freeAddr(t)
	startNode(t, "process.roles", "controller", "node.id", "4", "controller.quorum.voters", strings.Join(voters, ","),
		"controller.listener.names", "CONTROLLER", "listeners", "CONTROLLER://"+addr4,
		"listener.security.protocol.map", "CONTROLLER:PLAINTEXT")
	code, out, errOut := runCLI(ctx, "-b", all, "--timeout", "30s", "cluster", "quorum", "add", "--controller-id", "4", "--controller-endpoint", addr4)
	t.Logf("quorum add 4: exit %d\n%s%s", code, out, errOut)
	if code != cli.ExitOK {
		t.Fatalf("fjord cluster quorum add: exit %d", code)
	}
	waitVoters(1, 2, 3, 4)
	code, _, errOut = runCLI(ctx, "-b", all, "cluster", "quorum", "add", "--controller-id", "4", "--controller-endpoint", addr4)
	if code == cli.ExitOK || !strings.Contains(errOut, "DUPLICATE_VOTER") {
		t.Errorf("adding voter 4 again: exit %d, %q; want DUPLICATE_VOTER", code, errOut)
	}
	progress("writes after node 4 joined")

	code, out, errOut = runCLI(ctx, "-b", all, "cluster", "quorum", "remove", "--controller-id", "3")
	t.Logf("quorum remove 3: exit %d\n%s%s", code, out, errOut)
	if code != cli.ExitOK {
		t.Fatalf("fjord cluster quorum remove: exit %d", code)
	}
	waitVoters(1, 2, 4)
	if err := c.Stop(2); err != nil {
		t.Fatal(err)
	}
	progress("writes with node 3 removed and stopped")
	// Node 3's disk is wiped and reused for a fresh node 3; it registers
	// only once it has the metadata, that is once it is a voter again.
	if err := os.RemoveAll(c.DataDirs()[2]); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() { restarted <- c.Restart(ctx, 2) }()
	for attempt := 0; ; attempt++ {
		code, out, errOut = runCLI(ctx, "-b", all, "--timeout", "20s", "cluster", "quorum", "add", "--controller-id", "3", "--controller-endpoint", ctrl[2])
		if code == cli.ExitOK {
			break
		}
		if ctx.Err() != nil || attempt > 20 {
			t.Fatalf("adding the fresh node 3: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	waitVoters(1, 2, 3, 4)
	waitFor(t, ctx, "node 3 back in every ISR", func() (bool, string) {
		_, _, isr, err := brokerCounts(ctx, adm, topic)
		ok := err == nil && len(isr) == 3
		for _, n := range isr {
			ok = ok && n == 3
		}
		return ok, fmt.Sprint(isr, err)
	})
	progress("writes with the fresh node 3")
	load.finish(t)
	load.ledger.VerifyExactlyOnce(t, readTopic(t, ctx, addrs, adm, topic))
	t.Logf("%d records acknowledged and verified", load.ledger.Len())
}
