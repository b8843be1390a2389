package cli

import "github.com/spf13/cobra"

// newClusterCmd is the `cluster` noun: what the cluster is made of, what
// its brokers speak, its metadata quorum its partition leaders, and where replicas live.
func newClusterCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("cluster", "Inspect the cluster: ID, controller, brokers, health, API versions, metadata quorum; elect leaders, reassign partitions, rebalance, decommission a broker")
	cmd.AddCommand(newClusterInfoCmd(g), newClusterHealthCmd(g), newClusterAPIVersionsCmd(g), newClusterQuorumCmd(g), newClusterElectLeadersCmd(g), newClusterReassignCmd(g), newClusterRebalanceCmd(g), newClusterDecommissionCmd(g))
	return cmd
}
