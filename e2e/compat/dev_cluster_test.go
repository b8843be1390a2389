package compat

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// TestDevCluster_DistributedCLI runs `fjord dev cluster --nodes 3` as a
// process, as a person would, and walks Fjord's CLI over it the way the
// Kafka tools are used on a KRaft cluster:
//
//	kafka-cluster.sh / kafka-metadata-quorum.sh -> fjord cluster info
//	kafka-topics.sh --create --replication-factor 3 -> fjord topic create
//	kafka-topics.sh --describe                  -> fjord topic describe
//	kafka-leader-election.sh --election-type preferred --all-topic-partitions
//	                                            -> fjord cluster elect-leaders
//
// then stops it with SIGINT and checks it stopped cleanly.
func TestDevCluster_DistributedCLI(t *testing.T) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("fjord dev cluster runs Fjord itself; the kfake stand-in has nothing to check here")
	}
	bin := fjordtest.BuildFjord(t)
	p := fjordtest.StartCommand(t, bin, "dev", "cluster", "--nodes", "3", "--racks", "a,b,c", "--log-level", "info")
	addr := p.Addr()
	if n := len(strings.Split(addr, ",")); n != 3 {
		t.Fatalf("bootstrap %q: want 3 addresses", addr)
	}
	mustCLI := func(args ...string) cmdResult {
		t.Helper()
		res := fjordCLI(t, addr, args...)
		if res.code != 0 {
			t.Fatalf("fjord %s: exit %d\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		return res
	}

	var info struct {
		Controller int32 `json:"controller"`
		Brokers    []struct {
			NodeID int32   `json:"node_id"`
			Rack   *string `json:"rack"`
			Fenced bool    `json:"fenced"`
		} `json:"brokers"`
	}
	decodeJSON(t, mustCLI("cluster", "info", "-o", "json").stdout, &info)
	var racks []string
	for _, b := range info.Brokers {
		if b.Rack != nil && !b.Fenced {
			racks = append(racks, *b.Rack)
		}
	}
	if !slices.Equal(racks, []string{"a", "b", "c"}) || info.Controller < 1 || info.Controller > 3 {
		t.Errorf("cluster info: racks %v, controller %d: want a,b,c and a controller among nodes 1-3", racks, info.Controller)
	}
	res := mustCLI("cluster", "info")
	for _, want := range []string{"Brokers:    3", "unfenced", "controller"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("cluster info lacks %q:\n%s", want, res.stdout)
		}
	}

	mustCLI("topic", "create", "replicated", "--partitions", "3", "--replication-factor", "3")
	var described []struct {
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			ISR       []int32 `json:"isr"`
		} `json:"partitions"`
	}
	decodeJSON(t, mustCLI("topic", "describe", "replicated", "-o", "json").stdout, &described)
	if len(described) != 1 || len(described[0].Partitions) != 3 {
		t.Fatalf("describe: %+v: want one topic of 3 partitions", described)
	}
	leaders := map[int32]bool{}
	for _, part := range described[0].Partitions {
		leaders[part.Leader] = true
		if len(part.Replicas) != 3 || part.Leader != part.Replicas[0] {
			t.Errorf("partition %d: leader %d, replicas %v: want 3 replicas led by the first", part.Partition, part.Leader, part.Replicas)
		}
	}
	if len(leaders) != 3 {
		t.Errorf("leaders %v: want the 3 partitions spread over the 3 brokers", leaders)
	}
	res = mustCLI("topic", "describe", "replicated")
	if !strings.Contains(res.stdout, "Replication factor: 3") {
		t.Errorf("describe table:\n%s", res.stdout)
	}

	// Preferred leaders already lead: every partition needs no election,
	// which is success.
	res = mustCLI("cluster", "elect-leaders", "--election-type", "preferred", "--all-topic-partitions")
	for part := range 3 {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^replicated\s+%d\s+ELECTION_NOT_NEEDED`, part)).MatchString(res.stdout) {
			t.Errorf("elect-leaders: no ELECTION_NOT_NEEDED for replicated-%d:\n%s", part, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, "preferred election: 0 elected, ") || !strings.Contains(res.stdout, ", 0 failed.") {
		t.Errorf("elect-leaders summary:\n%s", res.stdout)
	}

	if err := p.Interrupt(); err != nil {
		t.Fatalf("SIGINT: %v\n%s", err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, "Stopped cleanly.") {
		t.Errorf("no clean stop after SIGINT:\n%s", out)
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}
