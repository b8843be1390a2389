package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replica builds a DescribeQuorum replica state.
func replica(id int32, leo, lastFetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, lastFetch, caughtUp
	return r
}

// quorumResponse is a DescribeQuorum answer for __cluster_metadata-0.
func quorumResponse(version int16, leader, epoch int32, hw int64, voters, observers []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	resp.Version = version
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition, p.LeaderID, p.LeaderEpoch, p.HighWatermark = 0, leader, epoch, hw
	p.CurrentVoters, p.Observers = voters, observers
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = metadataTopic
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	return resp
}

func TestQuorumFromResponse(t *testing.T) {
	voters := []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
		replica(1, 120, 1000, 1000), replica(2, 130, -1, -1), replica(3, 100, 990, 900),
	}
	v2 := quorumResponse(2, 2, 7, 125, slices.Clone(voters), []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{replica(4, 110, 995, 950)})
	v2.Topics[0].Partitions[0].CurrentVoters[0].ReplicaDirectoryID = [16]byte{1}
	node := kmsg.NewDescribeQuorumResponseNode()
	node.NodeID = 1
	l := kmsg.NewDescribeQuorumResponseNodeListener()
	l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", 9093
	node.Listeners = append(node.Listeners, l)
	v2.Nodes = append(v2.Nodes, node)

	noLeader := quorumResponse(0, -1, 3, 0, slices.Clone(voters), nil)
	topErr := quorumResponse(1, 1, 1, 1, nil, nil)
	topErr.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	partErr := quorumResponse(2, 1, 1, 1, nil, nil)
	partErr.Topics[0].Partitions[0].ErrorCode = kerr.NotLeaderForPartition.Code
	partErr.Topics[0].Partitions[0].ErrorMessage = new("leadership moved")
	missing := kmsg.NewPtrDescribeQuorumResponse()

	tests := []struct {
		name    string
		resp    *kmsg.DescribeQuorumResponse
		want    *quorumJSON
		wantErr string
	}{
		{name: "v2 with observer, directory ID and endpoints", resp: v2, want: &quorumJSON{
			LeaderID: 2, LeaderEpoch: 7, HighWatermark: 125,
			MaxFollowerLag: 30, MaxFollowerLagTimeMs: -1, // the leader's caught-up time is unknown (-1)
			CurrentVoters: []int32{1, 2, 3}, CurrentObservers: []int32{4}, Version: 2,
			Replicas: []quorumReplicaJSON{
				{NodeID: 2, LogEndOffset: 130, Lag: 0, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1, Status: statusLeader},
				{NodeID: 1, DirectoryID: "AQAAAAAAAAAAAAAAAAAAAA", LogEndOffset: 120, Lag: 10, LastFetchTimestamp: 1000, LastCaughtUpTimestamp: 1000, Status: statusFollower, Endpoints: []string{"CONTROLLER://127.0.0.1:9093"}},
				{NodeID: 3, LogEndOffset: 100, Lag: 30, LastFetchTimestamp: 990, LastCaughtUpTimestamp: 900, Status: statusFollower},
				{NodeID: 4, LogEndOffset: 110, Lag: 20, LastFetchTimestamp: 995, LastCaughtUpTimestamp: 950, Status: statusObserver},
			},
		}},
		{name: "no leader: lags unknown", resp: noLeader, want: &quorumJSON{
			LeaderID: -1, LeaderEpoch: 3, MaxFollowerLag: -1, MaxFollowerLagTimeMs: -1,
			CurrentVoters: []int32{1, 2, 3}, CurrentObservers: []int32{},
			Replicas: []quorumReplicaJSON{
				{NodeID: 1, LogEndOffset: 120, Lag: -1, LastFetchTimestamp: 1000, LastCaughtUpTimestamp: 1000, Status: statusFollower},
				{NodeID: 2, LogEndOffset: 130, Lag: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1, Status: statusFollower},
				{NodeID: 3, LogEndOffset: 100, Lag: -1, LastFetchTimestamp: 990, LastCaughtUpTimestamp: 900, Status: statusFollower},
			},
		}},
		{name: "top-level error", resp: topErr, wantErr: "CLUSTER_AUTHORIZATION_FAILED"},
		{name: "partition error with message", resp: partErr, wantErr: "NOT_LEADER_FOR_PARTITION: This server is not the leader for that topic-partition. (leadership moved)"},
		{name: "no metadata partition", resp: missing, wantErr: "no __cluster_metadata-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := quorumFromResponse(tt.resp)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "quorum", tt.want, got)
		})
	}
}

func TestPrintQuorum(t *testing.T) {
	q := &quorumJSON{
		ClusterID: "abc", LeaderID: 1, LeaderEpoch: 4, HighWatermark: 50, MaxFollowerLag: 5, MaxFollowerLagTimeMs: 20,
		CurrentVoters: []int32{1, 2}, CurrentObservers: []int32{3},
		Replicas: []quorumReplicaJSON{
			{NodeID: 1, LogEndOffset: 50, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1, Status: statusLeader},
			{NodeID: 2, LogEndOffset: 45, Lag: 5, LastFetchTimestamp: 9000, LastCaughtUpTimestamp: 8000, Status: statusFollower},
			{NodeID: 3, LogEndOffset: 50, LastFetchTimestamp: 9500, LastCaughtUpTimestamp: 9500, Status: statusObserver},
		},
	}
	var b bytes.Buffer
	printQuorumStatus(&b, q)
	want := `ClusterId:              abc
LeaderId:               1
LeaderEpoch:            4
HighWatermark:          50
MaxFollowerLag:         5
MaxFollowerLagTimeMs:   20
CurrentVoters:          [1,2]
CurrentObservers:       [3]
`
	mustEqual(t, "--status", want, b.String())

	b.Reset()
	if err := printQuorumReplication(&b, q, false, time.UnixMilli(10000)); err != nil {
		t.Fatal(err)
	}
	want = `NodeId  LogEndOffset  Lag  LastFetchTimestamp  LastCaughtUpTimestamp  Status
1       50            0    -1                  -1                     Leader
2       45            5    9000                8000                   Follower
3       50            0    9500                9500                   Observer
`
	mustEqual(t, "--replication", want, b.String())

	b.Reset()
	q.Version = 2
	q.Replicas[1].DirectoryID = "dir2"
	q.Replicas[1].Endpoints = []string{"CONTROLLER://h:9093"}
	if err := printQuorumReplication(&b, q, true, time.UnixMilli(10000)); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "v2 --replication --human-readable", b.String(), "NodeId  DirectoryId  LogEndOffset", "dir2", "1000 ms ago", "500 ms ago")
	b.Reset()
	printQuorumStatus(&b, q)
	mustContain(t, "v2 --status", b.String(), `CurrentVoters:          [{"id": 1}, {"id": 2, "directoryId": "dir2", "endpoints": ["CONTROLLER://h:9093"]}]`)
}

// TestClusterQuorumDescribe runs the verb against kfake, which does not
// serve DescribeQuorum: the test advertises and answers it.
func TestClusterQuorumDescribe(t *testing.T) {
	f := newFakeCluster(t, 1, kfake.ClusterID("quorum-cluster"))
	r := f.run("cluster", "quorum", "describe", "--status")
	if r.code != ExitError {
		t.Fatalf("without DescribeQuorum: exit %d, want %d\n%s", r.code, ExitError, r.stderr)
	}
	mustContain(t, "stderr", r.stderr, "UNSUPPORTED_VERSION", "does not serve DescribeQuorum (API key 55)", "Hint: ")

	f.advertise(describeQuorumKey, 2)
	f.answer(describeQuorumKey, func(kmsg.Request) kmsg.Response {
		return quorumResponse(2, 1, 5, 42, []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
			replica(1, 42, -1, -1), replica(2, 40, 1700000000000, 1700000000000), replica(3, 42, 1700000000100, 1700000000100),
		}, nil)
	})
	r = f.ok("cluster", "quorum", "describe", "--status")
	mustContain(t, "--status", r.stdout, "ClusterId:              quorum-cluster", "LeaderId:               1",
		"LeaderEpoch:            5", "HighWatermark:          42", "MaxFollowerLag:         2", "CurrentVoters:          [1,2,3]", "CurrentObservers:       []")
	r = f.ok("cluster", "quorum", "describe", "--replication")
	mustContain(t, "--replication", r.stdout, "NodeId  DirectoryId  LogEndOffset  Lag", "1700000000000", "Leader", "Follower")
	var q quorumJSON
	decode(t, f.ok("cluster", "quorum", "describe", "-o", "json").stdout, &q)
	if q.LeaderID != 1 || len(q.Replicas) != 3 || q.Replicas[1].Lag != 2 || q.ClusterID != "quorum-cluster" {
		t.Errorf("JSON = %+v", q)
	}
	// The request names the metadata partition, as Kafka's admin client does.
	reqs := f.seen(describeQuorumKey)
	if len(reqs) == 0 {
		t.Fatal("no DescribeQuorum request reached the fake")
	}
	req := reqs[0].(*kmsg.DescribeQuorumRequest)
	if len(req.Topics) != 1 || req.Topics[0].Topic != "__cluster_metadata" || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		t.Errorf("request topics = %+v", req.Topics)
	}

	for _, args := range [][]string{{}, {"--status", "--replication"}} {
		r := f.run(append([]string{"cluster", "quorum", "describe"}, args...)...)
		if r.code != ExitUsage {
			t.Errorf("describe %v: exit %d, want usage", args, r.code)
		}
	}
}
