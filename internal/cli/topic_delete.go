package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicDeleteJSON is one topic in `topic delete`'s JSON result.
type topicDeleteJSON struct {
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func newTopicDeleteCmd(g *globals) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete topics (kafka-topics.sh --delete)",
		Args:    checkArgs(cobra.MinimumNArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if isInternalTopic(name) {
					// kafka-topics.sh refuses this too: the group and
					// transaction coordinators keep their state there.
					return usageErr(fmt.Errorf("topic %s is a Kafka internal topic and is not allowed to be marked for deletion", name))
				}
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return opErr("delete topics", err, "")
			}
			var (
				out      []topicDeleteJSON
				firstErr error
				seen     = map[string]bool{}
			)
			for _, name := range args {
				if seen[name] {
					continue
				}
				seen[name] = true
				r, ok := resps[name]
				rerr, msg := r.Err, r.ErrMessage
				if !ok {
					rerr = errors.New("broker's response did not mention the topic")
				}
				o := topicDeleteJSON{Name: name, Deleted: rerr == nil}
				switch {
				case rerr == nil:
				case ifExists && errors.Is(rerr, kerr.UnknownTopicOrPartition):
				default:
					o.Error, o.Message = errName(rerr), msg
					if firstErr == nil {
						firstErr = opErr(fmt.Sprintf("delete topic %q", name), rerr, msg)
					}
				}
				out = append(out, o)
			}
			if err := printTopicDelete(cmd.OutOrStdout(), g, out); err != nil {
				return err
			}
			return firstErr
		}),
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed for topics that do not exist")
	return cmd
}

func printTopicDelete(w io.Writer, g *globals, out []topicDeleteJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	for _, o := range out {
		switch {
		case o.Deleted:
			fmt.Fprintf(w, "Deleted topic %q.\n", o.Name)
		case o.Error == "":
			fmt.Fprintf(w, "Topic %q does not exist.\n", o.Name)
		}
	}
	return nil
}

// isInternalTopic reports Kafka's internal topics, which the tools refuse
// to delete.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
