package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// topicListJSON is one topic in `topic list`'s JSON result.
type topicListJSON struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal,omitempty"`
}

func newTopicListCmd(g *globals) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics (kafka-topics.sh --list)",
		Args:    checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			tds, err := list(ctx)
			if err != nil {
				return opErr("list topics", err, "")
			}
			out := make([]topicListJSON, 0, len(tds))
			for _, td := range tds.Sorted() {
				out = append(out, topicListJSON{
					Name: td.Topic, ID: formatTopicID(td.ID), Partitions: len(td.Partitions),
					ReplicationFactor: td.Partitions.NumReplicas(), Internal: td.IsInternal,
				})
			}
			return printTopicList(cmd, g, out)
		}),
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets, ...)")
	return cmd
}

func printTopicList(cmd *cobra.Command, g *globals, out []topicListJSON) error {
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(w, "No topics.")
		return nil
	}
	t := newTable("NAME", "PARTITIONS", "REPLICATION-FACTOR", "ID")
	for _, o := range out {
		name := o.Name
		if o.Internal {
			name += " (internal)"
		}
		t.add(name, o.Partitions, o.ReplicationFactor, orDash(o.ID))
	}
	return t.write(w, "")
}
