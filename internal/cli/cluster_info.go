package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// brokerJSON is one broker in `cluster info`'s JSON result.
type brokerJSON struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack"`
}

// clusterInfoJSON is `cluster info`'s JSON result.
type clusterInfoJSON struct {
	ClusterID  string       `json:"cluster_id"`
	Controller int32        `json:"controller"`
	Brokers    []brokerJSON `json:"brokers"`
}

func newClusterInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show the cluster ID, the controller and every broker's address",
		Args:  checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			m, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return opErr("cluster metadata", err, "")
			}
			out := clusterInfoJSON{ClusterID: m.Cluster, Controller: m.Controller, Brokers: []brokerJSON{}}
			for _, b := range m.Brokers {
				out.Brokers = append(out.Brokers, brokerJSON{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			fmt.Fprintf(w, "Cluster ID: %s\n", orDash(out.ClusterID))
			controller := "none"
			if out.Controller >= 0 {
				controller = fmt.Sprint(out.Controller)
			}
			fmt.Fprintf(w, "Controller: %s\n", controller)
			fmt.Fprintf(w, "Brokers:    %d\n\n", len(out.Brokers))
			t := newTable("ID", "ADDRESS", "RACK", "ROLE")
			for _, b := range out.Brokers {
				rack, role := "-", "-"
				if b.Rack != nil {
					rack = *b.Rack
				}
				if b.NodeID == out.Controller {
					role = "controller"
				}
				t.add(b.NodeID, fmt.Sprintf("%s:%d", b.Host, b.Port), rack, role)
			}
			return t.write(w, "")
		}),
	}
}
