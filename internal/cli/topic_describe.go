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
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionJSON is one partition in `topic describe`'s JSON result.
type partitionJSON struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	// ELR and LastKnownELR (KIP-966) come from DescribeTopicPartitions;
	// absent when the broker does not serve it.
	ELR             []int32 `json:"elr,omitzero"`
	LastKnownELR    []int32 `json:"last_known_elr,omitzero"`
	OfflineReplicas []int32 `json:"offline_replicas,omitempty"`
	Error           string  `json:"error,omitempty"`
}

// topicDescribeJSON is one topic in `topic describe`'s JSON result.
type topicDescribeJSON struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Internal          bool   `json:"internal,omitempty"`
	ReplicationFactor int    `json:"replication_factor"`
	// MinISR is the topic's min.insync.replicas, 0 if unknown.
	MinISR     int               `json:"min_insync_replicas,omitempty"`
	Configs    map[string]string `json:"configs"`
	Partitions []partitionJSON   `json:"partitions"`
	Error      string            `json:"error,omitempty"`
}

func newTopicDescribeCmd(g *globals) *cobra.Command {
	var (
		f               partitionFilter
		includeInternal bool
		watch           watchFlags
	)
	cmd := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics: partitions, leaders, replicas, ISR, ELR, offline replicas, topic ID, non-default configs",
		Long: `Describe topics as kafka-topics.sh --describe does. With no NAME, every topic
(internal ones with --include-internal). Configs lists only the topic's own overrides
(source DYNAMIC_TOPIC_CONFIG), not broker defaults.

Per partition: leader, leader epoch, replicas, ISR, ELR and last known ELR (KIP-966
eligible leader replicas, from DescribeTopicPartitions; the columns are left out, with
a note, when the broker does not serve it) and offline replicas.

One filter may be given, as kafka-topics.sh allows; it prints only the matching
partitions, in one table across topics, and nothing when none match:
  --under-replicated-partitions  ISR smaller than the replicas
  --under-min-isr-partitions     ISR smaller than min.insync.replicas, or no leader
  --at-min-isr-partitions        ISR exactly min.insync.replicas
  --unavailable-partitions       no leader, or a leader that is not a live broker

--watch describes again every --watch-interval until interrupted.`,
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			if f.count() > 1 {
				return usagef("give at most one of --under-replicated-partitions, --under-min-isr-partitions, --at-min-isr-partitions and --unavailable-partitions")
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			return watch.run(cmd.Context(), cmd, g, func() error { return describeTopicsOnce(cmd, g, cl, args, f, includeInternal) })
		}),
	}
	watch.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.underReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replicas")
	fl.BoolVar(&f.underMinISR, "under-min-isr-partitions", false, "only partitions whose ISR is smaller than min.insync.replicas, or with no leader")
	fl.BoolVar(&f.atMinISR, "at-min-isr-partitions", false, "only partitions whose ISR is exactly min.insync.replicas")
	fl.BoolVar(&f.unavailable, "unavailable-partitions", false, "only partitions with no leader, or a leader that is not a live broker")
	fl.BoolVar(&includeInternal, "include-internal", false, "with no NAME: internal topics (__consumer_offsets) too")
	return cmd
}

// describeTopicsOnce describes the topics (all with no args) and prints
// them, or with a filter the matching partitions.
func describeTopicsOnce(cmd *cobra.Command, g *globals, cl *kgo.Client, args []string, f partitionFilter, includeInternal bool) error {
	adm := g.adminOf(cl)
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()
	m, err := adm.Metadata(ctx, args...)
	if err != nil {
		return opErr("describe topics", err, "")
	}
	tds := m.Topics
	if len(args) == 0 && !includeInternal {
		tds.FilterInternal()
	}
	var names []string
	for _, td := range tds.Sorted() {
		if td.Err == nil {
			names = append(names, td.Topic)
		}
	}
	configs := map[string]map[string]string{}
	minISR := map[string]int{}
	if len(names) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return opErr("describe topic configs", err, "")
		}
		for _, rc := range rcs {
			configs[rc.Name] = overrides(rc)
			minISR[rc.Name] = minInsyncReplicas(rc)
		}
	}
	elr := describeELR(ctx, cl, names)
	out, firstErr := describeResults(tds, args, configs)
	for i := range out {
		out[i].MinISR = minISR[out[i].Name]
		elr.fill(&out[i])
	}
	w := cmd.OutOrStdout()
	if f.count() > 0 {
		live := map[int32]bool{}
		for _, b := range m.Brokers {
			live[b.NodeID] = true
		}
		out = f.apply(out, live)
		if err := printFilteredPartitions(w, g, out, elr.known); err != nil {
			return err
		}
		return firstErr
	}
	if err := printTopicDescribe(w, g, out, elr); err != nil {
		return err
	}
	return firstErr
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

func printTopicDescribe(w io.Writer, g *globals, out []topicDescribeJSON, elr elrInfo) error {
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
		t := newTable(partitionHeaders(elr.known)...)
		for _, p := range d.Partitions {
			t.add(partitionCells(p, elr.known)...)
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
	}
	if len(out) > 0 {
		elr.note(w)
	}
	return nil
}

// partitionHeaders are the per-partition columns; ELR ones only when known.
func partitionHeaders(withELR bool) []string {
	if withELR {
		return []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "ELR", "LAST-KNOWN-ELR", "OFFLINE"}
	}
	return []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE"}
}

func partitionCells(p partitionJSON, withELR bool) []any {
	leader := fmt.Sprint(p.Leader)
	if p.Leader < 0 {
		leader = "none"
	}
	if p.Error != "" {
		leader += " (" + p.Error + ")"
	}
	cells := []any{p.Partition, leader, p.LeaderEpoch, orDash(int32List(p.Replicas)), orDash(int32List(p.ISR))}
	if withELR {
		cells = append(cells, orDash(int32List(p.ELR)), orDash(int32List(p.LastKnownELR)))
	}
	return append(cells, orDash(int32List(p.OfflineReplicas)))
}
