package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The actions of `cluster reassign`, one per run, and the flags each needs
// and allows, as kafka-reassign-partitions.sh checks them.
var (
	reassignActions  = []string{"generate", "execute", "verify", "cancel", "list"}
	reassignRequired = map[string][]string{
		"generate": {"topics-to-move-json-file", "broker-list"},
		"execute":  {"reassignment-json-file"},
		"verify":   {"reassignment-json-file"},
		"cancel":   {"reassignment-json-file"},
	}
	reassignAllowed = map[string][]string{"generate": {"disable-rack-aware"}, "execute": {"additional", "throttle"}, "verify": {"preserve-throttles"}}
)

// cannotExecuteMsg is Kafka's refusal to start a reassignment while others
// run, unless --additional.
const cannotExecuteMsg = "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one."

type reassignOpts struct {
	action            string
	planFile          string
	topicsFile        string
	brokerList        string
	additional        bool
	throttle          int64
	preserveThrottles bool
	disableRackAware  bool
}

func newClusterReassignCmd(g *globals) *cobra.Command {
	var o reassignOpts
	actions := map[string]*bool{}
	cmd := &cobra.Command{
		Use:   "reassign --generate | --execute | --verify | --cancel | --list",
		Short: "Move partition replicas between brokers with a JSON plan (kafka-reassign-partitions.sh)",
		Long: `Move partition replicas between brokers through AlterPartitionReassignments and
ListPartitionReassignments (API keys 45 and 46), as kafka-reassign-partitions.sh does, with
its plan files, flags and messages. Exactly one action:

  --generate --topics-to-move-json-file F --broker-list 1,2,3 [--disable-rack-aware]
      print the current assignment of the topics in F ({"topics":[{"topic":"t"}],"version":1})
      and a proposed one spreading their replicas evenly over the brokers listed; nothing moves.
      When the brokers have racks (broker.rack) each partition's replicas are spread over
      distinct racks, as topic creation does; --disable-rack-aware ignores racks
  --execute --reassignment-json-file F [--additional] [--throttle BYTES/s]
      print the current assignment of F's partitions (save it: it is the rollback plan) and
      start moving them to F's replicas; refused while other reassignments run, unless
      --additional; --throttle bounds the replication traffic of the moves
  --verify --reassignment-json-file F [--preserve-throttles]
      per partition: completed, still in progress, or not reassigning but on other replicas;
      once every one is completed, the replication throttles are removed
  --cancel --reassignment-json-file F
      cancel the ongoing reassignments of F's partitions: they go back to their original replicas
  --list
      the ongoing reassignments: replicas, adding, removing

A plan file is {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],
"log_dirs":["any","any"]}]} ("-" reads it from standard input); log_dirs is optional and
may only say "any".`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd, actions); err != nil {
				return err
			}
			return o.run(cmd, g)
		}),
	}
	f := cmd.Flags()
	for _, a := range reassignActions {
		actions[a] = new(bool)
	}
	f.BoolVar(actions["generate"], "generate", false, "propose a plan moving the topics of --topics-to-move-json-file onto --broker-list")
	f.BoolVar(actions["execute"], "execute", false, "start the reassignment in --reassignment-json-file")
	f.BoolVar(actions["verify"], "verify", false, "report the state of each partition of --reassignment-json-file")
	f.BoolVar(actions["cancel"], "cancel", false, "cancel the ongoing reassignments of --reassignment-json-file's partitions")
	f.BoolVar(actions["list"], "list", false, "list the ongoing reassignments")
	f.StringVar(&o.planFile, "reassignment-json-file", "", "the reassignment plan (JSON); - for standard input")
	f.StringVar(&o.topicsFile, "topics-to-move-json-file", "", `with --generate: {"topics":[{"topic":"t"}],"version":1}`)
	f.StringVar(&o.brokerList, "broker-list", "", "with --generate: the brokers to spread replicas over, e.g. 1,2,3")
	f.BoolVar(&o.additional, "additional", false, "with --execute: start even though other reassignments are running")
	f.Int64Var(&o.throttle, "throttle", -1, "with --execute: the replication throttle of the moves, in bytes/s (leader and follower rates on the brokers involved)")
	f.BoolVar(&o.preserveThrottles, "preserve-throttles", false, "with --verify: keep the replication throttles even when every reassignment is completed")
	f.BoolVar(&o.disableRackAware, "disable-rack-aware", false, "with --generate: ignore the brokers' racks")
	return cmd
}

// check picks the one action and refuses missing or misplaced flags.
func (o *reassignOpts) check(cmd *cobra.Command, actions map[string]*bool) error {
	var chosen []string
	for _, a := range reassignActions {
		if *actions[a] {
			chosen = append(chosen, a)
		}
	}
	if len(chosen) != 1 {
		return usagef("Command must include exactly one action: --generate, --execute, --verify, --cancel, --list")
	}
	o.action = chosen[0]
	if cmd.Flags().Changed("throttle") && o.throttle <= 0 {
		return usagef("--throttle must be a positive number of bytes per second")
	}
	for _, r := range reassignRequired[o.action] {
		if !cmd.Flags().Changed(r) {
			return usagef("--%s needs --%s", o.action, r)
		}
	}
	for _, name := range []string{"reassignment-json-file", "topics-to-move-json-file", "broker-list", "additional", "throttle", "preserve-throttles", "disable-rack-aware"} {
		if cmd.Flags().Changed(name) && !slices.Contains(reassignRequired[o.action], name) && !slices.Contains(reassignAllowed[o.action], name) {
			return usagef("Option --%s can't be used with action --%s", name, o.action)
		}
	}
	return nil
}

func (o *reassignOpts) run(cmd *cobra.Command, g *globals) error {
	// Files are read and checked before any broker is asked.
	var plan *reassignPlan
	var topics []string
	var brokers []int32
	var err error
	switch o.action {
	case "execute", "verify", "cancel":
		b, err := readInput(cmd.InOrStdin(), o.planFile)
		if err != nil {
			return err
		}
		if plan, err = parseReassignPlan(o.planFile, b); err != nil {
			return err
		}
	case "generate":
		if brokers, err = parseBrokerList(o.brokerList); err != nil {
			return err
		}
		b, err := readInput(cmd.InOrStdin(), o.topicsFile)
		if err != nil {
			return err
		}
		if topics, err = parseTopicsToMove(o.topicsFile, b); err != nil {
			return err
		}
	}
	cl, err := g.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := g.adminOf(cl)
	ctx, cancel := g.opCtx(cmd.Context())
	defer cancel()
	w := cmd.OutOrStdout()
	switch o.action {
	case "generate":
		return reassignGenerate(ctx, w, g, cl, adm, topics, brokers, !o.disableRackAware)
	case "execute":
		return reassignExecute(ctx, w, g, cl, adm, plan, o.additional, o.throttle)
	case "verify":
		return reassignVerify(ctx, w, g, cl, adm, plan, o.preserveThrottles)
	case "cancel":
		return reassignCancel(ctx, w, g, cl, adm, plan)
	default:
		return reassignList(ctx, w, g, cl)
	}
}

// parseBrokerList parses --broker-list 1,2,3.
func parseBrokerList(s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return nil, usagef("--broker-list %q: want broker IDs separated by commas, e.g. 1,2,3", s)
		}
		out = append(out, int32(id))
	}
	if d := duplicates(out); len(d) > 0 {
		return nil, usagef("Broker list contains duplicate entries: %s", int32List(d))
	}
	return out, nil
}

// reassignmentJSON is one ongoing reassignment, as ListPartitionReassignments
// reports it.
type reassignmentJSON struct {
	Topic    string  `json:"topic"`
	Part     int32   `json:"partition"`
	Replicas []int32 `json:"replicas"`
	Adding   []int32 `json:"adding_replicas"`
	Removing []int32 `json:"removing_replicas"`
}

// listReassignments asks for the ongoing reassignments of every partition
// (only nil) or of only's partitions, sorted.
func listReassignments(ctx context.Context, cl *kgo.Client, only []reassignPartition) ([]reassignmentJSON, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if only != nil {
		byTopic := map[string][]int32{}
		for _, p := range only {
			byTopic[p.Topic] = append(byTopic[p.Topic], p.Partition)
		}
		for _, t := range slices.Sorted(maps.Keys(byTopic)) {
			rt := kmsg.NewListPartitionReassignmentsRequestTopic()
			rt.Topic, rt.Partitions = t, byTopic[t]
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		msg := ""
		if resp != nil {
			msg = deref(resp.ErrorMessage)
		}
		return nil, opErr("list partition reassignments", err, msg)
	}
	out := []reassignmentJSON{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, reassignmentJSON{Topic: t.Topic, Part: p.Partition, Replicas: p.Replicas, Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
		}
	}
	slices.SortFunc(out, func(a, b reassignmentJSON) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Part) - int(b.Part)
	})
	return out, nil
}

// knownBrokers returns the brokers the cluster lists: those Metadata lists
// (the unfenced ones) and, where DescribeCluster v2 is served (KIP-1073),
// the fenced ones too; complete reports whether fenced brokers were
// visible, so that a broker missing from the list is really unknown. Each
// is mapped to its rack ("" for none).
func knownBrokers(ctx context.Context, cl *kgo.Client, adm *kadm.Client) (known map[int32]string, complete bool, err error) {
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, false, opErr("cluster metadata", err, "")
	}
	known = map[int32]string{}
	for _, b := range m.Brokers {
		known[b.NodeID] = deref(b.Rack)
	}
	if apis, _ := supportedAPIs(ctx, cl); apis.serves(describeClusterKey, 2) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = true
		if resp, err := req.RequestWith(ctx, cl); err == nil && kerr.ErrorForCode(resp.ErrorCode) == nil {
			for _, b := range resp.Brokers {
				known[b.NodeID] = deref(b.Rack)
			}
			complete = resp.Version >= 2
		}
	}
	return known, complete, nil
}

// checkBrokers fails with Kafka's "Unknown broker id N" for the first
// broker of ids (in order) the cluster does not list. A stopped (fenced)
// broker is a valid reassignment target, its replica catching up when it
// returns; so when fenced brokers cannot be seen (no DescribeCluster v2)
// and anyFenced is set, an unlisted broker is left for the controller to
// judge (INVALID_REPLICA_ASSIGNMENT for one that is not registered). It
// returns the racks of the brokers it knows ("" for none).
func checkBrokers(ctx context.Context, cl *kgo.Client, adm *kadm.Client, ids []int32, anyFenced bool) (racks map[int32]string, err error) {
	known, complete, err := knownBrokers(ctx, cl, adm)
	if err != nil {
		return nil, err
	}
	if !complete && anyFenced {
		return known, nil
	}
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			e := opErr("", fmt.Errorf("Unknown broker id %d", id), "")
			e.hint = "list the brokers with `fjord cluster info`"
			if !complete {
				e.hint = "list the live brokers with `fjord cluster info` (a stopped broker is not listed)"
			}
			return nil, e
		}
	}
	return known, nil
}

// topicReplicas returns the replicas of every partition of topics, from
// Metadata. A missing topic fails as Kafka's tool does, unless lenient, when
// it is left out.
func topicReplicas(ctx context.Context, adm *kadm.Client, topics []string, lenient bool) (map[string][]int32, map[string]int, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, nil, opErr("describe topics", err, "")
	}
	replicas, counts := map[string][]int32{}, map[string]int{}
	for _, t := range topics {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil {
			if lenient {
				continue
			}
			cause := error(kerr.UnknownTopicOrPartition)
			if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				cause = td.Err
			}
			return nil, nil, opErr(fmt.Sprintf("Topic %s not found", t), cause, "")
		}
		counts[t] = len(td.Partitions)
		for p, pd := range td.Partitions {
			replicas[tp(t, p)] = pd.Replicas
		}
	}
	return replicas, counts, nil
}

func planTopics(ps []reassignPartition) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(out, p.Topic) {
			out = append(out, p.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// generateJSON is --generate's result under --output json.
type generateJSON struct {
	Current  reassignPlan `json:"current"`
	Proposed reassignPlan `json:"proposed"`
}

// reassignGenerate is --generate: the current assignment of topics and a
// proposed one over brokers, rack-aware unless rackAware is off (Kafka's
// --disable-rack-aware); refused, as Kafka does, when only some of the
// brokers have a rack.
func reassignGenerate(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, topics []string, brokers []int32, rackAware bool) error {
	racks, err := checkBrokers(ctx, cl, adm, brokers, false)
	if err != nil {
		return err
	}
	replicas, counts, err := topicReplicas(ctx, adm, topics, false)
	if err != nil {
		return err
	}
	if rackAware {
		// Checked once, before any topic, as Kafka's getBrokerMetadata does.
		if _, err := useRacks(brokers, racks); err != nil {
			e := opErr("", err, "")
			e.hint = "set broker.rack on every broker of --broker-list, or add --disable-rack-aware"
			return e
		}
	}
	var current, proposed []reassignPartition
	for i, t := range slices.Sorted(slices.Values(topics)) {
		for p := range int32(counts[t]) {
			current = append(current, reassignPartition{Topic: t, Partition: p, Replicas: replicas[tp(t, p)]})
		}
		if counts[t] == 0 {
			continue
		}
		assigned, err := proposeAssignment(brokers, racks, rackAware, counts[t], len(replicas[tp(t, 0)]), i)
		if err != nil {
			return opErr("propose an assignment for "+t, err, "")
		}
		for p := range int32(counts[t]) {
			proposed = append(proposed, reassignPartition{Topic: t, Partition: p, Replicas: assigned[p]})
		}
	}
	if g.json() {
		return writeJSON(w, generateJSON{Current: planOf(current), Proposed: planOf(proposed)})
	}
	fmt.Fprintf(w, "Current partition replica assignment\n%s\n\n", formatPlan(current))
	fmt.Fprintf(w, "Proposed partition reassignment configuration\n%s\n", formatPlan(proposed))
	return nil
}

// planOf makes a version 1 plan of ps, sorted, with "any" log dirs.
func planOf(ps []reassignPartition) reassignPlan {
	ps = slices.Clone(ps)
	for i := range ps {
		ps[i].LogDirs = anyLogDirs(len(ps[i].Replicas))
	}
	sortPartitions(ps)
	if ps == nil {
		ps = []reassignPartition{}
	}
	return reassignPlan{Version: 1, Partitions: ps}
}

// partitionsError lists per-partition failures under a heading, the first
// Kafka error as its cause (for --output json's code).
type partitionsError struct {
	heading string
	lines   []string
	cause   error
}

func (e *partitionsError) Error() string {
	return e.heading + "\n  " + strings.Join(e.lines, "\n  ")
}

func (e *partitionsError) Unwrap() error { return e.cause }

// alterResults turns AlterPartitionReassignments' answers into a
// partitionsError, or nil if every partition succeeded.
func alterResults(heading string, resp kadm.AlterPartitionAssignmentsResponses) error {
	var pe *partitionsError
	for _, r := range resp.Sorted() {
		if r.Err == nil {
			continue
		}
		if pe == nil {
			pe = &partitionsError{heading: heading, cause: r.Err}
		}
		line := tp(r.Topic, r.Partition) + ": " + errName(r.Err)
		if r.ErrMessage != "" {
			line += ": " + r.ErrMessage
		}
		pe.lines = append(pe.lines, line)
	}
	if pe == nil {
		return nil
	}
	return pe
}

// executeJSON is --execute's result under --output json.
type executeJSON struct {
	Rollback reassignPlan `json:"rollback"`
	Started  []string     `json:"started"`
}

func reassignExecute(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, plan *reassignPlan, additional bool, throttle int64) error {
	ongoing, err := listReassignments(ctx, cl, nil)
	if err != nil {
		return err
	}
	if !additional && len(ongoing) > 0 {
		e := opErr("", errors.New(cannotExecuteMsg), "")
		e.hint = "see them with `fjord cluster reassign --list`"
		return e
	}
	var targets []int32
	for _, p := range plan.Partitions {
		for _, id := range p.Replicas {
			if !slices.Contains(targets, id) {
				targets = append(targets, id)
			}
		}
	}
	if _, err := checkBrokers(ctx, cl, adm, targets, true); err != nil {
		return err
	}
	replicas, _, err := topicReplicas(ctx, adm, planTopics(plan.Partitions), false)
	if err != nil {
		return err
	}
	var rollback []reassignPartition
	var missing, started []string
	var req kadm.AlterPartitionAssignmentsReq
	for _, p := range plan.Partitions {
		cur, ok := replicas[p.name()]
		if !ok {
			missing = append(missing, p.name())
			continue
		}
		rollback = append(rollback, reassignPartition{Topic: p.Topic, Partition: p.Partition, Replicas: cur})
		req.Assign(p.Topic, p.Partition, p.Replicas)
		started = append(started, p.name())
	}
	if len(missing) > 0 {
		e := opErr("Unable to find partition: "+strings.Join(missing, ", "), kerr.UnknownTopicOrPartition, "")
		e.hint = "see the topics' partitions with `fjord topic describe " + strings.Join(planTopics(plan.Partitions), " ") + "`"
		return e
	}
	if !g.json() {
		fmt.Fprintf(w, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", formatPlan(rollback))
	}
	if throttle > 0 {
		// As kafka-reassign-partitions.sh: the rates on every broker a
		// move touches, the senders and receivers marked on each topic;
		// --verify removes them once every move is done.
		// The throttled replica lists replace a topic's, so they name the
		// moves already running too (--additional), as Kafka's tool
		// merges them; a move's senders are its original replicas.
		without := func(ids, drop []int32) []int32 {
			return slices.DeleteFunc(slices.Clone(ids), func(id int32) bool { return slices.Contains(drop, id) })
		}
		var moves []balanceMove
		for _, r := range ongoing {
			if !slices.ContainsFunc(plan.Partitions, func(p reassignPartition) bool { return p.Topic == r.Topic && p.Partition == r.Part }) {
				moves = append(moves, balanceMove{Topic: r.Topic, Partition: r.Part, From: without(r.Replicas, r.Adding), To: without(r.Replicas, r.Removing)})
			}
		}
		for _, r := range rollback {
			from := r.Replicas
			if i := slices.IndexFunc(ongoing, func(o reassignmentJSON) bool { return o.Topic == r.Topic && o.Part == r.Partition }); i >= 0 {
				from = without(from, ongoing[i].Adding)
			}
			moves = append(moves, balanceMove{Topic: r.Topic, Partition: r.Partition, From: from, To: plan.Partitions[slices.IndexFunc(plan.Partitions, func(p reassignPartition) bool {
				return p.Topic == r.Topic && p.Partition == r.Partition
			})].Replicas})
		}
		if _, err := setThrottle(ctx, adm, moves, throttle); err != nil {
			return err
		}
		if !g.json() {
			fmt.Fprintf(w, "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\nThe inter-broker throttle limit was set to %d B/s\n", throttle)
		}
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return opErr("reassign partitions", err, "")
	}
	if err := alterResults("could not reassign partition(s):", resp); err != nil {
		return err
	}
	sortNames(started)
	if g.json() {
		return writeJSON(w, executeJSON{Rollback: planOf(rollback), Started: started})
	}
	fmt.Fprintf(w, "Successfully started partition reassignment%s for %s\n", plural(len(started)), strings.Join(started, ","))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// sortNames sorts t-N names by topic, then partition number.
func sortNames(names []string) {
	split := func(s string) (string, int) {
		i := strings.LastIndexByte(s, '-')
		n, _ := strconv.Atoi(s[i+1:])
		return s[:i], n
	}
	slices.SortFunc(names, func(a, b string) int {
		ta, pa := split(a)
		tb, pb := split(b)
		if c := strings.Compare(ta, tb); c != 0 {
			return c
		}
		return pa - pb
	})
}

// Verify states of one partition.
const (
	verifyCompleted  = "completed"
	verifyInProgress = "in_progress"
	verifyMismatch   = "mismatch" // not reassigning, but on other replicas
)

type verifyJSON struct {
	Topic    string  `json:"topic"`
	Part     int32   `json:"partition"`
	State    string  `json:"state"`
	Replicas []int32 `json:"replicas"` // the current replicas
	Target   []int32 `json:"target"`
}

func reassignVerify(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, plan *reassignPlan, preserveThrottles bool) error {
	ongoing, err := listReassignments(ctx, cl, plan.Partitions)
	if err != nil {
		return err
	}
	// A topic that no longer exists has no replicas: a mismatch, as in Kafka.
	replicas, _, err := topicReplicas(ctx, adm, planTopics(plan.Partitions), true)
	if err != nil {
		return err
	}
	out := []verifyJSON{}
	for _, p := range plan.Partitions {
		v := verifyJSON{Topic: p.Topic, Part: p.Partition, Target: p.Replicas, Replicas: replicas[p.name()]}
		i := slices.IndexFunc(ongoing, func(r reassignmentJSON) bool { return r.Topic == p.Topic && r.Part == p.Partition })
		switch {
		case i >= 0:
			v.State, v.Replicas = verifyInProgress, ongoing[i].Replicas
		case slices.Equal(v.Replicas, p.Replicas):
			v.State = verifyCompleted
		default:
			v.State = verifyMismatch
		}
		if v.Replicas == nil {
			v.Replicas = []int32{}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b verifyJSON) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Part) - int(b.Part)
	})
	done := !slices.ContainsFunc(out, func(v verifyJSON) bool { return v.State == verifyInProgress })
	var cleared *throttle
	if done && !preserveThrottles {
		// Every move of the plan is done: the throttles go, on every
		// broker and on the plan's topics, as Kafka's --verify does.
		// The live brokers, as Kafka's describeCluster gives them: a
		// broker's own configs are changed through that broker.
		m, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return opErr("cluster metadata", err, "")
		}
		cleared = &throttle{topics: planTopics(plan.Partitions)}
		for _, b := range m.Brokers {
			cleared.brokers = append(cleared.brokers, b.NodeID)
		}
		slices.Sort(cleared.brokers)
		if err := cleared.clear(ctx, adm); err != nil {
			return err
		}
	}
	if g.json() {
		return writeJSON(w, out)
	}
	fmt.Fprintln(w, "Status of partition reassignment:")
	defer func() {
		if cleared != nil {
			fmt.Fprintf(w, "\nClearing broker-level throttles on brokers %s\nClearing topic-level throttles on topic%s %s\n",
				int32List(cleared.brokers), plural(len(cleared.topics)), strings.Join(cleared.topics, ","))
		}
	}()
	for _, v := range out {
		name := tp(v.Topic, v.Part)
		switch v.State {
		case verifyCompleted:
			fmt.Fprintf(w, "Reassignment of partition %s is completed.\n", name)
		case verifyInProgress:
			fmt.Fprintf(w, "Reassignment of partition %s is still in progress.\n", name)
		default:
			fmt.Fprintf(w, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n",
				name, int32List(v.Replicas), int32List(v.Target))
		}
	}
	return nil
}

// cancelJSON is --cancel's result under --output json.
type cancelJSON struct {
	Cancelled []string `json:"cancelled"`
}

func reassignCancel(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, plan *reassignPlan) error {
	ongoing, err := listReassignments(ctx, cl, plan.Partitions)
	if err != nil {
		return err
	}
	cancelled := []string{}
	var req kadm.AlterPartitionAssignmentsReq
	for _, r := range ongoing {
		req.CancelAssign(r.Topic, r.Part)
		cancelled = append(cancelled, tp(r.Topic, r.Part))
	}
	if len(cancelled) > 0 {
		resp, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			return opErr("cancel partition reassignments", err, "")
		}
		if err := alterResults(fmt.Sprintf("could not cancel partition reassignment%s for:", plural(len(cancelled))), resp); err != nil {
			return err
		}
	}
	if g.json() {
		return writeJSON(w, cancelJSON{Cancelled: cancelled})
	}
	if len(cancelled) == 0 {
		fmt.Fprintln(w, "None of the specified partition reassignments are active.")
		return nil
	}
	fmt.Fprintf(w, "Successfully cancelled partition reassignment%s for: %s\n", plural(len(cancelled)), strings.Join(cancelled, ","))
	return nil
}

func reassignList(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client) error {
	ongoing, err := listReassignments(ctx, cl, nil)
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(w, ongoing)
	}
	if len(ongoing) == 0 {
		fmt.Fprintln(w, "No partition reassignments found.")
		return nil
	}
	fmt.Fprintln(w, "Current partition reassignments:")
	for _, r := range ongoing {
		line := fmt.Sprintf("%s: replicas: %s.", tp(r.Topic, r.Part), int32List(r.Replicas))
		if len(r.Adding) > 0 {
			line += fmt.Sprintf(" adding: %s.", int32List(r.Adding))
		}
		if len(r.Removing) > 0 {
			line += fmt.Sprintf(" removing: %s.", int32List(r.Removing))
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
