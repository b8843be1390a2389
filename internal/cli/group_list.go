package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// groupListJSON is one group in `group list`'s JSON result.
type groupListJSON struct {
	Group        string `json:"group"`
	State        string `json:"state,omitempty"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func newGroupListCmd(g *globals) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups (kafka-consumer-groups.sh --list [--state])",
		Long: `List the groups of every broker with their state, protocol type and
coordinator. --state (repeatable or comma-separated, any case) keeps only
groups in those states: ` + strings.Join(groupStates(), ", ") + `.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			filter, err := parseStates(states)
			if err != nil {
				return err
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			listed, err := adm.ListGroups(ctx, filter...)
			if err != nil {
				return groupErr("list groups", err, "")
			}
			out := []groupListJSON{}
			for _, l := range listed.Sorted() {
				// A broker too old for the states filter ignores it and
				// may not report states: filter here too when it does.
				if len(filter) > 0 && l.State != "" && !slices.Contains(filter, l.State) {
					continue
				}
				out = append(out, groupListJSON{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Coordinator: l.Coordinator})
			}
			return printGroupList(cmd.OutOrStdout(), g, out)
		}),
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in this state (repeatable)")
	return cmd
}

// parseStates canonicalises --state values, rejecting unknown states.
func parseStates(states []string) ([]string, error) {
	var out []string
	for _, s := range states {
		st, ok := canonicalState(s)
		if !ok {
			return nil, usagef("--state %q: want one of %s", s, strings.Join(groupStates(), ", "))
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

func printGroupList(w io.Writer, g *globals, out []groupListJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(w, "No groups.")
		return nil
	}
	t := newTable("GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
	for _, o := range out {
		t.add(o.Group, orDash(o.State), orDash(o.ProtocolType), o.Coordinator)
	}
	return t.write(w, "")
}
