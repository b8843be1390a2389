package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
)

// startFjordCluster starts an in-process cluster of n real Fjord nodes.
func startFjordCluster(t *testing.T, n int) *fjord.Cluster {
	t.Helper()
	c, err := fjord.NewCluster(n)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// createOn creates topic with one partition per replica list given.
func createOn(t *testing.T, cl *kgo.Client, topic string, assignment ...[]int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, rs := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	// Every broker must know the topic before the CLI asks any of them
	// (CreateTopics answers once the controller committed it; brokers
	// learn it from the metadata log a moment later, as in Kafka).
	// The broker list from one broker, asked directly: a MetadataRequest
	// through the client would be cached by kgo and answer later checks.
	breq := kmsg.NewPtrMetadataRequest()
	breq.Topics = []kmsg.MetadataRequestTopic{}
	bresp, err := cl.Broker(1).Request(ctx, breq)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, b := range bresp.(*kmsg.MetadataResponse).Brokers {
		id := b.NodeID
		waitUntil(t, fmt.Sprintf("broker %d to know %s", id, topic), func() (bool, string) {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Broker(int(id)).Request(ctx, req)
			if err != nil {
				return false, err.Error()
			}
			mt := resp.(*kmsg.MetadataResponse).Topics[0]
			return mt.ErrorCode == 0 && len(mt.Partitions) == len(assignment), fmt.Sprint(kerr.ErrorForCode(mt.ErrorCode))
		})
	}
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %s", what, last)
}

// proposed extracts the plan --generate proposes.
func proposed(t *testing.T, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Proposed partition reassignment configuration\n(.*)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no proposed plan in:\n%s", stdout)
	}
	return m[1]
}

// TestClusterReassign_Cluster drives `fjord cluster reassign` against three
// real Fjord nodes: generate -> execute -> verify completes; then, with
// broker 3 stopped, a reassignment onto it stays in progress, is listed,
// blocks another --execute without --additional, and is cancelled.
func TestClusterReassign_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := startFjordCluster(t, 3)
	bootstrap := strings.Join(c.Addrs(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	fj := func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		return runFjord(t, stdin, append([]string{"-b", bootstrap, "--timeout", "20s", "cluster", "reassign"}, args...)...)
	}
	ok := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		r := fj(t, stdin, args...)
		if r.code != ExitOK {
			t.Fatalf("fjord cluster reassign %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	replicasOf := func(t *testing.T, topic string) map[int32][]int32 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32][]int32{}
		for p, pd := range md.Topics[topic].Partitions {
			out[p] = pd.Replicas
		}
		return out
	}

	createOn(t, cl, "moves", []int32{1, 2}, []int32{1, 2}, []int32{2, 1})
	t.Run("generate execute verify", func(t *testing.T) {
		topics := writeFile(t, "topics.json", `{"topics":[{"topic":"moves"}],"version":1}`)
		out := ok(t, "", "--generate", "--topics-to-move-json-file", topics, "--broker-list", "2,3")
		current := `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[1,2],"log_dirs":["any","any"]},` +
			`{"topic":"moves","partition":1,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"moves","partition":2,"replicas":[2,1],"log_dirs":["any","any"]}]}`
		mustContain(t, "generate", out, "Current partition replica assignment\n"+current+"\n\n")
		plan := proposed(t, out)
		want := `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2,3],"log_dirs":["any","any"]},` +
			`{"topic":"moves","partition":1,"replicas":[3,2],"log_dirs":["any","any"]},{"topic":"moves","partition":2,"replicas":[2,3],"log_dirs":["any","any"]}]}`
		mustEqual(t, "proposed plan", want, plan)

		var gj generateJSON
		decode(t, ok(t, "", "-o", "json", "--generate", "--topics-to-move-json-file", topics, "--broker-list", "2,3"), &gj)
		mustEqual(t, "proposed plan (json)", want, formatPlan(gj.Proposed.Partitions))

		planFile := writeFile(t, "plan.json", plan)
		out = ok(t, "", "--execute", "--throttle", "50000000", "--reassignment-json-file", planFile)
		mustEqual(t, "execute output", "Current partition replica assignment\n\n"+current+
			"\n\nSave this to use as the --reassignment-json-file option during rollback\n"+
			"Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\n"+
			"The inter-broker throttle limit was set to 50000000 B/s\n"+
			"Successfully started partition reassignments for moves-0,moves-1,moves-2\n", out)
		waitUntil(t, "the throttled replicas set", func() (bool, string) {
			v := topicConfig(t, adm, "moves", "leader.replication.throttled.replicas")
			return v == "0:1,0:2,1:1,1:2,2:2,2:1", v // only --verify clears it
		})

		waitUntil(t, "verify to report every partition completed", func() (bool, string) {
			out := ok(t, "", "--verify", "--reassignment-json-file", planFile)
			return out == "Status of partition reassignment:\n"+
				"Reassignment of partition moves-0 is completed.\n"+
				"Reassignment of partition moves-1 is completed.\n"+
				"Reassignment of partition moves-2 is completed.\n"+
				"\nClearing broker-level throttles on brokers 1,2,3\n"+
				"Clearing topic-level throttles on topic moves\n", out
		})
		waitUntil(t, "the throttled replicas cleared", func() (bool, string) {
			v := topicConfig(t, adm, "moves", "leader.replication.throttled.replicas")
			return v == "", v
		})
		mustEqual(t, "replicas after the move", map[int32][]int32{0: {2, 3}, 1: {3, 2}, 2: {2, 3}}, replicasOf(t, "moves"))
		mustEqual(t, "list", "No partition reassignments found.\n", ok(t, "", "--list"))

		// The rollback plan, verified before it is executed: a mismatch.
		out = ok(t, current, "--verify", "--reassignment-json-file", "-")
		mustContain(t, "verify of the old plan", out,
			"There is no active reassignment of partition moves-0, but replica set is 2,3 rather than 1,2.\n",
			"There is no active reassignment of partition moves-2, but replica set is 2,3 rather than 2,1.\n")
	})

	t.Run("unknown broker, partition and topic", func(t *testing.T) {
		for _, tc := range []struct{ plan, want string }{
			// The broker serves DescribeCluster v2, so the tool sees every
			// registered broker and refuses an unknown one itself, as Kafka's.
			{`{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2,9]}]}`, "Error: Unknown broker id 9"},
			{`{"version":1,"partitions":[{"topic":"moves","partition":7,"replicas":[2,3]}]}`, "Error: Unable to find partition: moves-7: UNKNOWN_TOPIC_OR_PARTITION"},
			{`{"version":1,"partitions":[{"topic":"nope","partition":0,"replicas":[2,3]}]}`, "Error: Topic nope not found: UNKNOWN_TOPIC_OR_PARTITION"},
		} {
			r := fj(t, tc.plan, "--execute", "--reassignment-json-file", "-")
			if r.code != ExitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("plan %s: exit %d, stderr %q; want 1 and %q", tc.plan, r.code, r.stderr, tc.want)
			}
		}
		r := fj(t, "", "--generate", "--topics-to-move-json-file", writeFile(t, "t.json", `{"topics":[{"topic":"moves"}]}`), "--broker-list", "2")
		if r.code != ExitError || !strings.Contains(r.stderr, "Replication factor: 2 larger than available brokers: 1.") {
			t.Errorf("generate onto one broker: exit %d, stderr %q", r.code, r.stderr)
		}
		mustEqual(t, "replicas unchanged", map[int32][]int32{0: {2, 3}, 1: {3, 2}, 2: {2, 3}}, replicasOf(t, "moves"))
	})

	t.Run("cancel in progress", func(t *testing.T) {
		createOn(t, cl, "stuck", []int32{1, 2})
		if err := c.Stop(2); err != nil {
			t.Fatal(err)
		}
		plan := `{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[1,3]}]}`
		planFile := writeFile(t, "stuck.json", plan)
		out := ok(t, "", "--execute", "--reassignment-json-file", planFile)
		mustContain(t, "execute", out, `{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`,
			"Successfully started partition reassignment for stuck-0\n")

		mustEqual(t, "verify", "Status of partition reassignment:\nReassignment of partition stuck-0 is still in progress.\n",
			ok(t, "", "--verify", "--reassignment-json-file", planFile))
		mustEqual(t, "list", "Current partition reassignments:\nstuck-0: replicas: 1,3,2. adding: 3. removing: 2.\n", ok(t, "", "--list"))
		var listed []reassignmentJSON
		decode(t, ok(t, "", "-o", "json", "--list"), &listed)
		mustEqual(t, "list (json)", []reassignmentJSON{{Topic: "stuck", Part: 0, Replicas: []int32{1, 3, 2}, Adding: []int32{3}, Removing: []int32{2}}}, listed)

		// Another --execute is refused while this one runs, unless --additional.
		other := `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2]}]}`
		r := fj(t, other, "--execute", "--reassignment-json-file", "-")
		if r.code != ExitError || !strings.Contains(r.stderr, "Cannot execute because there is an existing partition assignment.  Use --additional") || r.stdout != "" {
			t.Errorf("execute during a reassignment: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		mustContain(t, "--additional", ok(t, other, "--execute", "--additional", "--reassignment-json-file", "-"),
			"Successfully started partition reassignment for moves-0\n")

		mustEqual(t, "cancel", "Successfully cancelled partition reassignment for: stuck-0\n", ok(t, "", "--cancel", "--reassignment-json-file", planFile))
		waitUntil(t, "stuck-0 back on 1,2", func() (bool, string) {
			r := replicasOf(t, "stuck")
			return slices.Equal(r[0], []int32{1, 2}), fmt.Sprint(r)
		})
		mustEqual(t, "verify after cancel", "Status of partition reassignment:\n"+
			"There is no active reassignment of partition stuck-0, but replica set is 1,2 rather than 1,3.\n"+
			"\nClearing broker-level throttles on brokers 1,2\n"+
			"Clearing topic-level throttles on topic stuck\n",
			ok(t, "", "--verify", "--reassignment-json-file", planFile))
		mustEqual(t, "cancel again", "None of the specified partition reassignments are active.\n", ok(t, "", "--cancel", "--reassignment-json-file", planFile))
		var cj cancelJSON
		decode(t, ok(t, "", "-o", "json", "--cancel", "--reassignment-json-file", planFile), &cj)
		if cj.Cancelled == nil || len(cj.Cancelled) != 0 {
			t.Errorf("cancel (json): %+v", cj)
		}
		b, _ := json.Marshal(cj)
		mustEqual(t, "cancel (json) text", `{"cancelled":[]}`, string(b))
	})
}

// topicConfig is a topic's value of key ("" when unset).
func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		for _, c := range r.Configs {
			if c.Key == key {
				return c.MaybeValue()
			}
		}
	}
	return ""
}
