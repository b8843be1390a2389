package cli

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestPrintClusterInfo(t *testing.T) {
	rack := "a"
	tests := []struct {
		name string
		in   clusterInfoJSON
		want []string
		not  []string
	}{
		{"active controller, fenced broker, quorum-only node", clusterInfoJSON{
			ClusterID: "c1", Controller: 2, ControllerSource: sourceDescribeQuorum, FencedObservable: true,
			Brokers: []brokerJSON{
				{NodeID: 1, Host: "h1", Port: 9092, Rack: &rack},
				{NodeID: 2, Host: "h2", Port: 9092},
				{NodeID: 3, Host: "h3", Port: 9092, Fenced: true},
			},
			QuorumOnly: []int32{4},
		}, []string{
			"Cluster ID: c1\n", "Controller: 2 (active controller: the metadata quorum's leader)\n", "Brokers:    3 (1 fenced)\n",
			"ID  ADDRESS  RACK  STATUS    ROLE\n", "1   h1:9092  a     unfenced  -\n", "2   h2:9092  -     unfenced  controller\n",
			"3   h3:9092  -     fenced    -\n", "In the metadata quorum but not listed as brokers: 4 (fenced, stopped, or controller-only)",
		}, []string{"Fenced brokers are not shown"}},
		{"Metadata only", clusterInfoJSON{
			ClusterID: "c2", Controller: 1, ControllerSource: sourceMetadata,
			Brokers: []brokerJSON{{NodeID: 1, Host: "h1", Port: 9092}},
		}, []string{
			"Controller: 1 (as Metadata names it; a KRaft broker may name any broker)",
			"Fenced brokers are not shown: Metadata and DescribeCluster before v2 list unfenced brokers only.",
		}, []string{"fenced)", "quorum"}},
		{"no controller", clusterInfoJSON{Controller: -1, ControllerSource: sourceMetadata, Brokers: []brokerJSON{}},
			[]string{"Cluster ID: -\n", "Controller: none\n", "Brokers:    0\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printClusterInfo(&b, &tt.in); err != nil {
				t.Fatal(err)
			}
			mustContain(t, "output", b.String(), tt.want...)
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("output contains %q:\n%s", n, b.String())
				}
			}
		})
	}
}

// TestClusterInfo_FencedAndQuorum: DescribeCluster v2 marks a fenced
// broker, and DescribeQuorum names the active controller and a voter that
// no broker list shows.
func TestClusterInfo_FencedAndQuorum(t *testing.T) {
	f := newFakeCluster(t, 3, kfake.ClusterID("info-cluster"))
	f.answer(describeClusterKey, func(req kmsg.Request) kmsg.Response {
		resp := req.(*kmsg.DescribeClusterRequest).ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ClusterID, resp.ControllerID = "info-cluster", 0
		for _, id := range []int32{0, 1, 2, 7} {
			b := kmsg.NewDescribeClusterResponseBroker()
			b.NodeID, b.Host, b.Port, b.IsFenced = id, "127.0.0.1", 9000+id, id == 7 && req.(*kmsg.DescribeClusterRequest).IncludeFencedBrokers
			if id == 7 && !b.IsFenced {
				continue
			}
			resp.Brokers = append(resp.Brokers, b)
		}
		return resp
	})
	f.advertise(describeQuorumKey, 2)
	f.answer(describeQuorumKey, func(kmsg.Request) kmsg.Response {
		return quorumResponse(1, 1, 3, 10, []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
			replica(0, 10, 1, 1), replica(1, 10, -1, -1), replica(2, 10, 1, 1), replica(9, 10, 1, 1),
		}, nil)
	})
	var info clusterInfoJSON
	decode(t, f.ok("cluster", "info", "-o", "json").stdout, &info)
	if info.Controller != 1 || info.ControllerSource != sourceDescribeQuorum || !info.FencedObservable {
		t.Errorf("controller %d from %s, fenced observable %v: want 1 from DescribeQuorum, true", info.Controller, info.ControllerSource, info.FencedObservable)
	}
	var ids, fenced []int32
	for _, b := range info.Brokers {
		ids = append(ids, b.NodeID)
		if b.Fenced {
			fenced = append(fenced, b.NodeID)
		}
	}
	if !slices.Equal(ids, []int32{0, 1, 2, 7}) || !slices.Equal(fenced, []int32{7}) || !slices.Equal(info.QuorumOnly, []int32{9}) {
		t.Errorf("brokers %v, fenced %v, quorum only %v: want 0,1,2,7; 7; 9", ids, fenced, info.QuorumOnly)
	}
	r := f.ok("cluster", "info")
	mustContain(t, "table", r.stdout, "Brokers:    4 (1 fenced)", "fenced    -", "1   127.0.0.1:", "controller",
		"In the metadata quorum but not listed as brokers: 9")
}

// electFake answers ElectLeaders with one result per asked partition:
// partition 0 elected, 1 not needed, 2 preferred leader not available.
func electFake(t *testing.T) *fakeCluster {
	f := newFakeCluster(t, 1, kfake.SeedTopics(3, "orders", "events"))
	f.answer(43, func(req kmsg.Request) kmsg.Response {
		r := req.(*kmsg.ElectLeadersRequest)
		resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
		topics := r.Topics
		if topics == nil { // all partitions
			for _, name := range []string{"orders", "events"} {
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic, rt.Partitions = name, []int32{0, 1, 2}
				topics = append(topics, rt)
			}
		}
		codes := []int16{0, kerr.ElectionNotNeeded.Code, kerr.PreferredLeaderNotAvailable.Code}
		for _, rt := range topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, codes[p%3]
				if sp.ErrorCode != 0 {
					sp.ErrorMessage = new(fmt.Sprintf("message %d", p))
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	})
	return f
}

func TestClusterElectLeaders(t *testing.T) {
	f := electFake(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		topics []kmsg.ElectLeadersRequestTopic // what the request asks; nil: all
		etype  int8
		stdout []string
		stderr []string
	}{
		{name: "all partitions, preferred", args: []string{"--election-type", "preferred", "--all-topic-partitions"}, code: ExitError,
			stdout: []string{"TOPIC   PARTITION  RESULT", "events  0          elected", "events  1          ELECTION_NOT_NEEDED: message 1",
				"orders  2          PREFERRED_LEADER_NOT_AVAILABLE: message 2", "preferred election: 2 elected, 2 not needed, 2 failed."},
			stderr: []string{"leader election failed for 2 partition(s) (events-2, orders-2): PREFERRED_LEADER_NOT_AVAILABLE", "Hint: the preferred replica"}},
		{name: "one topic, unclean, case-insensitive", args: []string{"--election-type", "UNCLEAN", "--topic", "orders", "--partition", "0,1"}, code: ExitOK,
			topics: []kmsg.ElectLeadersRequestTopic{{Topic: "orders", Partitions: []int32{0, 1}}}, etype: 1,
			stdout: []string{"orders  0          elected", "orders  1          ELECTION_NOT_NEEDED", "unclean election: 1 elected, 1 not needed, 0 failed."}},
		{name: "whole topic", args: []string{"--election-type", "preferred", "--topic", "events"}, code: ExitError,
			topics: []kmsg.ElectLeadersRequestTopic{{Topic: "events", Partitions: []int32{0, 1, 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.seen(43))
			r := f.run(append([]string{"cluster", "elect-leaders"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			mustContain(t, "stdout", r.stdout, tt.stdout...)
			mustContain(t, "stderr", r.stderr, tt.stderr...)
			reqs := f.seen(43)
			if len(reqs) != before+1 {
				t.Fatalf("%d ElectLeaders requests, want 1", len(reqs)-before)
			}
			req := reqs[len(reqs)-1].(*kmsg.ElectLeadersRequest)
			var got []kmsg.ElectLeadersRequestTopic
			for _, rt := range req.Topics {
				got = append(got, kmsg.ElectLeadersRequestTopic{Topic: rt.Topic, Partitions: rt.Partitions})
			}
			mustEqual(t, "request topics", tt.topics, got)
			if req.ElectionType != tt.etype {
				t.Errorf("election type %d, want %d", req.ElectionType, tt.etype)
			}
		})
	}

	var out []electionJSON
	r := f.run("cluster", "elect-leaders", "--election-type", "preferred", "--topic", "orders", "--partition", "1", "-o", "json")
	decode(t, r.stdout, &out)
	mustEqual(t, "JSON", []electionJSON{{Topic: "orders", Partition: 1, Result: electNotNeeded, Error: "ELECTION_NOT_NEEDED", Message: "message 1"}}, out)
}

func TestClusterElectLeaders_Errors(t *testing.T) {
	f := electFake(t)
	usage := [][]string{
		{"--all-topic-partitions"},
		{"--election-type", "dirty", "--all-topic-partitions"},
		{"--election-type", "preferred"},
		{"--election-type", "preferred", "--all-topic-partitions", "--topic", "orders"},
		{"--election-type", "preferred", "--all-topic-partitions", "--partition", "1"},
	}
	for _, args := range usage {
		if r := f.run(append([]string{"cluster", "elect-leaders"}, args...)...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want usage\n%s", args, r.code, r.stderr)
		}
	}
	// A missing topic or partition fails before any election is asked.
	for _, args := range [][]string{{"--topic", "nope"}, {"--topic", "orders", "--partition", "9"}} {
		r := f.run(append([]string{"cluster", "elect-leaders", "--election-type", "preferred"}, args...)...)
		if r.code != ExitError {
			t.Errorf("%v: exit %d, want %d", args, r.code, ExitError)
		}
		mustContain(t, "stderr", r.stderr, "UNKNOWN_TOPIC_OR_PARTITION")
	}
	if n := len(f.seen(43)); n != 0 {
		t.Errorf("%d ElectLeaders requests sent for invalid elections", n)
	}
	// A top-level error (e.g. from the controller) fails the command.
	g := newFakeCluster(t, 1)
	g.answer(43, func(req kmsg.Request) kmsg.Response {
		resp := req.(*kmsg.ElectLeadersRequest).ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	})
	r := g.run("cluster", "elect-leaders", "--election-type", "preferred", "--all-topic-partitions")
	if r.code != ExitError {
		t.Errorf("top-level error: exit %d", r.code)
	}
	mustContain(t, "stderr", r.stderr, "CLUSTER_AUTHORIZATION_FAILED")
}

// TestClusterElectLeaders_Kfake lets kfake elect (it rotates leaders among
// its brokers): every asked partition reports a result.
func TestClusterElectLeaders_Kfake(t *testing.T) {
	f := newFakeCluster(t, 3, kfake.SeedTopics(2, "rot"))
	var out []electionJSON
	r := f.run("cluster", "elect-leaders", "--election-type", "preferred", "--topic", "rot", "-o", "json")
	decode(t, r.stdout, &out)
	if len(out) != 2 || out[0].Partition != 0 || out[1].Partition != 1 {
		t.Fatalf("results %+v (exit %d, %s): want partitions 0 and 1", out, r.code, r.stderr)
	}
}

// kfakeWithout returns kfake options that stop it advertising key.
func kfakeWithout(key int16) kfake.Opt {
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, -1)
	return kfake.MaxVersions(v)
}
