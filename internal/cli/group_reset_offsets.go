package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// resetOffsetsOpts are `group reset-offsets`' flags.
type resetOffsetsOpts struct {
	topics     []string
	allTopics  bool
	toEarliest bool
	toLatest   bool
	toDatetime string
	toOffset   int64
	shiftBy    int64
	byDuration string
	toCurrent  bool
	dryRun     bool
	execute    bool
}

// resetSpec is a parsed --to-*/--shift-by choice.
type resetSpec struct {
	kind   string // "earliest", "latest", "datetime", "offset", "shift", "current"
	millis int64  // for datetime
	n      int64  // for offset and shift
}

// topicScope is one --topic: a topic and its partitions (nil: all).
type topicScope struct {
	topic      string
	partitions []int32
}

// resetPartitionJSON is one partition of the reset plan.
type resetPartitionJSON struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"` // null: nothing committed
	NewOffset     int64  `json:"new_offset"`
}

// resetOffsetsJSON is `group reset-offsets`' JSON result.
type resetOffsetsJSON struct {
	Group      string               `json:"group"`
	State      string               `json:"state"`
	Executed   bool                 `json:"executed"`
	Partitions []resetPartitionJSON `json:"partitions"`
}

func newGroupResetOffsetsCmd(g *globals) *cobra.Command {
	var o resetOffsetsOpts
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic T[:P,...]... | --all-topics) (--to-earliest | --to-latest | --to-current | --to-datetime T | --by-duration D | --to-offset N | --shift-by N) [--dry-run | --execute]",
		Short: "Reset a consumer group's committed offsets (kafka-consumer-groups.sh --reset-offsets)",
		Long: `Plan, and with --execute commit, new offsets for a group, as
kafka-consumer-groups.sh --reset-offsets does. Without --execute this is a dry
run that prints the plan: topic, partition, current committed offset, new offset.

Scope: --topic T (every partition), --topic T:0,2 or T:0-3 (those
partitions; repeatable), or --all-topics (every partition the group has
committed). --to-offset and --shift-by are clamped into [log start offset,
log end offset]; --to-datetime takes the first offset at or after the time
(unix ms, RFC3339, or Kafka's 2006-01-02T15:04:05.000 in local time), else
the log end offset; --by-duration PnDTnHnMnS (Kafka's ISO-8601 form) is
--to-datetime that long ago. --to-current keeps the committed offset (clamped
into the log; the log end offset where nothing is committed). --shift-by
needs a committed offset.

--execute is refused unless the group is inactive (Empty, or Dead: unknown),
with Kafka's message; stop the group's consumers first.`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			spec, scopes, err := o.parse(cmd)
			if err != nil {
				return err
			}
			return runResetOffsets(cmd, g, args[0], spec, scopes, o)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.topics, "topic", nil, "topic to reset, optionally with partitions: T, T:0,1 or T:0-3 (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to the log end offset")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first offset at or after this time")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset (clamped into the log)")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back), clamped into the log")
	f.StringVar(&o.byDuration, "by-duration", "", "reset to the first offset at or after now minus this ISO-8601 duration (PnDTnHnMnS)")
	f.BoolVar(&o.toCurrent, "to-current", false, "reset to the committed offset (log end offset where none)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only print the plan (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	return cmd
}

// parse validates the flag combination before any broker is contacted.
func (o resetOffsetsOpts) parse(cmd *cobra.Command) (resetSpec, []topicScope, error) {
	if o.dryRun && o.execute {
		return resetSpec{}, nil, usagef("give only one of --dry-run, --execute")
	}
	if (len(o.topics) > 0) == o.allTopics {
		return resetSpec{}, nil, usagef("give exactly one of --topic, --all-topics")
	}
	var specs []resetSpec
	changed := cmd.Flags().Changed
	if o.toEarliest {
		specs = append(specs, resetSpec{kind: "earliest"})
	}
	if o.toLatest {
		specs = append(specs, resetSpec{kind: "latest"})
	}
	if changed("to-datetime") {
		ms, err := parseResetDatetime(o.toDatetime)
		if err != nil {
			return resetSpec{}, nil, usageErr(err)
		}
		specs = append(specs, resetSpec{kind: "datetime", millis: ms})
	}
	if changed("to-offset") {
		if o.toOffset < 0 {
			return resetSpec{}, nil, usagef("--to-offset %d is negative", o.toOffset)
		}
		specs = append(specs, resetSpec{kind: "offset", n: o.toOffset})
	}
	if changed("shift-by") {
		specs = append(specs, resetSpec{kind: "shift", n: o.shiftBy})
	}
	if changed("by-duration") {
		d, err := parseISODuration(o.byDuration)
		if err != nil {
			return resetSpec{}, nil, usageErr(err)
		}
		specs = append(specs, resetSpec{kind: "datetime", millis: time.Now().Add(-d).UnixMilli()})
	}
	if o.toCurrent {
		specs = append(specs, resetSpec{kind: "current"})
	}
	if len(specs) != 1 {
		return resetSpec{}, nil, usagef("give exactly one of --to-earliest, --to-latest, --to-current, --to-datetime, --by-duration, --to-offset, --shift-by")
	}
	var scopes []topicScope
	for _, t := range o.topics {
		s, err := parseTopicScope(t)
		if err != nil {
			return resetSpec{}, nil, err
		}
		scopes = append(scopes, s)
	}
	return specs[0], scopes, nil
}

// parseTopicScope parses T, T:0,2 or T:0-3.
func parseTopicScope(s string) (topicScope, error) {
	topic, parts, hasParts := strings.Cut(s, ":")
	topic = strings.TrimSpace(topic)
	if topic == "" {
		return topicScope{}, usagef("--topic %q: no topic name", s)
	}
	sc := topicScope{topic: topic}
	if !hasParts {
		return sc, nil
	}
	bad := usagef("--topic %q: want T:0,1,2 or T:0-3", s)
	for _, p := range strings.Split(parts, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(p), "-")
		from, err := strconv.ParseInt(lo, 10, 32)
		if err != nil || from < 0 {
			return topicScope{}, bad
		}
		to := from
		if isRange {
			if to, err = strconv.ParseInt(hi, 10, 32); err != nil || to < from || to-from > 1<<16 {
				return topicScope{}, bad
			}
		}
		for q := from; q <= to; q++ {
			if !slices.Contains(sc.partitions, int32(q)) {
				sc.partitions = append(sc.partitions, int32(q))
			}
		}
	}
	return sc, nil
}

// parseResetDatetime accepts unix milliseconds, RFC3339, or Kafka's
// 'YYYY-MM-DDTHH:mm:SS.sss' without a zone, read in local time as Kafka does.
func parseResetDatetime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("--to-datetime %q: want unix milliseconds, RFC3339 or 2006-01-02T15:04:05.000", s)
}

// isInactive reports whether offsets may be reset: Kafka's tool allows it
// only for Empty groups and unknown (Dead) ones.
func isInactive(state string) bool { return state == "Empty" || state == "Dead" }

func runResetOffsets(cmd *cobra.Command, g *globals, group string, spec resetSpec, scopes []topicScope, o resetOffsetsOpts) error {
	adm, err := g.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()

	state, err := groupState(ctx, adm, group)
	if err != nil {
		return err
	}
	if o.execute && !isInactive(state) {
		return refuseActive(group, state)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return groupErr(fmt.Sprintf("fetch offsets of consumer group %q", group), err, "")
	}
	targets, err := resetTargets(ctx, adm, scopes, committed)
	if err != nil {
		return err
	}
	plan, err := planReset(ctx, adm, spec, targets, committed)
	if err != nil {
		return err
	}
	out := resetOffsetsJSON{Group: group, State: state, Partitions: plan}
	if o.execute && len(plan) > 0 {
		if err := commitPlan(ctx, adm, group, plan); err != nil {
			return err
		}
		out.Executed = true
	}
	if err := printResetOffsets(cmd.OutOrStdout(), g, out); err != nil {
		return err
	}
	if !o.execute {
		msg := "Dry run: nothing changed; pass --execute to commit these offsets."
		if !isInactive(state) {
			msg += fmt.Sprintf(" The group is %s: --execute is refused until its consumers stop.", state)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), msg)
	}
	return nil
}

// groupState is the group's state; "Dead" for a group the broker does not know.
func groupState(ctx context.Context, adm *kadm.Client, group string) (string, error) {
	ds, err := adm.DescribeGroups(ctx, group)
	d, ok := ds[group]
	if !ok {
		if err == nil {
			err = errors.New("broker's response did not mention the group")
		}
		return "", groupErr(fmt.Sprintf("describe consumer group %q", group), err, "")
	}
	switch {
	case errors.Is(d.Err, kerr.GroupIDNotFound) || (d.Err == nil && d.State == "Dead"):
		// Not a classic group: perhaps a consumer protocol one.
		if cd, found, err := describeConsumerGroup(ctx, adm, group); found {
			return cd.State, err
		}
		return "Dead", nil
	case d.Err != nil:
		return "", groupErr(fmt.Sprintf("describe consumer group %q", group), d.Err, d.ErrMessage)
	}
	return d.State, nil
}

// refuseActive is Kafka's refusal to reset the offsets of a live group.
func refuseActive(group, state string) error {
	e := groupErr(fmt.Sprintf("reset offsets of consumer group %q", group), kerr.NonEmptyGroup,
		fmt.Sprintf("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", group, state))
	e.hint = "stop the group's consumers (see `fjord group describe " + group + "`), then run again with --execute"
	return e
}

// resetTargets resolves the scope to topic partitions, checking named topics
// and partitions exist.
func resetTargets(ctx context.Context, adm *kadm.Client, scopes []topicScope, committed kadm.OffsetResponses) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	if len(scopes) == 0 { // --all-topics
		committed.Each(func(r kadm.OffsetResponse) {
			if r.Err == nil && r.At >= 0 {
				set.Add(r.Topic, r.Partition)
			}
		})
		return set, nil
	}
	for _, sc := range scopes {
		n, err := topicPartitionCount(ctx, adm, sc.topic)
		if err != nil {
			return nil, err
		}
		if sc.partitions == nil {
			for p := range int32(n) {
				set.Add(sc.topic, p)
			}
			continue
		}
		for _, p := range sc.partitions {
			if err := checkPartition(ctx, adm, sc.topic, p); err != nil {
				return nil, err
			}
			set.Add(sc.topic, p)
		}
	}
	return set, nil
}

// planReset computes the new offset of every target partition.
func planReset(ctx context.Context, adm *kadm.Client, spec resetSpec, targets kadm.TopicsSet, committed kadm.OffsetResponses) ([]resetPartitionJSON, error) {
	plan := []resetPartitionJSON{}
	topics := targets.Topics()
	if len(topics) == 0 {
		return plan, nil
	}
	starts, err := listedOffsets(ctx, "log start offsets", adm.ListStartOffsets, topics)
	if err != nil {
		return nil, err
	}
	ends, err := listedOffsets(ctx, "log end offsets", adm.ListEndOffsets, topics)
	if err != nil {
		return nil, err
	}
	var times kadm.ListedOffsets
	if spec.kind == "datetime" {
		after := func(ctx context.Context, ts ...string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, spec.millis, ts...)
		}
		if times, err = listedOffsets(ctx, "offsets by time", after, topics); err != nil {
			return nil, err
		}
	}
	for _, tp := range targets.Sorted() {
		for _, p := range tp.Partitions {
			row := resetPartitionJSON{Topic: tp.Topic, Partition: p}
			if c, ok := committed.Lookup(tp.Topic, p); ok && c.Err == nil && c.At >= 0 {
				row.CurrentOffset = int64Ptr(c.At)
			}
			start, err := offsetAt(starts, tp.Topic, p, "log start offset")
			if err != nil {
				return nil, err
			}
			end, err := offsetAt(ends, tp.Topic, p, "log end offset")
			if err != nil {
				return nil, err
			}
			switch spec.kind {
			case "earliest":
				row.NewOffset = start
			case "latest":
				row.NewOffset = end
			case "datetime":
				at, err := offsetAt(times, tp.Topic, p, "offset by time")
				if err != nil {
					return nil, err
				}
				row.NewOffset = clampOffset(at, start, end)
			case "offset":
				row.NewOffset = clampOffset(spec.n, start, end)
			case "current":
				row.NewOffset = end
				if row.CurrentOffset != nil {
					row.NewOffset = clampOffset(*row.CurrentOffset, start, end)
				}
			case "shift":
				if row.CurrentOffset == nil {
					return nil, &cmdError{
						op:   fmt.Sprintf("shift offset of %s partition %d", tp.Topic, p),
						err:  errors.New("the group has no committed offset there"),
						hint: "use --to-earliest, --to-latest, --to-offset or --to-datetime for it",
					}
				}
				row.NewOffset = clampOffset(*row.CurrentOffset+spec.n, start, end)
			}
			plan = append(plan, row)
		}
	}
	return plan, nil
}

// listedOffsets runs one ListOffsets helper; partial (shard) failures show
// up per partition in offsetAt instead.
func listedOffsets(ctx context.Context, what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error), topics []string) (kadm.ListedOffsets, error) {
	l, err := fn(ctx, topics...)
	if err != nil {
		if _, ok := errors.AsType[*kadm.ShardErrors](err); !ok || l == nil {
			return nil, opErr("list "+what, err, "")
		}
	}
	return l, nil
}

// offsetAt is one listed partition's offset, or its error.
func offsetAt(l kadm.ListedOffsets, topic string, p int32, what string) (int64, error) {
	o, ok := l.Lookup(topic, p)
	switch {
	case !ok:
		return 0, opErr(fmt.Sprintf("%s of %s partition %d", what, topic, p), kerr.UnknownTopicOrPartition, "not listed by the broker")
	case o.Err != nil:
		return 0, opErr(fmt.Sprintf("%s of %s partition %d", what, topic, p), o.Err, "")
	}
	return o.Offset, nil
}

// clampOffset keeps off within [start, end], as Kafka's tool does for
// offsets outside the log.
func clampOffset(off, start, end int64) int64 {
	return max(start, min(off, end))
}

// commitPlan commits the planned offsets and reports the first failure.
func commitPlan(ctx context.Context, adm *kadm.Client, group string, plan []resetPartitionJSON) error {
	offs := make(kadm.Offsets)
	for _, r := range plan {
		offs.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.NewOffset, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offs)
	op := fmt.Sprintf("commit offsets of consumer group %q", group)
	if err != nil {
		return groupErr(op, err, "")
	}
	if err := resps.Error(); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
			// The group came alive between our check and the commit.
			return refuseActive(group, "active")
		}
		return groupErr(op, err, "")
	}
	return nil
}

func printResetOffsets(w io.Writer, g *globals, out resetOffsetsJSON) error {
	if g.json() {
		return writeJSON(w, out)
	}
	if len(out.Partitions) == 0 {
		fmt.Fprintf(w, "Nothing to reset for group %q.\n", out.Group)
		return nil
	}
	t := newTable("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
	for _, p := range out.Partitions {
		t.add(out.Group, p.Topic, p.Partition, optInt64(p.CurrentOffset), p.NewOffset)
	}
	return t.write(w, "")
}

// parseISODuration reads the ISO-8601 durations kafka-consumer-groups.sh
// takes for --by-duration (Java's Duration.parse): PnDTnHnMn.nS, the parts
// in that order, each at most once, at least one, a T only before time
// parts, an optional leading sign.
func parseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("--by-duration %q: want an ISO-8601 duration such as PT1H30M or P1DT12H", s)
	rest := strings.ToUpper(strings.TrimSpace(s))
	neg := false
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		neg, rest = rest[0] == '-', rest[1:]
	}
	if !strings.HasPrefix(rest, "P") {
		return 0, bad
	}
	rest = rest[1:]
	units := []struct {
		letter byte
		time   bool // after the T
		d      time.Duration
	}{{'D', false, 24 * time.Hour}, {'H', true, time.Hour}, {'M', true, time.Minute}, {'S', true, time.Second}}
	var total time.Duration
	next, parts := 0, 0 // next: the first unit still allowed
	inTime, timeParts := false, 0
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		u := next
		for u < len(units) && units[u].letter != rest[i] {
			u++
		}
		if u == len(units) || units[u].time != inTime || (strings.Contains(rest[:i], ".") && units[u].letter != 'S') {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n*float64(units[u].d) > float64(math.MaxInt64)-float64(total) {
			return 0, bad
		}
		total += time.Duration(n * float64(units[u].d))
		next, parts = u+1, parts+1
		if inTime {
			timeParts++
		}
		rest = rest[i+1:]
	}
	if parts == 0 || (inTime && timeParts == 0) {
		return 0, bad
	}
	if neg {
		total = -total
	}
	return total, nil
}
