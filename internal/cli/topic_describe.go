package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionJSON is one partition in `topic describe`'s JSON result.
type partitionJSON struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas,omitempty"`
	Error           string  `json:"error,omitempty"`
}

// topicDescribeJSON is one topic in `topic describe`'s JSON result.
type topicDescribeJSON struct {
	Name              string            `json:"name"`
	ID                string            `json:"id,omitempty"`
	Internal          bool              `json:"internal,omitempty"`
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
	Partitions        []partitionJSON   `json:"partitions"`
	Error             string            `json:"error,omitempty"`
}

func newTopicDescribeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics: partitions, leaders, replicas, ISR, topic ID, non-default configs",
		Long: `Describe topics as kafka-topics.sh --describe does. With no NAME, every
non-internal topic. Configs lists only the topic's own overrides (source
DYNAMIC_TOPIC_CONFIG), not broker defaults.`,
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			adm, err := g.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			tds, err := adm.ListTopics(ctx, args...)
			if err != nil {
				return opErr("describe topics", err, "")
			}
			var names []string
			for _, td := range tds.Sorted() {
				if td.Err == nil {
					names = append(names, td.Topic)
				}
			}
			configs := map[string]map[string]string{}
			if len(names) > 0 {
				rcs, err := adm.DescribeTopicConfigs(ctx, names...)
				if err != nil {
					return opErr("describe topic configs", err, "")
				}
				for _, rc := range rcs {
					configs[rc.Name] = overrides(rc)
				}
			}
			out, firstErr := describeResults(tds, args, configs)
			if err := printTopicDescribe(cmd.OutOrStdout(), g, out); err != nil {
				return err
			}
			return firstErr
		}),
	}
	return cmd
}

// describeResults turns metadata and configs into results, in argument order
// when topics were named; it returns the first topic error so the command
// fails (after printing the topics that did load).
func describeResults(tds kadm.TopicDetails, args []string, configs map[string]map[string]string) ([]topicDescribeJSON, error) {
	order := args
	if len(order) == 0 {
		order = tds.Names()
	}
	var (
		out      []topicDescribeJSON
		firstErr error
		seen     = map[string]bool{}
	)
	for _, name := range order {
		if seen[name] {
			continue
		}
		seen[name] = true
		td, ok := tds[name]
		if !ok {
			td = kadm.TopicDetail{Topic: name, Err: kerr.UnknownTopicOrPartition}
		}
		d := topicDescribeJSON{
			Name: name, ID: formatTopicID(td.ID), Internal: td.IsInternal,
			ReplicationFactor: td.Partitions.NumReplicas(), Configs: configs[name],
			Partitions: []partitionJSON{},
		}
		if td.Err != nil {
			d.Error = errName(td.Err)
			if firstErr == nil {
				firstErr = opErr(fmt.Sprintf("describe topic %q", name), td.Err, "")
			}
		}
		if d.Configs == nil {
			d.Configs = map[string]string{}
		}
		for _, p := range td.Partitions.Sorted() {
			pj := partitionJSON{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), OfflineReplicas: p.OfflineReplicas,
			}
			if p.Err != nil {
				pj.Error = errName(p.Err)
			}
			d.Partitions = append(d.Partitions, pj)
		}
		out = append(out, d)
	}
	return out, firstErr
}

// overrides keeps the configs set on the topic itself.
func overrides(rc kadm.ResourceConfig) map[string]string {
	out := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		out[c.Key] = v
	}
	return out
}

// errName is a Kafka error's name, or the error text for other errors.
func errName(err error) string {
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Message
	}
	return err.Error()
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func printTopicDescribe(w io.Writer, g *globals, out []topicDescribeJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Topic: %s\n", d.Name)
		if d.Error != "" {
			fmt.Fprintf(w, "  Error:              %s\n", d.Error)
			continue
		}
		fmt.Fprintf(w, "  ID:                 %s\n", orDash(d.ID))
		fmt.Fprintf(w, "  Partitions:         %d\n", len(d.Partitions))
		fmt.Fprintf(w, "  Replication factor: %d\n", d.ReplicationFactor)
		if d.Internal {
			fmt.Fprintln(w, "  Internal:           true")
		}
		kvs := make([]string, 0, len(d.Configs))
		for _, k := range slices.Sorted(maps.Keys(d.Configs)) {
			kvs = append(kvs, k+"="+d.Configs[k])
		}
		fmt.Fprintf(w, "  Configs:            %s\n", orDash(strings.Join(kvs, ",")))
		t := newTable("PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE")
		for _, p := range d.Partitions {
			leader := fmt.Sprint(p.Leader)
			if p.Leader < 0 {
				leader = "none"
			}
			if p.Error != "" {
				leader += " (" + p.Error + ")"
			}
			t.add(p.Partition, leader, p.LeaderEpoch, int32List(p.Replicas), int32List(p.ISR), orDash(int32List(p.OfflineReplicas)))
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
	}
	return nil
}
