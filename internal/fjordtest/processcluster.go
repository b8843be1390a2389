//go:build unix

package fjordtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ProcessCluster is n `fjord server` processes forming one cluster, each a
// broker and a voter of the metadata quorum (combined mode), on loopback
// ports chosen up front, each with its own data directory. It is the
// process-level twin of fjord.NewCluster: a node can be killed with SIGKILL
// or paused with SIGSTOP, which an in-process node cannot.
type ProcessCluster struct {
	// Nodes holds the processes; Nodes[i] has node.id i+1.
	Nodes []*Process
	addrs []string
}

// StartProcessCluster starts n nodes (1 to 9) under root (root/node-1, ...) and
// returns once every one has printed its ready line. Every node must start
// at the same time, since none is ready before the quorum has a leader.
// overrides (Kafka config keys, "key=value") apply to every node. The
// processes are killed when the test ends.
func StartProcessCluster(t testing.TB, bin, root string, n int, overrides ...string) *ProcessCluster {
	t.Helper()
	if n < 1 || n > 9 {
		t.Fatalf("a cluster of %d nodes; 1 to 9 are supported", n)
	}
	client, quorum := make([]string, n), make([]string, n)
	var voters []string
	held := newHeldPorts(t)
	for i := range n {
		client[i], quorum[i] = held.addrOn("127.0.0.1"), held.addrOn("127.0.0.1")
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, quorum[i]))
	}
	held.release()
	c := &ProcessCluster{addrs: client}
	for i := range n {
		ov := []string{
			"process.roles=broker,controller",
			"node.id=" + strconv.Itoa(i+1),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"controller.listener.names=CONTROLLER",
			fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", client[i], quorum[i]),
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		}
		dir := filepath.Join(root, "node-"+strconv.Itoa(i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := newProcess(t, bin, dir, append(ov, overrides...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.cleanup)
		c.Nodes = append(c.Nodes, p)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range c.Nodes {
		wg.Go(func() { errs[i] = p.launch() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d: %v\n--- output ---\n%s", i+1, err, c.Nodes[i].out.tail(failDumpSize))
		}
	}
	return c
}

// Addrs returns every node's client (PLAINTEXT) address, running or not.
func (c *ProcessCluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Node returns the process of the node with the given node.id.
func (c *ProcessCluster) Node(id int32) *Process { return c.Nodes[id-1] }

// AddrOf returns the client address of the node with the given node.id.
func (c *ProcessCluster) AddrOf(id int32) string { return c.addrs[id-1] }
