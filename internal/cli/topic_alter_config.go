package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// topicAlterConfigJSON is `topic alter-config`'s JSON result.
type topicAlterConfigJSON struct {
	Name         string            `json:"name"`
	Set          map[string]string `json:"set,omitempty"`
	Deleted      []string          `json:"deleted,omitempty"`
	ValidateOnly bool              `json:"validate_only,omitempty"`
}

func newTopicAlterConfigCmd(g *globals) *cobra.Command {
	var (
		sets, deletes []string
		validateOnly  bool
	)
	cmd := &cobra.Command{
		Use:   "alter-config NAME --set key=value... --delete key...",
		Short: "Set or remove topic config overrides (IncrementalAlterConfigs)",
		Long: `Change a topic's config overrides without touching the others, as
kafka-configs.sh --alter --add-config/--delete-config does. A deleted key
falls back to the broker default.`,
		Example: `  fjord topic alter-config orders --set retention.ms=3600000 --set cleanup.policy=compact
  fjord topic alter-config orders --delete retention.ms`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set, err := parseKeyValues("set", sets)
			if err != nil {
				return err
			}
			if len(set) == 0 && len(deletes) == 0 {
				return usagef("nothing to change: give --set key=value or --delete key")
			}
			var alters []kadm.AlterConfig
			for _, k := range slices.Sorted(maps.Keys(set)) {
				v := set[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range deletes {
				if _, both := set[k]; both {
					return usagef("config %q is both set and deleted", k)
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: strings.TrimSpace(k)})
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			alter := adm.AlterTopicConfigs
			if validateOnly {
				alter = adm.ValidateAlterTopicConfigs
			}
			op := fmt.Sprintf("alter configs of topic %q", name)
			resps, err := alter(ctx, alters, name)
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
			out := topicAlterConfigJSON{Name: name, Set: set, Deleted: deletes, ValidateOnly: validateOnly}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			verb := "Altered"
			if validateOnly {
				verb = "Validated"
			}
			fmt.Fprintf(w, "%s configs of topic %q:", verb, name)
			for _, k := range slices.Sorted(maps.Keys(set)) {
				fmt.Fprintf(w, " set %s=%s;", k, set[k])
			}
			for _, k := range deletes {
				fmt.Fprintf(w, " deleted %s;", k)
			}
			fmt.Fprintln(w)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&sets, "set", nil, "config key=value to set (repeatable)")
	f.StringArrayVar(&deletes, "delete", nil, "config key to remove, reverting to the default (repeatable)")
	f.BoolVar(&validateOnly, "validate-only", false, "ask the broker to validate without applying")
	return cmd
}
