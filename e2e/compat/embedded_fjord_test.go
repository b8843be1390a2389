package compat

import (
	"context"
	"testing"

	"github.com/fjordstream/fjord"
)

// fjordNode is an embedded Fjord broker on a test-owned data directory,
// restarted by closing it and opening a new node on the same directory and
// listener.
type fjordNode struct {
	dir  string
	addr string
	n    *fjord.Node
}

func startFjordNode(t *testing.T) *fjordNode {
	t.Helper()
	f := &fjordNode{dir: t.TempDir(), addr: "127.0.0.1:0"}
	f.open(t)
	t.Cleanup(func() {
		if err := f.n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return f
}

func (f *fjordNode) open(t testing.TB) {
	t.Helper()
	n, err := fjord.NewNode(fjord.WithDataDir(f.dir), fjord.WithConfig("listeners", "PLAINTEXT://"+f.addr))
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	c, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := n.Start(c); err != nil {
		t.Fatalf("start node: %v", err)
	}
	f.n, f.addr = n, n.Addr()
}

func (f *fjordNode) Addr() string { return f.n.Addr() }

func (f *fjordNode) Restart(t testing.TB) {
	t.Helper()
	if err := f.n.Close(); err != nil {
		t.Errorf("close node before restart: %v", err)
	}
	f.open(t)
}
