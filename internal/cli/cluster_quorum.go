package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The metadata log, as DescribeQuorum names it (KIP-595).
const (
	metadataTopic     = "__cluster_metadata"
	metadataPartition = 0
	describeQuorumKey = 55
)

// Replica statuses in `quorum describe --replication`, Kafka's words.
const (
	statusLeader   = "Leader"
	statusFollower = "Follower"
	statusObserver = "Observer"
)

// quorumReplicaJSON is one voter or observer of the metadata quorum.
type quorumReplicaJSON struct {
	NodeID      int32  `json:"node_id"`
	DirectoryID string `json:"directory_id,omitempty"` // v2+, "" when unset
	// LogEndOffset is the last known log end offset, -1 if unknown.
	LogEndOffset int64 `json:"log_end_offset"`
	// Lag is the leader's log end offset minus this replica's, -1 if
	// either is unknown.
	Lag int64 `json:"lag"`
	// LastFetchTimestamp and LastCaughtUpTimestamp are the leader's wall
	// clock (ms since the epoch), -1 if unknown (always for the leader).
	LastFetchTimestamp    int64    `json:"last_fetch_timestamp"`
	LastCaughtUpTimestamp int64    `json:"last_caught_up_timestamp"`
	Status                string   `json:"status"`              // Leader, Follower or Observer
	Endpoints             []string `json:"endpoints,omitempty"` // v2+: NAME://host:port
}

// quorumJSON is `cluster quorum describe`'s JSON result (both views).
type quorumJSON struct {
	ClusterID     string `json:"cluster_id"`
	LeaderID      int32  `json:"leader_id"`
	LeaderEpoch   int32  `json:"leader_epoch"`
	HighWatermark int64  `json:"high_watermark"`
	// MaxFollowerLag is the leader's log end offset minus the least
	// caught-up voter's, as kafka-metadata-quorum.sh computes it; -1 if
	// the leader is not among the voters.
	MaxFollowerLag       int64               `json:"max_follower_lag"`
	MaxFollowerLagTimeMs int64               `json:"max_follower_lag_time_ms"`
	CurrentVoters        []int32             `json:"current_voters"`
	CurrentObservers     []int32             `json:"current_observers"`
	Replicas             []quorumReplicaJSON `json:"replicas"` // leader, other voters, observers
	Version              int16               `json:"describe_quorum_version"`
}

func newClusterQuorumCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("quorum", "Inspect the metadata quorum and change its voters (kafka-metadata-quorum.sh)")
	cmd.AddCommand(newClusterQuorumDescribeCmd(g), newClusterQuorumAddCmd(g), newClusterQuorumRemoveCmd(g))
	return cmd
}

func newClusterQuorumDescribeCmd(g *globals) *cobra.Command {
	var status, replication, human bool
	cmd := &cobra.Command{
		Use:   "describe --status | --replication",
		Short: "Describe the metadata quorum: leader, epoch, high watermark, voters and observers, per-replica lag",
		Long: `Describe the KRaft metadata quorum as kafka-metadata-quorum.sh describe does, through
DescribeQuorum (API key 55) on topic __cluster_metadata, partition 0; any broker
forwards it to the active controller.

--status prints ClusterId, LeaderId, LeaderEpoch, HighWatermark, MaxFollowerLag,
MaxFollowerLagTimeMs, CurrentVoters and CurrentObservers. --replication prints one
row per replica: NodeId, DirectoryId (DescribeQuorum v2+), LogEndOffset, Lag (behind
the leader), LastFetchTimestamp, LastCaughtUpTimestamp (ms since the epoch, -1 when
unknown; --human-readable shows "N ms ago") and Status (Leader, Follower, Observer).
--output json prints both views.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if status == replication && !g.json() {
				return usagef("give exactly one of --status and --replication")
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			q, err := describeQuorum(ctx, cl)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case g.json():
				return writeJSON(w, q)
			case status:
				printQuorumStatus(w, q)
				return nil
			default:
				return printQuorumReplication(w, q, human, time.Now())
			}
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&status, "status", false, "the quorum's leader, epoch, high watermark, lag and members")
	f.BoolVar(&replication, "replication", false, "one row per voter and observer: log end offset, lag, fetch times, status")
	f.BoolVar(&human, "human-readable", false, "with --replication: timestamps as \"N ms ago\"")
	return cmd
}

// describeQuorum sends DescribeQuorum for the metadata partition and
// returns what the response holds; the cluster ID comes from Metadata.
func describeQuorum(ctx context.Context, cl *kgo.Client) (*quorumJSON, error) {
	if apis, err := supportedAPIs(ctx, cl); err == nil && !apis.serves(describeQuorumKey, 0) {
		e := opErr("describe quorum", kerr.UnsupportedVersion, "the broker does not serve DescribeQuorum (API key 55)")
		e.hint = "KRaft brokers (Kafka 3.3+) serve it; `fjord cluster api-versions` lists what this one serves"
		return nil, e
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rp.Partition = metadataPartition
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, opErr("describe quorum", err, "")
	}
	q, err := quorumFromResponse(resp)
	if err != nil {
		return nil, err
	}
	md := kmsg.NewPtrMetadataRequest() // no topics: only brokers and the cluster ID
	md.Topics = []kmsg.MetadataRequestTopic{}
	if mr, err := md.RequestWith(ctx, cl); err == nil && mr.ClusterID != nil {
		q.ClusterID = *mr.ClusterID
	}
	return q, nil
}

// quorumFromResponse turns a DescribeQuorum response into the result:
// lags against the leader's log end offset, rows ordered leader, other
// voters, observers, as kafka-metadata-quorum.sh orders them.
func quorumFromResponse(resp *kmsg.DescribeQuorumResponse) (*quorumJSON, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, opErr("describe quorum", err, deref(resp.ErrorMessage))
	}
	var p *kmsg.DescribeQuorumResponseTopicPartition
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			if t.Topic == metadataTopic && t.Partitions[j].Partition == metadataPartition {
				p = &t.Partitions[j]
			}
		}
	}
	if p == nil {
		return nil, opErr("describe quorum", fmt.Errorf("the response has no %s-%d", metadataTopic, metadataPartition), "")
	}
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, opErr(fmt.Sprintf("describe quorum %s-%d", metadataTopic, metadataPartition), err, deref(p.ErrorMessage))
	}
	endpoints := map[int32][]string{}
	for _, n := range resp.Nodes {
		for _, l := range n.Listeners {
			endpoints[n.NodeID] = append(endpoints[n.NodeID], fmt.Sprintf("%s://%s:%d", l.Name, l.Host, l.Port))
		}
	}
	q := &quorumJSON{
		LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark,
		MaxFollowerLag: -1, MaxFollowerLagTimeMs: -1,
		CurrentVoters: []int32{}, CurrentObservers: []int32{}, Replicas: []quorumReplicaJSON{},
		Version: resp.Version,
	}
	var leader *kmsg.DescribeQuorumResponseTopicPartitionReplicaState
	for i := range p.CurrentVoters {
		if p.CurrentVoters[i].ReplicaID == p.LeaderID {
			leader = &p.CurrentVoters[i]
		}
	}
	row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) quorumReplicaJSON {
		lag := int64(-1)
		if leader != nil && leader.LogEndOffset >= 0 && r.LogEndOffset >= 0 {
			lag = leader.LogEndOffset - r.LogEndOffset
		}
		return quorumReplicaJSON{
			NodeID: r.ReplicaID, DirectoryID: directoryID(r.ReplicaDirectoryID), LogEndOffset: r.LogEndOffset, Lag: lag,
			LastFetchTimestamp: r.LastFetchTimestamp, LastCaughtUpTimestamp: r.LastCaughtUpTimestamp,
			Status: status, Endpoints: endpoints[r.ReplicaID],
		}
	}
	if leader != nil {
		q.Replicas = append(q.Replicas, row(*leader, statusLeader))
		// The least caught-up voter, as Kafka's tool picks it.
		slowest := leader
		for i := range p.CurrentVoters {
			if p.CurrentVoters[i].LogEndOffset < slowest.LogEndOffset {
				slowest = &p.CurrentVoters[i]
			}
		}
		q.MaxFollowerLag = leader.LogEndOffset - slowest.LogEndOffset
		switch {
		case slowest == leader:
			q.MaxFollowerLagTimeMs = 0
		case leader.LastCaughtUpTimestamp >= 0 && slowest.LastCaughtUpTimestamp >= 0:
			q.MaxFollowerLagTimeMs = leader.LastCaughtUpTimestamp - slowest.LastCaughtUpTimestamp
		}
	}
	for _, v := range p.CurrentVoters {
		q.CurrentVoters = append(q.CurrentVoters, v.ReplicaID)
		if leader == nil || v.ReplicaID != leader.ReplicaID {
			q.Replicas = append(q.Replicas, row(v, statusFollower))
		}
	}
	for _, o := range p.Observers {
		q.CurrentObservers = append(q.CurrentObservers, o.ReplicaID)
		q.Replicas = append(q.Replicas, row(o, statusObserver))
	}
	return q, nil
}

// directoryID renders a replica directory ID (KIP-853) as Kafka does,
// "" for the zero ID of replicas without one.
func directoryID(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// printQuorumStatus prints kafka-metadata-quorum.sh's --status block.
func printQuorumStatus(w io.Writer, q *quorumJSON) {
	fmt.Fprintf(w, "ClusterId:              %s\n", orDash(q.ClusterID))
	fmt.Fprintf(w, "LeaderId:               %d\n", q.LeaderID)
	fmt.Fprintf(w, "LeaderEpoch:            %d\n", q.LeaderEpoch)
	fmt.Fprintf(w, "HighWatermark:          %d\n", q.HighWatermark)
	fmt.Fprintf(w, "MaxFollowerLag:         %d\n", q.MaxFollowerLag)
	fmt.Fprintf(w, "MaxFollowerLagTimeMs:   %d\n", q.MaxFollowerLagTimeMs)
	fmt.Fprintf(w, "CurrentVoters:          %s\n", memberList(q, q.CurrentVoters))
	fmt.Fprintf(w, "CurrentObservers:       %s\n", memberList(q, q.CurrentObservers))
}

// memberList prints members as [1,2,3], or, when the response carried
// directory IDs or endpoints (v2), as Kafka 3.9's tool does:
// [{"id": 1, "directoryId": "...", "endpoints": ["CONTROLLER://host:port"]}].
func memberList(q *quorumJSON, ids []int32) string {
	detail := map[int32]quorumReplicaJSON{}
	rich := false
	for _, r := range q.Replicas {
		detail[r.NodeID] = r
		rich = rich || r.DirectoryID != "" || len(r.Endpoints) > 0
	}
	if !rich {
		return "[" + int32List(ids) + "]"
	}
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		r := detail[id]
		s := fmt.Sprintf(`{"id": %d`, id)
		if r.DirectoryID != "" {
			s += fmt.Sprintf(`, "directoryId": %q`, r.DirectoryID)
		}
		if len(r.Endpoints) > 0 {
			quoted := make([]string, len(r.Endpoints))
			for i, e := range r.Endpoints {
				quoted[i] = fmt.Sprintf("%q", e)
			}
			s += `, "endpoints": [` + strings.Join(quoted, ", ") + "]"
		}
		parts = append(parts, s+"}")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// printQuorumReplication prints kafka-metadata-quorum.sh's --replication
// table; the DirectoryId column only when the response could carry one.
func printQuorumReplication(w io.Writer, q *quorumJSON, human bool, now time.Time) error {
	withDir := q.Version >= 2
	headers := []string{"NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"}
	if withDir {
		headers = append([]string{"NodeId", "DirectoryId"}, headers[1:]...)
	}
	t := newTable(headers...)
	for _, r := range q.Replicas {
		cells := []any{r.NodeID, r.LogEndOffset, r.Lag, quorumTime(r.LastFetchTimestamp, human, now), quorumTime(r.LastCaughtUpTimestamp, human, now), r.Status}
		if withDir {
			cells = append([]any{r.NodeID, orDash(r.DirectoryID)}, cells[1:]...)
		}
		t.add(cells...)
	}
	return t.write(w, "")
}

// quorumTime prints a leader timestamp: raw milliseconds as Kafka's tool
// does, or "N ms ago" with --human-readable; -1 (unknown) stays -1.
func quorumTime(ms int64, human bool, now time.Time) string {
	if !human || ms < 0 {
		return fmt.Sprint(ms)
	}
	return fmt.Sprintf("%d ms ago", max(now.UnixMilli()-ms, 0))
}
