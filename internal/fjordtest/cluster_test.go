//go:build unix

package fjordtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeCluster starts a Cluster of fake brokers (the test binary) in mode.
func fakeCluster(t *testing.T, mode string, cfg ClusterConfig) *Cluster {
	t.Helper()
	t.Setenv(fakeBrokerEnv, mode) // inherited by the children
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return StartCluster(t, exe, cfg)
}

// A proxied cluster gives each node its own loopback address, its
// proxies' addresses as advertised listener and voter, and every node the
// same voter list.
func TestCluster_ProxiedWiring(t *testing.T) {
	c := fakeCluster(t, "serve", ClusterConfig{Proxied: true, Overrides: []string{"x.y=z"}})
	if len(c.Nodes()) != 3 {
		t.Fatalf("%d nodes, want 3", len(c.Nodes()))
	}
	var voters string
	for i, n := range c.Nodes() {
		if n.ID != int32(i+1) || n.Host != "127.0.0.1"+string(rune('1'+i)) {
			t.Errorf("node %d on %s, want id %d on 127.0.0.1%d", n.ID, n.Host, i+1, i+1)
		}
		if n.Addr != n.ClientProxy.Addr() || !strings.Contains(strings.Join(c.Bootstrap(), ","), n.Addr) {
			t.Errorf("node %d advertises %s, bootstrap %v, want its client proxy %s", n.ID, n.Addr, c.Bootstrap(), n.ClientProxy.Addr())
		}
		out := n.Proc.Output()
		for _, want := range []string{"advertised.listeners=PLAINTEXT://" + n.Addr, "listeners=PLAINTEXT://" + n.Host + ":", "x.y=z"} {
			if !strings.Contains(out, want) {
				t.Errorf("node %d started without %q:\n%s", n.ID, want, out)
			}
		}
		i := strings.Index(out, "controller.quorum.voters=")
		v, _, _ := strings.Cut(out[i:], " ")
		if voters == "" {
			voters = v
		} else if v != voters {
			t.Errorf("node %d has %s, node 1 %s", n.ID, v, voters)
		}
		if !strings.Contains(v, n.ControllerProxy.Addr()) {
			t.Errorf("voters %s lack node %d's controller proxy %s", v, n.ID, n.ControllerProxy.Addr())
		}
	}
}

// A node whose first start fails is started once more with
// RetryFailedStart, and fails the cluster's start without it.
func TestCluster_RetryFailedStart(t *testing.T) {
	c := fakeCluster(t, "exit-first", ClusterConfig{RetryFailedStart: true})
	for _, n := range c.Nodes() {
		if !n.Proc.Running() || !strings.Contains(n.Proc.Output(), "first start fails") {
			t.Errorf("node %d: running %v after a failed first start; output:\n%s", n.ID, n.Proc.Running(), n.Proc.Output())
		}
	}
	ft := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != ft {
				panic(r)
			}
		}()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		StartCluster(ft, exe, ClusterConfig{})
	}()
	if !strings.Contains(ft.fatal, "exited before it was ready") {
		t.Errorf("without RetryFailedStart: fatal %q, want the failed start", ft.fatal)
	}
}

// fatalTB turns Fatalf into a panic of itself, recording the message, so
// a test can check that a helper fails.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(f)
}

// answers reports whether a request sent from the local IP src to addr
// gets its response within a short while.
func answers(t *testing.T, src, addr string) bool {
	t.Helper()
	c, err := dialFrom(t, src, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write(frame(t, metadataReq(), 5)); err != nil {
		return false
	}
	corr, err := recvCorr(c)
	return err == nil && corr == 5
}

// Isolate cuts the links between one node and the others in both
// directions, on the client listeners here (the fake brokers serve no
// controller listener), and clients too when asked; Heal restores them.
func TestCluster_IsolateBlocksBothDirections(t *testing.T) {
	c := fakeCluster(t, "serve", ClusterConfig{Proxied: true})
	n1, n2, n3 := c.Node(1), c.Node(2), c.Node(3)
	check := func(when string, want map[[2]string]bool) {
		t.Helper()
		for k, w := range want {
			if got := answers(t, k[0], k[1]); got != w {
				t.Errorf("%s: from %s to %s answered %v, want %v", when, k[0], k[1], got, w)
			}
		}
	}
	c.Isolate(1, false)
	check("isolated from nodes", map[[2]string]bool{
		{n2.Host, n1.Addr}: false, {n3.Host, n1.Addr}: false, // the others to it
		{n1.Host, n2.Addr}: false, {n1.Host, n3.Addr}: false, // it to the others
		{n2.Host, n3.Addr}: true, {n3.Host, n2.Addr}: true, // the others among themselves
		{ClientHost, n1.Addr}: true, {ClientHost, n2.Addr}: true, // clients
		{n1.Host, n1.Addr}: true, // itself
	})
	c.Heal()
	c.Isolate(2, true)
	check("isolated from nodes and clients", map[[2]string]bool{
		{ClientHost, n2.Addr}: false, {n1.Host, n2.Addr}: false, {n2.Host, n3.Addr}: false,
		{ClientHost, n1.Addr}: true, {n1.Host, n3.Addr}: true,
	})
	c.Heal()
	check("healed", map[[2]string]bool{
		{ClientHost, n2.Addr}: true, {n1.Host, n2.Addr}: true, {n2.Host, n3.Addr}: true,
	})
}
