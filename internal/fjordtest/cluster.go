//go:build unix

package fjordtest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// ArtifactsEnv names a folder where a failed cluster test leaves, under a
// folder named after the test, each node's whole captured output
// (node-N.log) and a copy of its data folder (node-N/), to read the logs
// and segments after the test is gone. Unset, nothing is kept.
const ArtifactsEnv = "FJORD_E2E_ARTIFACTS"

// ClientHost is the loopback address test clients connect from (the
// kernel's choice for connections to 127.x). Cluster nodes never use it
// when proxied, so a proxy can tell clients and nodes apart.
const ClientHost = "127.0.0.1"

// ClusterConfig describes a cluster of `fjord server` processes.
type ClusterConfig struct {
	// Nodes is how many nodes to run, each both broker and controller (a
	// voter of the metadata quorum). Zero means 3.
	Nodes int
	// Proxied runs node N on its own loopback address 127.0.0.(10+N) and
	// puts each of its listeners (client and controller) behind a Proxy
	// that every other node and every client reaches it through: the
	// proxies are its advertised listener and its entry in everyone's
	// controller.quorum.voters. Fjord dials other nodes from the host of its
	// client listener when that is a 127.x address other than 127.0.0.1, so
	// the proxies see which node each connection comes from, and Isolate can
	// cut a node off in both directions.
	Proxied bool
	// Overrides are key=value settings given to every node.
	Overrides []string
	// NodeOverrides, if set, returns key=value settings for one node
	// (such as broker.rack), applied after Overrides.
	NodeOverrides func(id int32) []string
	// RetryFailedStart starts once more, as a supervisor would, a node
	// whose first start failed (it exited or hung before its ready line),
	// logging the failure, instead of failing the test. For tests that are
	// about something else than a fresh cluster's startup; a known Fjord
	// startup race makes a node exit now and then.
	RetryFailedStart bool
}

// Cluster is a running cluster of fjord processes. Nodes keep their
// addresses and data folders across restarts. Its methods may be called from
// any goroutine.
type Cluster struct {
	t     testing.TB
	nodes []*ClusterNode
}

// ClusterNode is one node of a Cluster.
type ClusterNode struct {
	// ID is the node.id.
	ID int32
	// Host is the loopback IP the node listens on (and, proxied, dials
	// from).
	Host string
	// Proc is the node's process.
	Proc *Process
	// ClientProxy and ControllerProxy stand in front of the node's client
	// and controller listeners; nil unless the cluster is Proxied.
	ClientProxy, ControllerProxy *Proxy
	// Addr is the client address the node advertises (its client proxy
	// when proxied).
	Addr string
}

// StartCluster starts a cluster of cfg.Nodes fjord processes on empty data
// folders (which form a new cluster) and waits until every node has printed
// its ready line, which a node does once it is registered and unfenced. The
// processes are killed, and the proxies closed, when the test ends.
func StartCluster(t testing.TB, bin string, cfg ClusterConfig) *Cluster {
	t.Helper()
	n := cfg.Nodes
	if n <= 0 {
		n = 3
	}
	c := &Cluster{t: t}
	dataDirs := make([]string, n)
	for i := range dataDirs {
		dataDirs[i] = t.TempDir()
	}
	// Registered after the data folders (removed by an earlier-registered
	// cleanup, so later) and before the processes and proxies (stopped by
	// later-registered cleanups, so earlier): it runs once every process is
	// killed and before the data is gone.
	t.Cleanup(c.saveArtifacts)
	type ports struct{ client, controller string }
	listen := make([]ports, n)
	voters := make([]string, n)
	held := newHeldPorts(t)
	for i := range n {
		id := int32(i + 1)
		host := ClientHost
		if cfg.Proxied {
			host = fmt.Sprintf("127.0.0.%d", 10+id)
		}
		listen[i] = ports{held.addrOn(host), held.addrOn(host)}
		node := &ClusterNode{ID: id, Host: host, Addr: listen[i].client}
		voterAddr := listen[i].controller
		if cfg.Proxied {
			node.ClientProxy = NewProxyWith(t, ProxyConfig{Target: listen[i].client})
			// The quorum protocol is not Kafka's framing: forward bytes.
			node.ControllerProxy = NewProxyWith(t, ProxyConfig{Target: listen[i].controller, Raw: true})
			node.Addr = node.ClientProxy.Addr()
			voterAddr = node.ControllerProxy.Addr()
		}
		voters[i] = fmt.Sprintf("%d@%s", id, voterAddr)
		c.nodes = append(c.nodes, node)
	}
	held.release()
	for i, node := range c.nodes {
		ov := []string{
			"process.roles=broker,controller",
			fmt.Sprintf("node.id=%d", node.ID),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"controller.listener.names=CONTROLLER",
			fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", listen[i].client, listen[i].controller),
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		}
		if cfg.Proxied {
			ov = append(ov, "advertised.listeners=PLAINTEXT://"+node.Addr)
		}
		ov = append(ov, cfg.Overrides...)
		if cfg.NodeOverrides != nil {
			ov = append(ov, cfg.NodeOverrides(node.ID)...)
		}
		p, err := newProcess(t, bin, dataDirs[i], ov)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.cleanup)
		node.Proc = p
	}
	// A node is ready only once a quorum has formed, so all start at once.
	err := c.startAll(c.nodes)
	if err != nil && cfg.RetryFailedStart {
		var failed []*ClusterNode
		for _, node := range c.nodes {
			// start kills a node that hung before its ready line.
			if !node.Proc.Running() {
				failed = append(failed, node)
			}
		}
		t.Logf("start cluster: starting %d node(s) once more after: %v", len(failed), err)
		err = c.startAll(failed)
	}
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	return c
}

// startAll starts nodes concurrently and waits for their ready lines.
func (c *Cluster) startAll(nodes []*ClusterNode) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Proc.start(); err != nil {
				errs[i] = fmt.Errorf("node %d: %w\n--- output ---\n%s", node.ID, err, node.Proc.out.tail(failDumpSize))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// heldPorts hands out free ports that stay bound until release, so the
// ports of one cluster are all distinct (a port closed and asked for again
// may come back at once: two listeners of one cluster on one port).
type heldPorts struct {
	t   testing.TB
	lns []net.Listener
}

// newHeldPorts returns an empty set, released when the test ends at the
// latest (a failed allocation leaks nothing).
func newHeldPorts(t testing.TB) *heldPorts {
	h := &heldPorts{t: t}
	t.Cleanup(h.release)
	return h
}

// addrOn returns a free host:port, held until release.
func (h *heldPorts) addrOn(host string) string {
	h.t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		h.t.Fatalf("free port on %s: %v", host, err)
	}
	h.lns = append(h.lns, ln)
	return ln.Addr().String()
}

// release frees every held port for the nodes to bind.
func (h *heldPorts) release() {
	for _, ln := range h.lns {
		_ = ln.Close()
	}
	h.lns = nil
}

// Nodes returns the nodes in node.id order.
func (c *Cluster) Nodes() []*ClusterNode { return c.nodes }

// Node returns the node with the given node.id, failing the test if there
// is none.
func (c *Cluster) Node(id int32) *ClusterNode {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("cluster has no node %d", id)
	return nil
}

// Bootstrap returns every node's client address, for kgo.SeedBrokers.
func (c *Cluster) Bootstrap() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr
	}
	return out
}

// Isolate cuts node id off from the other nodes in both directions: every
// connection between it and another node, on either's listeners, is closed
// and new ones are refused until Heal. With clients set, test clients (on
// ClientHost) are cut off from it too; otherwise they still reach it, as
// a client on the node's side of a partition would. The cluster must be
// Proxied.
func (c *Cluster) Isolate(id int32, clients bool) {
	c.t.Helper()
	target := c.Node(id)
	if target.ClientProxy == nil {
		c.t.Fatalf("Isolate needs a Proxied cluster")
	}
	var others []string
	for _, n := range c.nodes {
		if n.ID == id {
			continue
		}
		others = append(others, n.Host)
		// What the isolated node opens to the others.
		n.ClientProxy.Block(target.Host)
		n.ControllerProxy.Block(target.Host)
	}
	if clients {
		others = append(others, ClientHost)
	}
	// What the others open to the isolated node. Its connections to
	// itself stay up: they cross no network.
	target.ClientProxy.Block(others...)
	target.ControllerProxy.Block(others...)
}

// Heal undoes Isolate (and any Cut or Block on the cluster's proxies).
func (c *Cluster) Heal() {
	for _, n := range c.nodes {
		if n.ClientProxy != nil {
			n.ClientProxy.Heal()
			n.ControllerProxy.Heal()
		}
	}
}

// saveArtifacts keeps the nodes' output and data of a failed test in
// $FJORD_E2E_ARTIFACTS (see ArtifactsEnv).
func (c *Cluster) saveArtifacts() {
	root := os.Getenv(ArtifactsEnv)
	if root == "" || !c.t.Failed() {
		return
	}
	dir := filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(c.t.Name(), "_"))
	for _, n := range c.nodes {
		if n.Proc == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.t.Logf("artifacts: %v", err)
			return
		}
		name := fmt.Sprintf("node-%d", n.ID)
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(n.Proc.Output()), 0o644); err != nil {
			c.t.Logf("artifacts: %v", err)
		}
		if err := copyTree(n.Proc.DataDir(), filepath.Join(dir, name)); err != nil {
			c.t.Logf("artifacts: %v", err)
		}
	}
	c.t.Logf("artifacts (node logs and data folders) kept in %s", dir)
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
