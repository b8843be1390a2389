package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionRef names one partition in the health report.
type partitionRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// groupHealthJSON is a group's lag at two samples lagInterval apart.
// Growing is Burrow's "stalled": the lag grew and the group committed
// nothing in between. A group that keeps up but commits every few
// seconds shows a lag going up and down, and is not flagged.
type groupHealthJSON struct {
	Group   string `json:"group"`
	Lag     int64  `json:"lag"`
	Before  int64  `json:"lag_before"`
	Growing bool   `json:"growing"`
}

// healthJSON is `cluster health`'s report; Problems says in words what
// makes it unhealthy (empty: healthy).
type healthJSON struct {
	Healthy          bool              `json:"healthy"`
	Problems         []string          `json:"problems"`
	Controller       int32             `json:"controller"` // -1: none
	QuorumLeader     int32             `json:"quorum_leader"`
	LaggingVoters    []int32           `json:"lagging_voters"`
	Brokers          int               `json:"brokers"`
	FencedBrokers    []int32           `json:"fenced_brokers"`
	FencedObservable bool              `json:"fenced_observable"`
	Partitions       int               `json:"partitions"`
	UnderReplicated  []partitionRef    `json:"under_replicated"`
	UnderMinISR      []partitionRef    `json:"under_min_isr"`
	Offline          []partitionRef    `json:"offline"`
	Groups           []groupHealthJSON `json:"groups"`
	LagInterval      string            `json:"lag_interval"`
}

// errUnhealthy makes `cluster health` exit non-zero after its report.
var errUnhealthy = errors.New("the cluster is not healthy")

func newClusterHealthCmd(g *globals) *cobra.Command {
	var lagInterval time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check the cluster: offline, under-min-ISR and under-replicated partitions, fenced brokers, the controller and its quorum, groups whose lag grows; exits 1 when unhealthy",
		Long: `Check the cluster's health through the Kafka API and exit 1 when it is not healthy:

  - partitions without a leader (offline), with an ISR below min.insync.replicas (acks=all
    writes refused) or smaller than their replicas (under-replicated);
  - fenced brokers (DescribeCluster v2), no active controller, metadata voters behind the
    quorum's high watermark (DescribeQuorum);
  - consumer groups whose lag grew between two samples --lag-interval apart while they
    committed nothing (Burrow's "stalled"; 0: no group check). A group that keeps up commits
    between the samples, so its lag going up and down is not a problem.

Internal topics (__consumer_offsets) count. --output json prints the report for scripts;
the exit code says healthy (0) or not (1) either way.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if lagInterval < 0 {
				return usagef("--lag-interval %s: want 0 or more", lagInterval)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			out, err := clusterHealth(ctx, cl, g, lagInterval)
			if err != nil {
				return err
			}
			if g.json() {
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else if err := printHealth(cmd.OutOrStdout(), out); err != nil {
				return err
			}
			if !out.Healthy {
				return opErr("cluster health", errUnhealthy, fmt.Sprintf("%d problem(s)", len(out.Problems)))
			}
			return nil
		}),
	}
	cmd.Flags().DurationVar(&lagInterval, "lag-interval", 2*time.Second, "time between the two samples of group lag (0: skip groups)")
	return cmd
}

// clusterHealth gathers the report.
func clusterHealth(ctx context.Context, cl *kgo.Client, g *globals, lagInterval time.Duration) (*healthJSON, error) {
	info, err := clusterInfo(ctx, cl, g)
	if err != nil {
		return nil, err
	}
	out := &healthJSON{Controller: info.Controller, QuorumLeader: -1, FencedObservable: info.FencedObservable,
		LaggingVoters: []int32{}, FencedBrokers: []int32{}, UnderReplicated: []partitionRef{}, UnderMinISR: []partitionRef{},
		Offline: []partitionRef{}, Groups: []groupHealthJSON{}, Problems: []string{}, LagInterval: lagInterval.String()}
	live := map[int32]bool{}
	for _, b := range info.Brokers {
		if b.Fenced {
			out.FencedBrokers = append(out.FencedBrokers, b.NodeID)
			continue
		}
		out.Brokers++
		live[b.NodeID] = true
	}
	if apis, _ := supportedAPIs(ctx, cl); apis.serves(describeQuorumKey, 0) {
		if q, err := describeQuorum(ctx, cl); err == nil {
			out.QuorumLeader = q.LeaderID
			for _, r := range q.Replicas {
				if slices.Contains(q.CurrentVoters, r.NodeID) && r.LogEndOffset < q.HighWatermark {
					out.LaggingVoters = append(out.LaggingVoters, r.NodeID)
				}
			}
		}
	}
	adm := g.adminOf(cl)
	m, err := adm.Metadata(ctx)
	if err != nil {
		return nil, opErr("cluster metadata", err, "")
	}
	var names []string
	for _, td := range m.Topics.Sorted() {
		if td.Err == nil {
			names = append(names, td.Topic)
		}
	}
	minISR := map[string]int{}
	if len(names) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return nil, opErr("describe topic configs", err, "")
		}
		for _, rc := range rcs {
			minISR[rc.Name] = minInsyncReplicas(rc)
		}
	}
	for _, td := range m.Topics.Sorted() {
		if td.Err != nil {
			continue
		}
		for _, p := range td.Partitions.Sorted() {
			out.Partitions++
			ref := partitionRef{Topic: td.Topic, Partition: p.Partition}
			pj := partitionJSON{Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
			switch {
			case (partitionFilter{unavailable: true}).matches(pj, minISR[td.Topic], live):
				out.Offline = append(out.Offline, ref)
			case (partitionFilter{underMinISR: true}).matches(pj, minISR[td.Topic], live):
				out.UnderMinISR = append(out.UnderMinISR, ref)
			}
			if (partitionFilter{underReplicated: true}).matches(pj, minISR[td.Topic], live) {
				out.UnderReplicated = append(out.UnderReplicated, ref)
			}
		}
	}
	if lagInterval > 0 {
		if out.Groups, err = groupLagTrend(ctx, adm, lagInterval); err != nil {
			return nil, err
		}
	}
	out.judge()
	return out, nil
}

// groupLagTrend samples every group's total lag twice, interval apart.
func groupLagTrend(ctx context.Context, adm *kadm.Client, interval time.Duration) ([]groupHealthJSON, error) {
	type point struct{ lag, committed int64 } // committed: the sum of the committed offsets
	sample := func() (map[string]point, error) {
		lags, err := adm.Lag(ctx)
		if err != nil {
			return nil, opErr("group lag", err, "")
		}
		out := map[string]point{}
		for _, l := range lags.Sorted() {
			if l.Error() != nil {
				continue
			}
			var committed int64
			for _, ps := range l.Lag {
				for _, ml := range ps {
					committed += max(ml.Commit.At, 0)
				}
			}
			out[l.Group] = point{lag: l.Lag.Total(), committed: committed}
		}
		return out, nil
	}
	before, err := sample()
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(interval)
	select {
	case <-ctx.Done():
		t.Stop()
		return nil, opErr("group lag", ctx.Err(), "")
	case <-t.C:
	}
	after, err := sample()
	if err != nil {
		return nil, err
	}
	groups := []groupHealthJSON{}
	for _, name := range slices.Sorted(maps.Keys(after)) {
		b, seen := before[name]
		a := after[name]
		stalled := seen && a.lag > b.lag && a.committed == b.committed
		groups = append(groups, groupHealthJSON{Group: name, Lag: a.lag, Before: b.lag, Growing: stalled})
	}
	return groups, nil
}

// judge fills Problems and Healthy.
func (h *healthJSON) judge() {
	add := func(format string, a ...any) { h.Problems = append(h.Problems, fmt.Sprintf(format, a...)) }
	if h.Controller < 0 && h.QuorumLeader < 0 {
		add("no active controller")
	}
	if n := len(h.Offline); n > 0 {
		add("%d offline partition(s): no leader, or a leader that is not a live broker", n)
	}
	if n := len(h.UnderMinISR); n > 0 {
		add("%d partition(s) under min.insync.replicas: acks=all writes are refused", n)
	}
	if n := len(h.UnderReplicated); n > 0 {
		add("%d under-replicated partition(s)", n)
	}
	if n := len(h.FencedBrokers); n > 0 {
		add("fenced broker(s) %s", int32List(h.FencedBrokers))
	}
	if n := len(h.LaggingVoters); n > 0 {
		add("metadata voter(s) %s behind the quorum's high watermark", int32List(h.LaggingVoters))
	}
	for _, gr := range h.Groups {
		if gr.Growing {
			add("group %s: lag grew from %d to %d in %s, with no commit", gr.Group, gr.Before, gr.Lag, h.LagInterval)
		}
	}
	h.Healthy = len(h.Problems) == 0
}

func printHealth(w io.Writer, h *healthJSON) error {
	state := "HEALTHY"
	if !h.Healthy {
		state = "UNHEALTHY"
	}
	fmt.Fprintf(w, "Cluster: %s\n", state)
	fmt.Fprintf(w, "Controller: %d   Brokers: %d live, %d fenced   Partitions: %d\n", h.Controller, h.Brokers, len(h.FencedBrokers), h.Partitions)
	if !h.FencedObservable {
		fmt.Fprintln(w, "(Fenced brokers are not observable: the broker does not serve DescribeCluster v2.)")
	}
	for _, p := range h.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	for _, part := range []struct {
		title string
		refs  []partitionRef
	}{{"Offline", h.Offline}, {"Under min ISR", h.UnderMinISR}, {"Under-replicated", h.UnderReplicated}} {
		if len(part.refs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s partitions:\n", part.title)
		t := newTable("TOPIC", "PARTITION")
		for _, r := range part.refs[:min(len(part.refs), 50)] {
			t.add(r.Topic, r.Partition)
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
		if len(part.refs) > 50 {
			fmt.Fprintf(w, "  ... and %d more (--output json lists them all)\n", len(part.refs)-50)
		}
	}
	if len(h.Groups) > 0 {
		fmt.Fprintf(w, "\nGroups (lag sampled %s apart):\n", h.LagInterval)
		t := newTable("GROUP", "LAG", "BEFORE", "GROWING")
		for _, gr := range h.Groups {
			t.add(gr.Group, gr.Lag, gr.Before, gr.Growing)
		}
		return t.write(w, "  ")
	}
	return nil
}
