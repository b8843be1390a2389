package cli

import "github.com/spf13/cobra"

// newClusterCmd is the `cluster` noun: what the cluster is made of and
// what its brokers speak.
func newClusterCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("cluster", "Inspect the cluster: ID, controller, brokers, API versions")
	cmd.AddCommand(newClusterInfoCmd(g), newClusterAPIVersionsCmd(g))
	return cmd
}
