package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// groupDeleteJSON is one group in `group delete`'s JSON result.
type groupDeleteJSON struct {
	Group   string `json:"group"`
	Deleted bool   `json:"deleted"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func newGroupDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets (kafka-consumer-groups.sh --delete)",
		Long: `Delete groups with no active members, with their committed offsets. A group
with members fails with NON_EMPTY_GROUP; an unknown one with GROUP_ID_NOT_FOUND.`,
		Args: checkArgs(cobra.MinimumNArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			args = dedup(args)
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil && len(resps) == 0 {
				return groupErr("delete groups", err, "")
			}
			var (
				out      []groupDeleteJSON
				firstErr error
			)
			for _, name := range args {
				r, ok := resps[name]
				rerr, msg := r.Err, r.ErrMessage
				if !ok {
					// A shard error (coordinator unreachable) leaves the
					// group out of the responses.
					rerr = err
					if rerr == nil {
						rerr = errors.New("broker's response did not mention the group")
					}
				}
				o := groupDeleteJSON{Group: name, Deleted: rerr == nil}
				if rerr != nil {
					o.Error, o.Message = errName(rerr), msg
					if firstErr == nil {
						firstErr = groupErr(fmt.Sprintf("delete consumer group %q", name), rerr, msg)
					}
				}
				out = append(out, o)
			}
			if err := printGroupDelete(cmd.OutOrStdout(), g, out); err != nil {
				return err
			}
			return firstErr
		}),
	}
}

func printGroupDelete(w io.Writer, g *globals, out []groupDeleteJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	for _, o := range out {
		if o.Deleted {
			fmt.Fprintf(w, "Deleted consumer group %q.\n", o.Group)
		}
	}
	return nil
}
