package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Where `cluster info` learnt the controller from.
const (
	sourceDescribeQuorum  = "DescribeQuorum"
	sourceDescribeCluster = "DescribeCluster"
	sourceMetadata        = "Metadata"
	describeClusterKey    = 60
)

// brokerJSON is one broker in `cluster info`'s JSON result.
type brokerJSON struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack"`
	// Fenced is true only when the broker said so (DescribeCluster v2);
	// older brokers list unfenced brokers only.
	Fenced bool `json:"fenced"`
}

// clusterInfoJSON is `cluster info`'s JSON result.
type clusterInfoJSON struct {
	ClusterID string `json:"cluster_id"`
	// Controller is the active controller (the metadata quorum's leader)
	// when the broker serves DescribeQuorum; otherwise the ID Metadata or
	// DescribeCluster names, which a KRaft broker may set to any broker
	// that forwards to the controller. -1: none.
	Controller       int32        `json:"controller"`
	ControllerSource string       `json:"controller_source"` // DescribeQuorum, DescribeCluster or Metadata
	Brokers          []brokerJSON `json:"brokers"`
	// FencedObservable is true when the broker listed fenced brokers too
	// (DescribeCluster v2, KIP-1073); otherwise a fenced broker is simply
	// absent.
	FencedObservable bool `json:"fenced_observable"`
	// QuorumOnly are members of the metadata quorum (voters and
	// observers) not listed as brokers: fenced, stopped, or
	// controller-only nodes. Empty without DescribeQuorum.
	QuorumOnly []int32 `json:"quorum_only,omitempty"`
}

func newClusterInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show the cluster ID, the active controller, every broker's address and rack, and fenced brokers",
		Long: `Show the cluster ID, the active controller and the brokers (ID, host:port, rack).

Brokers come from Metadata and DescribeCluster. A fenced broker (one that stopped
heartbeating to the controller, or has not caught up yet) is not in Metadata nor in
DescribeCluster v0-v1; DescribeCluster v2 (KIP-1073) lists it marked fenced, and is
used when the broker serves it. The active controller is the metadata quorum's leader
from DescribeQuorum when the broker serves it; quorum members that are not listed as
brokers are shown as such (fenced, stopped, or controller-only). Without DescribeQuorum
the controller is the ID Metadata names, which a KRaft broker may set to any broker.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			out, err := clusterInfo(ctx, cl, g)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return printClusterInfo(cmd.OutOrStdout(), out)
		}),
	}
}

// clusterInfo gathers what Metadata, DescribeCluster and DescribeQuorum
// say; only Metadata is required, the others add what they can.
func clusterInfo(ctx context.Context, cl *kgo.Client, g *globals) (*clusterInfoJSON, error) {
	m, err := g.adminOf(cl).BrokerMetadata(ctx)
	if err != nil {
		return nil, opErr("cluster metadata", err, "")
	}
	out := &clusterInfoJSON{ClusterID: m.Cluster, Controller: m.Controller, ControllerSource: sourceMetadata, Brokers: []brokerJSON{}}
	for _, b := range m.Brokers {
		out.Brokers = append(out.Brokers, brokerJSON{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	apis, _ := supportedAPIs(ctx, cl) // unknown: use Metadata alone
	if apis.serves(describeClusterKey, 0) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = true // v2+; older versions drop it
		if resp, err := req.RequestWith(ctx, cl); err == nil && kerr.ErrorForCode(resp.ErrorCode) == nil {
			mergeDescribeCluster(out, resp)
		}
	}
	if apis.serves(describeQuorumKey, 0) {
		if q, err := describeQuorum(ctx, cl); err == nil && q.LeaderID >= 0 {
			out.Controller, out.ControllerSource = q.LeaderID, sourceDescribeQuorum
			for _, id := range append(slices.Clone(q.CurrentVoters), q.CurrentObservers...) {
				if !out.listed(id) && !slices.Contains(out.QuorumOnly, id) {
					out.QuorumOnly = append(out.QuorumOnly, id)
				}
			}
			slices.Sort(out.QuorumOnly)
		}
	}
	slices.SortFunc(out.Brokers, func(a, b brokerJSON) int { return int(a.NodeID - b.NodeID) })
	return out, nil
}

// mergeDescribeCluster adds DescribeCluster's brokers (with v2, the fenced
// ones, marked) and, lacking better, its controller.
func mergeDescribeCluster(out *clusterInfoJSON, resp *kmsg.DescribeClusterResponse) {
	out.FencedObservable = resp.Version >= 2
	if out.ClusterID == "" {
		out.ClusterID = resp.ClusterID
	}
	if resp.ControllerID >= 0 {
		out.Controller, out.ControllerSource = resp.ControllerID, sourceDescribeCluster
	}
	for _, b := range resp.Brokers {
		i := slices.IndexFunc(out.Brokers, func(x brokerJSON) bool { return x.NodeID == b.NodeID })
		if i < 0 {
			out.Brokers = append(out.Brokers, brokerJSON{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
			i = len(out.Brokers) - 1
		}
		out.Brokers[i].Fenced = b.IsFenced
	}
}

func (c *clusterInfoJSON) listed(id int32) bool {
	return slices.ContainsFunc(c.Brokers, func(b brokerJSON) bool { return b.NodeID == id })
}

func printClusterInfo(w io.Writer, out *clusterInfoJSON) error {
	fmt.Fprintf(w, "Cluster ID: %s\n", orDash(out.ClusterID))
	controller := "none"
	if out.Controller >= 0 {
		controller = fmt.Sprint(out.Controller)
		switch out.ControllerSource {
		case sourceDescribeQuorum:
			controller += " (active controller: the metadata quorum's leader)"
		default:
			controller += " (as " + out.ControllerSource + " names it; a KRaft broker may name any broker)"
		}
	}
	fmt.Fprintf(w, "Controller: %s\n", controller)
	fenced := 0
	for _, b := range out.Brokers {
		if b.Fenced {
			fenced++
		}
	}
	fmt.Fprintf(w, "Brokers:    %d", len(out.Brokers))
	if fenced > 0 {
		fmt.Fprintf(w, " (%d fenced)", fenced)
	}
	fmt.Fprint(w, "\n\n")
	t := newTable("ID", "ADDRESS", "RACK", "STATUS", "ROLE")
	for _, b := range out.Brokers {
		rack, role, status := "-", "-", "unfenced"
		if b.Rack != nil {
			rack = *b.Rack
		}
		if b.NodeID == out.Controller {
			role = "controller"
		}
		if b.Fenced {
			status = "fenced"
		}
		t.add(b.NodeID, fmt.Sprintf("%s:%d", b.Host, b.Port), rack, status, role)
	}
	if err := t.write(w, ""); err != nil {
		return err
	}
	if len(out.QuorumOnly) > 0 {
		fmt.Fprintf(w, "\nIn the metadata quorum but not listed as brokers: %s (fenced, stopped, or controller-only)\n", int32List(out.QuorumOnly))
	}
	if !out.FencedObservable {
		fmt.Fprintln(w, "\nFenced brokers are not shown: Metadata and DescribeCluster before v2 list unfenced brokers only.")
	}
	return nil
}
