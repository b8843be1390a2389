package compat

import (
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// startEmbedded starts an in-process broker for the current target: a
// fjord.Node, or a kfake cluster under FJORD_E2E_TARGET=kfake. It is closed
// when the test ends.
func startEmbedded(t *testing.T) restartableBroker {
	t.Helper()
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		return startKfake(t)
	}
	return startFjordNode(t)
}

// kfakeBroker is a kfake cluster persisting to a directory, restarted by
// closing it and opening a new one on the same directory and port.
type kfakeBroker struct {
	dir  string
	port int
	c    *kfake.Cluster
}

func startKfake(t *testing.T) *kfakeBroker {
	t.Helper()
	k := &kfakeBroker{dir: t.TempDir()}
	k.open(t)
	t.Cleanup(func() { k.c.Close() })
	return k
}

func (k *kfakeBroker) open(t testing.TB) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(k.port), kfake.DataDir(k.dir))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	k.c = c
	_, p, _ := net.SplitHostPort(c.ListenAddrs()[0])
	k.port, _ = strconv.Atoi(p)
}

func (k *kfakeBroker) Addr() string { return k.c.ListenAddrs()[0] }

func (k *kfakeBroker) Restart(t testing.TB) {
	k.c.Close()
	k.open(t)
}
