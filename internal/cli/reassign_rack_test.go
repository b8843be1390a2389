package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// TestAssignReplicasRackAware follows Kafka's AdminRackAwareTest example
// (brokers 0-5 on three racks, start 0): the rack-alternated order and the
// assignment are Kafka's.
func TestAssignReplicasRackAware(t *testing.T) {
	racks := map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
	brokers := []int32{0, 1, 2, 3, 4, 5}
	mustEqual(t, "rack-alternated order", []int32{0, 3, 1, 5, 4, 2}, rackAlternated(brokers, racks))
	mustEqual(t, "rack-alternated order without 5", []int32{0, 3, 1, 4, 2}, rackAlternated([]int32{0, 1, 2, 3, 4}, racks))
	got, err := proposeAssignment(brokers, racks, true, 7, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32][]int32{
		0: {0, 3, 1}, 1: {3, 1, 5}, 2: {1, 5, 4}, 3: {5, 4, 2}, 4: {4, 2, 0}, 5: {2, 0, 3}, 6: {0, 4, 2},
	}
	mustEqual(t, "assignment", want, got)
}

// Each partition's replicas are on distinct racks while there are at
// least as many racks as replicas (on every rack otherwise), leaders and
// replicas are even over the brokers, no broker appears twice.
func TestAssignReplicasRackAware_Spread(t *testing.T) {
	for _, tc := range []struct {
		racks        map[int32]string
		parts, rf    int
		offset       int
		evenReplicas bool
	}{
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 12, 3, 0, true},
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 12, 2, 1, true},
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 6, 4, 2, false},
		{map[int32]string{1: "a", 2: "b", 3: "c"}, 9, 3, 5, true},
		{map[int32]string{1: "a", 2: "a", 3: "a", 4: "b"}, 8, 2, 0, false},
		{map[int32]string{1: "x", 2: "y", 3: "x", 4: "y"}, 8, 2, 3, true},
	} {
		var brokers []int32
		racks := map[string]bool{}
		for id := int32(1); int(id) <= len(tc.racks); id++ {
			brokers = append(brokers, id)
			racks[tc.racks[id]] = true
		}
		name := fmt.Sprintf("%v rf %d", tc.racks, tc.rf)
		a, err := proposeAssignment(brokers, tc.racks, true, tc.parts, tc.rf, tc.offset)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p := range int32(tc.parts) {
			rs := a[p]
			spanned := map[string]bool{}
			for _, r := range rs {
				spanned[tc.racks[r]] = true
				replicas[r]++
			}
			if len(rs) != tc.rf || len(duplicates(rs)) > 0 || len(spanned) != min(tc.rf, len(racks)) {
				t.Errorf("%s: partition %d on %v spans %d racks, want %d", name, p, rs, len(spanned), min(tc.rf, len(racks)))
			}
			leaders[rs[0]]++
		}
		for _, b := range brokers {
			if leaders[b] != tc.parts/len(brokers) {
				t.Errorf("%s: broker %d leads %d partitions, want %d (%v)", name, b, leaders[b], tc.parts/len(brokers), a)
			}
			if tc.evenReplicas && replicas[b] != tc.parts*tc.rf/len(brokers) {
				t.Errorf("%s: broker %d holds %d replicas, want %d (%v)", name, b, replicas[b], tc.parts*tc.rf/len(brokers), a)
			}
		}
	}
}

// Without racks, or with --disable-rack-aware, the assignment is the
// rack-unaware one of before; only some brokers with a rack is Kafka's
// refusal.
func TestProposeAssignment_Racks(t *testing.T) {
	brokers := []int32{3, 1, 2, 4, 5}
	want, err := assignReplicas(brokers, 10, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, racks := range []map[int32]string{nil, {1: "", 2: "", 3: "", 4: "", 5: ""}} {
		got, err := proposeAssignment(brokers, racks, true, 10, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "no racks", want, got)
	}
	some := map[int32]string{1: "a", 2: "b"}
	if _, err := proposeAssignment(brokers, some, true, 10, 3, 2); err == nil || err.Error() != notAllRacksMsg {
		t.Errorf("some brokers with racks: %v", err)
	}
	all := map[int32]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}
	for _, racks := range []map[int32]string{some, all} {
		got, err := proposeAssignment(brokers, racks, false, 10, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "--disable-rack-aware", want, got)
	}
	if _, err := proposeAssignment([]int32{1, 2}, map[int32]string{1: "a", 2: "b"}, true, 3, 3, 0); err == nil || err.Error() != "Replication factor: 3 larger than available brokers: 2." {
		t.Errorf("RF above brokers: %v", err)
	}
}

// TestClusterReassign_GenerateRackAware: against four real nodes, brokers
// 1 and 2 on rack a, 3 on rack b, 4 without a rack, --generate spreads each
// partition over both racks of 1,2,3; adding broker 4 is Kafka's refusal,
// unless --disable-rack-aware, which gives the rack-unaware assignment.
func TestClusterReassign_GenerateRackAware(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-node cluster")
	}
	racks := map[int32]string{1: "a", 2: "a", 3: "b"}
	c, err := fjord.NewCluster(4, fjord.WithNodeConfig(func(i int) map[string]string {
		if r := racks[int32(i+1)]; r != "" {
			return map[string]string{"broker.rack": r}
		}
		return nil
	}))
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
	createOn(t, cl, "racked", []int32{1, 2}, []int32{2, 1}, []int32{1, 2}, []int32{2, 1})
	topics := writeFile(t, "topics.json", `{"topics":[{"topic":"racked"}],"version":1}`)
	fj := func(args ...string) result {
		return runFjord(t, "", append([]string{"-b", strings.Join(c.Addrs(), ","), "--timeout", "20s", "-o", "json", "cluster", "reassign",
			"--generate", "--topics-to-move-json-file", topics}, args...)...)
	}
	plan := func(r result) map[int32][]int32 {
		t.Helper()
		var gj generateJSON
		if err := json.Unmarshal([]byte(r.stdout), &gj); r.code != ExitOK || err != nil {
			t.Fatalf("generate: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		out := map[int32][]int32{}
		for _, p := range gj.Proposed.Partitions {
			out[p.Partition] = p.Replicas
		}
		return out
	}
	for p, rs := range plan(fj("--broker-list", "1,2,3")) {
		if len(rs) != 2 || racks[rs[0]] == racks[rs[1]] {
			t.Errorf("racked-%d proposed on %v: not on racks a and b", p, rs)
		}
	}
	if r := fj("--broker-list", "1,2,3,4"); r.code != ExitError || !strings.Contains(r.stderr, notAllRacksMsg) {
		t.Errorf("broker 4 without a rack: exit %d: %s", r.code, r.stderr)
	}
	want, err := assignReplicas([]int32{1, 2, 3, 4}, 4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "--disable-rack-aware", want, plan(fj("--broker-list", "1,2,3,4", "--disable-rack-aware")))
}
