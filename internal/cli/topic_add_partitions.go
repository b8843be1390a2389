package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// topicAddPartitionsJSON is `topic add-partitions`' JSON result.
type topicAddPartitionsJSON struct {
	Name       string `json:"name"`
	Partitions int    `json:"partitions"`
}

func newTopicAddPartitionsCmd(g *globals) *cobra.Command {
	var total int
	cmd := &cobra.Command{
		Use:   "add-partitions NAME --partitions N",
		Short: "Raise a topic's partition count to N (kafka-topics.sh --alter --partitions)",
		Long: `Raise a topic's partition count to N in total, as kafka-topics.sh --alter
--partitions does. Partitions can only be added; keyed records may then map
to different partitions than before.`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if total <= 0 {
				return usagef("--partitions N (the new total, at least 1) is required")
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			op := fmt.Sprintf("add partitions to topic %q", name)
			resps, err := adm.UpdatePartitions(ctx, total, name)
			if err != nil {
				return opErr(op, err, "")
			}
			r, err := resps.On(name, nil)
			if err != nil {
				return opErr(op, err, "")
			}
			if r.Err != nil {
				return opErr(op, r.Err, r.ErrMessage)
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, topicAddPartitionsJSON{Name: name, Partitions: total})
			}
			fmt.Fprintf(w, "Topic %q now has %d partition(s).\n", name, total)
			return nil
		}),
	}
	cmd.Flags().IntVarP(&total, "partitions", "p", 0, "the new total partition count")
	return cmd
}
