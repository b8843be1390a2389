package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicCreateJSON is `topic create`'s JSON result.
type topicCreateJSON struct {
	Name              string            `json:"name"`
	ID                string            `json:"id,omitempty"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	Created           bool              `json:"created"`
	ValidateOnly      bool              `json:"validate_only,omitempty"`
	AlreadyExists     bool              `json:"already_exists,omitempty"`
}

func newTopicCreateCmd(g *globals) *cobra.Command {
	var (
		topic        string
		partitions   int32
		rf           int16
		configs      []string
		ifNotExists  bool
		validateOnly bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic (kafka-topics.sh --create)",
		Example: `  fjord topic create orders --partitions 6 --replication-factor 3 --config retention.ms=86400000
  fjord topic create --topic orders --if-not-exists`,
		Args: checkArgs(cobra.MaximumNArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			name, err := topicName(args, topic)
			if err != nil {
				return err
			}
			cfgs, err := parseKeyValues("config", configs)
			if err != nil {
				return err
			}
			ptrs := make(map[string]*string, len(cfgs))
			for k, v := range cfgs {
				ptrs[k] = &v
			}
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()

			create := adm.CreateTopics
			if validateOnly {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, partitions, rf, ptrs, name)
			if err != nil {
				return opErr(fmt.Sprintf("create topic %q", name), err, "")
			}
			r, ok := resps[name]
			if !ok {
				return opErr(fmt.Sprintf("create topic %q", name), errors.New("broker's response did not mention the topic"), "")
			}
			out := topicCreateJSON{
				Name: name, ID: formatTopicID(r.ID), Partitions: r.NumPartitions,
				ReplicationFactor: r.ReplicationFactor, Configs: cfgs,
				Created: r.Err == nil && !validateOnly, ValidateOnly: validateOnly,
			}
			switch {
			case errors.Is(r.Err, kerr.TopicAlreadyExists) && ifNotExists:
				out.AlreadyExists = true
				out.Partitions, out.ReplicationFactor = 0, 0
			case r.Err != nil:
				e := opErr(fmt.Sprintf("create topic %q", name), r.Err, r.ErrMessage)
				if errors.Is(r.Err, kerr.InvalidReplicationFactor) {
					e.hint = replicationHint(ctx, adm)
				}
				return e
			}
			return printTopicCreate(cmd, g, out)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic name (instead of the NAME argument)")
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: the broker's num.partitions)")
	f.Int16VarP(&rf, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	f.BoolVar(&validateOnly, "validate-only", false, "ask the broker to validate the request without creating")
	return cmd
}

// topicName takes the topic from the positional argument or --topic (as
// kafka-topics.sh spells it), but not both.
func topicName(args []string, flag string) (string, error) {
	switch {
	case len(args) > 0 && flag != "" && args[0] != flag:
		return "", usagef("topic given twice: %q and --topic %q", args[0], flag)
	case len(args) > 0:
		return args[0], nil
	case flag != "":
		return flag, nil
	}
	return "", usagef("no topic: give NAME or --topic NAME")
}

// replicationHint names the broker count, the usual cause of
// INVALID_REPLICATION_FACTOR on small development clusters.
func replicationHint(ctx context.Context, adm *kadm.Client) string {
	m, err := adm.BrokerMetadata(ctx)
	if err != nil || len(m.Brokers) == 0 {
		return "use a --replication-factor no larger than the number of brokers (see `fjord cluster info`)"
	}
	n := len(m.Brokers)
	return fmt.Sprintf("this cluster has %d broker(s); use --replication-factor %d or fewer", n, n)
}

func printTopicCreate(cmd *cobra.Command, g *globals, out topicCreateJSON) error {
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, out)
	}
	switch {
	case out.AlreadyExists:
		fmt.Fprintf(w, "Topic %q already exists.\n", out.Name)
		return nil
	case out.ValidateOnly:
		fmt.Fprintf(w, "Topic %q would be created: %d partition(s), replication factor %d.\n",
			out.Name, out.Partitions, out.ReplicationFactor)
		return nil
	}
	fmt.Fprintf(w, "Created topic %q: %d partition(s), replication factor %d", out.Name, out.Partitions, out.ReplicationFactor)
	if out.ID != "" {
		fmt.Fprintf(w, ", id %s", out.ID)
	}
	fmt.Fprintln(w, ".")
	if len(out.Configs) > 0 {
		kvs := make([]string, 0, len(out.Configs))
		for _, k := range slices.Sorted(maps.Keys(out.Configs)) {
			kvs = append(kvs, k+"="+out.Configs[k])
		}
		fmt.Fprintf(w, "Configs: %s\n", strings.Join(kvs, ", "))
	}
	return nil
}
