//go:build unix

package fjordtest

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// StartProcessCluster starts every node at once on its own port and data
// directory with the combined-mode settings, and a node restarts in place.
func TestStartProcessCluster_ThreeNodes(t *testing.T) {
	t.Setenv(fakeBrokerEnv, "serve") // inherited by the children
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := StartProcessCluster(t, exe, t.TempDir(), 3, "num.partitions=6")
	var dirs []string
	for i, p := range c.Nodes {
		id := int32(i + 1)
		if p.Addr() != c.AddrOf(id) || c.Node(id) != p {
			t.Fatalf("node %d: Addr %q, AddrOf %q", id, p.Addr(), c.AddrOf(id))
		}
		args := strings.Join(p.args, " ")
		for _, want := range []string{"node.id=" + string(rune('0'+id)), "process.roles=broker,controller",
			"controller.quorum.voters=1@", "CONTROLLER://", "num.partitions=6"} {
			if !strings.Contains(args, want) {
				t.Fatalf("node %d arguments %q lack %q", id, args, want)
			}
		}
		dirs = append(dirs, p.DataDir())
	}
	slices.Sort(dirs)
	if len(slices.Compact(dirs)) != 3 {
		t.Fatalf("data directories %v are not distinct", dirs)
	}
	if got := len(c.Addrs()); got != 3 {
		t.Fatalf("%d addresses", got)
	}
	n2 := c.Node(2)
	n2.Kill()
	n2.Restart(t)
	if startNumber(t, n2.Addr()) != 2 || startNumber(t, c.AddrOf(1)) != 1 {
		t.Fatal("node 2 did not restart in place, or node 1 restarted")
	}
}
