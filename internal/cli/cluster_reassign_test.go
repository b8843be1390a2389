package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAssignReplicas: the generator spreads leaders and replicas evenly,
// never puts a broker twice in a partition, and follows Kafka's
// AdminUtils.assignReplicasToBrokers for a fixed start.
func TestAssignReplicas(t *testing.T) {
	got, err := assignReplicas([]int32{3, 1, 2, 4, 5}, 10, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's own example (brokers 0-4 as 1-5, start 0, shift 0).
	want := map[int32][]int32{
		0: {1, 2, 3}, 1: {2, 3, 4}, 2: {3, 4, 5}, 3: {4, 5, 1}, 4: {5, 1, 2},
		5: {1, 3, 4}, 6: {2, 4, 5}, 7: {3, 5, 1}, 8: {4, 1, 2}, 9: {5, 2, 3},
	}
	mustEqual(t, "assignment", want, got)
	for _, tc := range []struct{ brokers, parts, rf, offset int }{{3, 6, 2, 0}, {3, 9, 3, 1}, {4, 8, 2, 3}, {2, 4, 1, 1}, {1, 3, 1, 0}} {
		var brokers []int32
		for i := range tc.brokers {
			brokers = append(brokers, int32(i+1))
		}
		a, err := assignReplicas(brokers, tc.parts, tc.rf, tc.offset)
		if err != nil {
			t.Fatal(err)
		}
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p, rs := range a {
			if len(rs) != tc.rf || len(duplicates(rs)) > 0 {
				t.Errorf("%+v: partition %d on %v", tc, p, rs)
			}
			leaders[rs[0]]++
			for _, r := range rs {
				replicas[r]++
			}
		}
		for _, b := range brokers {
			if leaders[b] != tc.parts/tc.brokers || replicas[b] != tc.parts*tc.rf/tc.brokers {
				t.Errorf("%+v: broker %d leads %d and holds %d: uneven (%v)", tc, b, leaders[b], replicas[b], a)
			}
		}
	}
	if _, err := assignReplicas([]int32{1, 2}, 3, 3, 0); err == nil || err.Error() != "Replication factor: 3 larger than available brokers: 2." {
		t.Errorf("RF above brokers: %v", err)
	}
}

// writeFile writes s to a file in a test folder and returns its path.
func writeFile(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClusterReassign_BadInput: plans and flags that cannot be used fail
// before any broker is asked (no broker listens at the bootstrap address),
// with Kafka's messages and a non-zero exit.
func TestClusterReassign_BadInput(t *testing.T) {
	tests := []struct {
		name string
		plan string // for --execute, unless args are given
		args []string
		code int
		want string
	}{
		{"not JSON", `{"version":1,"partitions":[`, nil, ExitError, "not valid reassignment JSON"},
		{"trailing data", `{"version":1,"partitions":[]} x`, nil, ExitError, "not valid reassignment JSON"},
		{"version 2", `{"version":2,"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}`, nil, ExitError, "Not supported version field value 2"},
		{"no partitions", `{"version":1}`, nil, ExitError, "Partition reassignment list cannot be empty"},
		{"empty replicas", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}`, nil, ExitError, "Partition replica list cannot be empty (t-0)"},
		{"no topic", `{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}`, nil, ExitError, `partitions[0]: no "topic"`},
		{"no partition", `{"version":1,"partitions":[{"topic":"t","replicas":[1]}]}`, nil, ExitError, `partitions[0] (topic t): no "partition"`},
		{"no replicas", `{"version":1,"partitions":[{"topic":"t","partition":3}]}`, nil, ExitError, `t-3: no "replicas"`},
		{"string replicas", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":["1"]}]}`, nil, ExitError, "not valid reassignment JSON"},
		{"duplicate partition", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}`, nil, ExitError,
			"Partition reassignment contains duplicate topic partitions: t-0"},
		{"duplicate replica", `{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[1,2,1]}]}`, nil, ExitError,
			"Partition replica lists may not contain duplicate entries: t-1 contains multiple entries for 1"},
		{"log dirs size", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`, nil, ExitError,
			"Size of replicas list [1, 2] is different from size of log dirs list [any] for partition t-0"},
		{"log dir path", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/data/a"]}]}`, nil, ExitError, `log dir "/data/a": only "any" is supported`},
		{"negative broker", `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[-1]}]}`, nil, ExitError, "broker ID -1 is negative"},
		{"missing file", "", []string{"--verify", "--reassignment-json-file", "/nonexistent/plan.json"}, ExitError, "no such file"},
		{"no action", "", []string{}, ExitUsage, "Command must include exactly one action"},
		{"two actions", "", []string{"--list", "--verify"}, ExitUsage, "Command must include exactly one action"},
		{"execute without a plan", "", []string{"--execute"}, ExitUsage, "--execute needs --reassignment-json-file"},
		{"generate without brokers", "", []string{"--generate", "--topics-to-move-json-file", "x"}, ExitUsage, "--generate needs --broker-list"},
		{"flag of another action", "", []string{"--list", "--broker-list", "1"}, ExitUsage, "Option --broker-list can't be used with action --list"},
		{"additional with verify", "", []string{"--verify", "--reassignment-json-file", "x", "--additional"}, ExitUsage, "Option --additional can't be used with action --verify"},
		{"disable-rack-aware with execute", "", []string{"--execute", "--reassignment-json-file", "x", "--disable-rack-aware"}, ExitUsage, "Option --disable-rack-aware can't be used with action --execute"},
		{"bad broker list", "", []string{"--generate", "--topics-to-move-json-file", "x", "--broker-list", "1,a"}, ExitUsage, `--broker-list "1,a"`},
		{"duplicate broker", "", []string{"--generate", "--topics-to-move-json-file", "x", "--broker-list", "1,2,1"}, ExitUsage, "Broker list contains duplicate entries: 1"},
		{"topics not JSON", "", []string{"--generate", "--topics-to-move-json-file", "TOPICS:nope", "--broker-list", "1"}, ExitError, "topics-to-move JSON file"},
		{"duplicate topic", "", []string{"--generate", "--topics-to-move-json-file", `TOPICS:{"topics":[{"topic":"a"},{"topic":"a"}],"version":1}`, "--broker-list", "1"},
			ExitError, "List of topics to reassign contains duplicate entries: a"},
		{"no topics", "", []string{"--generate", "--topics-to-move-json-file", `TOPICS:{"topics":[],"version":1}`, "--broker-list", "1"}, ExitError, "no topics to move"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args == nil {
				args = []string{"--execute", "--reassignment-json-file", writeFile(t, "plan.json", tt.plan)}
			}
			args = slices.Clone(args)
			for i, a := range args {
				if s, ok := strings.CutPrefix(a, "TOPICS:"); ok {
					args[i] = writeFile(t, "topics.json", s)
				}
			}
			r := runFjord(t, "", append([]string{"-b", "127.0.0.1:1", "--timeout", "2s", "cluster", "reassign"}, args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr does not hold %q?\nstderr: %s\nstdout: %s", r.code, tt.code, tt.want, r.stderr, r.stdout)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

// TestClusterReassign_PlanFromStdin: "-" reads the plan from standard input.
func TestClusterReassign_PlanFromStdin(t *testing.T) {
	r := runFjord(t, `{"version":1,"partitions":[]}`, "-b", "127.0.0.1:1", "cluster", "reassign", "--cancel", "--reassignment-json-file", "-")
	if r.code != ExitError || !strings.Contains(r.stderr, "reassignment JSON file -: Partition reassignment list cannot be empty") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func TestFormatPlan(t *testing.T) {
	got := formatPlan([]reassignPartition{{Topic: "b", Partition: 0, Replicas: []int32{2}}, {Topic: "a", Partition: 10, Replicas: []int32{1, 2}}, {Topic: "a", Partition: 2, Replicas: []int32{3, 1}}})
	want := `{"version":1,"partitions":[{"topic":"a","partition":2,"replicas":[3,1],"log_dirs":["any","any"]},` +
		`{"topic":"a","partition":10,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"b","partition":0,"replicas":[2],"log_dirs":["any"]}]}`
	mustEqual(t, "plan", want, got)
	plan, err := parseReassignPlan("f", []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "round trip", got, formatPlan(plan.Partitions))
	if _, err := parseReassignPlan("f", []byte(`{"partitions":[{"topic":"t","partition":0,"replicas":[1],"extra":true}]}`)); err != nil {
		t.Errorf("no version and an unknown field (Kafka accepts both): %v", err)
	}
	names := []string{"a-10", "b-1", "a-2", "a-b-1", "a-b-0"}
	sortNames(names)
	mustEqual(t, "sorted names", fmt.Sprint([]string{"a-2", "a-10", "a-b-0", "a-b-1", "b-1"}), fmt.Sprint(names))
}
