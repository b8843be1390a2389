package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Results of one partition's election in `cluster elect-leaders`.
const (
	electElected   = "elected"
	electNotNeeded = "not_needed" // ELECTION_NOT_NEEDED: the right leader already leads
	electFailed    = "failed"
)

// electionJSON is one partition in `cluster elect-leaders`' JSON result.
type electionJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Result    string `json:"result"`            // elected, not_needed or failed
	Error     string `json:"error,omitempty"`   // Kafka's name, e.g. PREFERRED_LEADER_NOT_AVAILABLE
	Message   string `json:"message,omitempty"` // the broker's ErrorMessage
	err       error  // the Kafka error behind Error
}

// electionTypes maps --election-type to ElectLeaders' ElectionType (KIP-460).
var electionTypes = map[string]int8{"preferred": 0, "unclean": 1}

func newClusterElectLeadersCmd(g *globals) *cobra.Command {
	var (
		electionType string
		topic        string
		partitions   []int32
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders --election-type preferred|unclean (--topic T [--partition P,...] | --all-topic-partitions)",
		Short: "Elect partition leaders: move leadership to preferred replicas, or elect unclean leaders (kafka-leader-election.sh)",
		Long: `Elect partition leaders through ElectLeaders (API key 43), as kafka-leader-election.sh does.

--election-type preferred moves leadership to each partition's preferred replica (the
first of its replicas) where that replica is live and in the ISR. --election-type unclean
elects a leader for partitions that have none, from any live replica, even one outside
the ISR (records may be lost). --all-topic-partitions asks for every partition of every
topic; --topic T for T's partitions, or only those given with --partition.

Each partition prints elected, ELECTION_NOT_NEEDED (already led by the right replica; not
a failure) or the error (PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
UNKNOWN_TOPIC_OR_PARTITION...). The command fails if any partition failed.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			et, ok := electionTypes[strings.ToLower(electionType)]
			switch {
			case electionType == "":
				return usagef("--election-type is required: preferred or unclean")
			case !ok:
				return usagef("--election-type %q: want preferred or unclean", electionType)
			case all == (topic != ""):
				return usagef("give exactly one of --topic and --all-topic-partitions")
			case len(partitions) > 0 && topic == "":
				return usagef("--partition needs --topic")
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			adm := g.adminOf(cl)
			ctx, cancel := g.opCtx(cmd.Context())
			defer cancel()
			req := kmsg.NewPtrElectLeadersRequest()
			req.ElectionType = et
			if g.timeout > 0 {
				req.TimeoutMillis = int32(min(g.timeout.Milliseconds(), 1<<31-1))
			}
			if !all {
				rt, err := electTopic(ctx, adm, topic, partitions)
				if err != nil {
					return err
				}
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return opErr("elect leaders", err, "")
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return opErr("elect leaders", err, "")
			}
			out := electionResults(resp)
			if err := printElections(cmd.OutOrStdout(), g, strings.ToLower(electionType), out); err != nil {
				return err
			}
			return electionErr(out)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&electionType, "election-type", "", "preferred or unclean")
	f.StringVar(&topic, "topic", "", "the topic whose partitions to elect leaders for")
	f.Int32SliceVar(&partitions, "partition", nil, "with --topic: only these partitions (comma-separated or repeated)")
	f.BoolVar(&all, "all-topic-partitions", false, "every partition of every topic")
	return cmd
}

// electTopic names topic's partitions for the request: the ones given,
// checked against the topic, or all of them. A missing topic or partition
// fails here, before any election.
func electTopic(ctx context.Context, adm *kadm.Client, topic string, partitions []int32) (kmsg.ElectLeadersRequestTopic, error) {
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic = topic
	n, err := topicPartitionCount(ctx, adm, topic)
	if err != nil {
		return rt, err
	}
	if len(partitions) == 0 {
		for p := range int32(n) {
			rt.Partitions = append(rt.Partitions, p)
		}
		return rt, nil
	}
	for _, p := range partitions {
		if err := checkPartition(ctx, adm, topic, p); err != nil {
			return rt, err
		}
		if !slices.Contains(rt.Partitions, p) {
			rt.Partitions = append(rt.Partitions, p)
		}
	}
	return rt, nil
}

// electionResults flattens the response, sorted by topic and partition.
func electionResults(resp *kmsg.ElectLeadersResponse) []electionJSON {
	out := []electionJSON{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			e := electionJSON{Topic: t.Topic, Partition: p.Partition, Result: electElected, Message: deref(p.ErrorMessage)}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				e.Error, e.err = errName(err), err
				e.Result = electFailed
				if errors.Is(err, kerr.ElectionNotNeeded) {
					e.Result = electNotNeeded
				}
			}
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b electionJSON) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// electionErr fails the command when a partition failed (not for
// ELECTION_NOT_NEEDED), with the first partition's Kafka error as cause.
func electionErr(out []electionJSON) error {
	var failed []string
	var cause error
	for _, e := range out {
		if e.Result != electFailed {
			continue
		}
		failed = append(failed, fmt.Sprintf("%s-%d", e.Topic, e.Partition))
		if cause == nil {
			cause = e.err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return opErr(fmt.Sprintf("leader election failed for %d partition(s) (%s)", len(failed), strings.Join(failed, ", ")), cause, "")
}

func printElections(w io.Writer, g *globals, how string, out []electionJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	if len(out) == 0 {
		fmt.Fprintf(w, "No partition needed an election (%s).\n", how)
		return nil
	}
	t := newTable("TOPIC", "PARTITION", "RESULT")
	counts := map[string]int{}
	for _, e := range out {
		counts[e.Result]++
		result := e.Result
		if e.Error != "" {
			result = e.Error
			if e.Message != "" {
				result += ": " + e.Message
			}
		}
		t.add(e.Topic, e.Partition, result)
	}
	if err := t.write(w, ""); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s election: %d elected, %d not needed, %d failed.\n", how, counts[electElected], counts[electNotNeeded], counts[electFailed])
	return nil
}
