package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// TestClusterDecommission_Balancer: with the continuous balancer on (and
// looking every 200 ms), `cluster decommission 4 --execute` empties broker
// 4 and it stays empty, since the decommission cordoned it; after
// `decommission 4 --cancel` the balancer moves replicas back onto it.
func TestClusterDecommission_Balancer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-node cluster")
	}
	c, err := fjord.NewCluster(4, fjord.WithConfig("balancer.enable", "true"), fjord.WithConfig("balancer.interval.ms", "200"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Even already: the balancer has nothing to do before the decommission.
	createOn(t, cl, "kept", []int32{1, 2}, []int32{2, 3}, []int32{3, 4}, []int32{4, 1})
	// on4 is how many replicas of kept broker 4 holds, "" when no
	// reassignment runs.
	on4 := func() (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range md.Topics["kept"].Partitions {
			for _, id := range p.Replicas {
				if id == 4 {
					n++
				}
			}
		}
		running, err := adm.ListPartitionReassignments(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(running) > 0 {
			return n, fmt.Sprint(running)
		}
		return n, ""
	}
	fj := func(args ...string) string {
		t.Helper()
		r := runFjord(t, "", append([]string{"-b", strings.Join(c.Addrs(), ","), "--timeout", "20s", "cluster", "decommission", "4"}, args...)...)
		if r.code != ExitOK {
			t.Fatalf("decommission 4 %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	mustContain(t, "decommission --execute", fj("--execute", "--progress-interval", "200ms"), "Broker 4 cordoned", "Done: ")
	// Ten of the balancer's looks: broker 4 stays empty.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if n, running := on4(); n > 0 {
			t.Fatalf("the balancer moved %d replica(s) back onto decommissioned broker 4 (running: %s)", n, running)
		}
		time.Sleep(100 * time.Millisecond)
	}

	mustContain(t, "decommission --cancel", fj("--cancel"), "Broker 4 uncordoned")
	waitUntil(t, "the balancer to move replicas back onto broker 4", func() (bool, string) {
		n, running := on4()
		return n > 0 && running == "", fmt.Sprintf("%d replica(s) on broker 4, running %s", n, running)
	})
}
