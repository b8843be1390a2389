package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/config"
)

// The replication throttle configs (KIP-73) --throttle sets while a plan
// runs and removes when it is done.
const (
	leaderThrottleRate       = "leader.replication.throttled.rate"
	followerThrottleRate     = "follower.replication.throttled.rate"
	leaderThrottledReplicas  = "leader.replication.throttled.replicas"
	followerThrottledReplica = "follower.replication.throttled.replicas"
)

// balanceOpts are the flags rebalance and decommission share.
type balanceOpts struct {
	execute  bool
	throttle int64
	poll     time.Duration
	brokers  string
	topics   []string
}

func (o *balanceOpts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.execute, "execute", false, "start the moves and follow them until done (without it, only show the plan)")
	f.Int64Var(&o.throttle, "throttle", 0, "with --execute: cap replication traffic at this many bytes/s per broker while moving (replication throttle configs)")
	f.DurationVar(&o.poll, "progress-interval", 2*time.Second, "with --execute: how often to report progress")
	f.StringSliceVar(&o.topics, "topic", nil, "balance only these topics (repeatable; default every topic)")
}

func (o *balanceOpts) check(cmd *cobra.Command) error {
	for _, name := range []string{"throttle", "progress-interval"} {
		if cmd.Flags().Changed(name) && !o.execute {
			return usagef("--%s needs --execute", name)
		}
	}
	if o.throttle < 0 {
		return usagef("--throttle %d: want bytes per second, more than 0", o.throttle)
	}
	if o.poll <= 0 {
		return usagef("--progress-interval %s: want a positive duration", o.poll)
	}
	return nil
}

func newClusterRebalanceCmd(g *globals) *cobra.Command {
	var o balanceOpts
	cmd := &cobra.Command{
		Use:   "rebalance [--brokers 1,2,3] [--topic T]... [--execute [--throttle BYTES/s]]",
		Short: "Even out replicas, leaders and bytes across brokers: show the plan, or run it with --execute",
		Long: `Plan, and with --execute run, the partition reassignments that even out the brokers:
replica counts within one, preferred leaders (each partition's first replica) within one,
and bytes (from DescribeLogDirs) greedily, moving as few replicas as it can. A partition's
replicas are never on one broker twice, keep their count, and are spread over distinct
racks (broker.rack) where there are enough.

Without --execute it prints the moves and each broker's replicas, leaders and bytes before
and after; nothing changes. With --execute it starts the moves (AlterPartitionReassignments),
reports progress (partitions moved, bytes left, rate, time left) until all are done, then
elects preferred leaders so leadership ends even. --throttle caps replication traffic while
data moves (leader/follower.replication.throttled.rate and .replicas, removed when done).
Interrupting only stops watching: the moves go on (see fjord cluster reassign --list).

--brokers names the brokers to balance over (default: every live broker); replicas on
other brokers are moved onto them. Cordoned brokers (cordoned.log.dirs, set by fjord cluster
decommission --execute) are never targets: they keep their replicas and receive none.`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			var targets []int32
			if o.brokers != "" {
				var err error
				if targets, err = parseBrokerList(o.brokers); err != nil {
					return err
				}
			}
			return runBalance(cmd, g, &o, targets, -1)
		}),
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.brokers, "brokers", "", "the brokers to balance over, e.g. 1,2,3,4 (default: every live broker)")
	return cmd
}

func newClusterDecommissionCmd(g *globals) *cobra.Command {
	var o balanceOpts
	var cancelIt bool
	cmd := &cobra.Command{
		Use:   "decommission BROKER [--execute [--throttle BYTES/s]] | --cancel",
		Short: "Move every replica off a broker before it is removed: show the plan, or run it with --execute",
		Long: `Plan, and with --execute run, moving every replica off BROKER onto the other live
brokers, each to the least loaded broker that holds no replica of the partition (on a rack the
partition does not use yet, where racks are set); nothing else moves. Refused if the other
brokers are fewer than a partition's replicas. --execute, --throttle and the progress report
are as for fjord cluster rebalance. When it is done the broker holds nothing and can be
stopped; check with fjord cluster info or fjord topic describe.

--execute first cordons BROKER (KIP-1066: cordoned.log.dirs=* on the BROKER resource), so
that new topics and partitions are not placed on it and the continuous balancer
(balancer.enable) does not move replicas back. --cancel removes the cordon: the broker
receives new replicas again; replicas already moved stay, running moves go on.`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usagef("broker %q: want a broker ID", args[0])
			}
			if cancelIt {
				for _, name := range []string{"execute", "throttle", "progress-interval", "topic"} {
					if cmd.Flags().Changed(name) {
						return usagef("--cancel cannot be used with --%s", name)
					}
				}
				return cancelDecommission(cmd, g, int32(id))
			}
			return runBalance(cmd, g, &o, nil, int32(id))
		}),
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&cancelIt, "cancel", false, "remove the broker's cordon (cordoned.log.dirs) so it receives new replicas again")
	return cmd
}

// clusterState is what a plan is made from.
type clusterState struct {
	partitions []balancePartition
	racks      map[int32]string
	live       []int32 // the brokers Metadata lists, sorted
	cordoned   []int32 // the live brokers with cordoned.log.dirs set, sorted
}

// readClusterState reads the assignment and racks from Metadata and the
// partition sizes (the largest replica's) from DescribeLogDirs.
func readClusterState(ctx context.Context, adm *kadm.Client, topics []string) (*clusterState, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, opErr("cluster metadata", err, "")
	}
	st := &clusterState{racks: map[int32]string{}}
	for _, b := range md.Brokers {
		st.live = append(st.live, b.NodeID)
		st.racks[b.NodeID] = deref(b.Rack)
	}
	slices.Sort(st.live)
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			return nil, opErr("describe topic "+t.Topic, t.Err, "")
		}
		for _, p := range t.Partitions.Sorted() {
			st.partitions = append(st.partitions, balancePartition{Topic: t.Topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
		}
	}
	if st.cordoned, err = readCordoned(ctx, adm, st.live); err != nil {
		return nil, err
	}
	sizes, err := partitionSizes(ctx, adm, nil)
	if err != nil {
		return nil, err
	}
	for i := range st.partitions {
		p := &st.partitions[i]
		for _, s := range sizes[p.Name()] {
			p.Size = max(p.Size, s)
		}
	}
	return st, nil
}

// partitionSizes maps t-N to the size of each broker's replica, from
// DescribeLogDirs on every broker (only topics' partitions if set).
func partitionSizes(ctx context.Context, adm *kadm.Client, topics kadm.TopicsSet) (map[string]map[int32]int64, error) {
	all, err := adm.DescribeAllLogDirs(ctx, topics)
	if err != nil {
		return nil, opErr("describe log dirs", err, "")
	}
	out := map[string]map[int32]int64{}
	for _, d := range all.Sorted() {
		if d.Err != nil {
			continue // a broker that cannot say: sizes count as unknown (0)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			name := tp(p.Topic, p.Partition)
			if out[name] == nil {
				out[name] = map[int32]int64{}
			}
			out[name][p.Broker] = p.Size
		})
	}
	return out, nil
}

// brokerSummary is one broker before and after a plan.
type brokerSummary struct {
	Broker int32      `json:"broker"`
	Rack   string     `json:"rack,omitempty"`
	Before brokerLoad `json:"before"`
	After  brokerLoad `json:"after"`
}

// balanceJSON is rebalance's and decommission's result under --output json.
type balanceJSON struct {
	Moves    []balanceMove   `json:"moves"`
	Brokers  []brokerSummary `json:"brokers"`
	Cordoned []int32         `json:"cordoned,omitempty"` // live brokers with cordoned.log.dirs set (decommission --execute: before it ran)
	Executed bool            `json:"executed"`
	// With --execute: the data copied, and the preferred leader election.
	BytesMoved int64    `json:"bytes_moved,omitempty"`
	Seconds    float64  `json:"seconds,omitempty"`
	Elected    []string `json:"elected,omitempty"`
}

func runBalance(cmd *cobra.Command, g *globals, o *balanceOpts, targets []int32, decommission int32) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := g.adminOf(cl)
	w := cmd.OutOrStdout()
	ctx, cancel := g.opCtx(cmd.Context())
	st, err := readClusterState(ctx, adm, o.topics)
	cancel()
	if err != nil {
		return err
	}
	in := balanceInput{Partitions: st.partitions, Racks: st.racks, Targets: targets}
	// Cordoned brokers receive nothing; their replicas stay (emptying one
	// is decommission's job).
	usable := slices.DeleteFunc(slices.Clone(st.live), func(id int32) bool { return slices.Contains(st.cordoned, id) })
	if decommission >= 0 {
		in.EvacuateOnly = true
		in.Targets = slices.DeleteFunc(usable, func(id int32) bool { return id == decommission })
		// Replicas on other brokers that are down or cordoned stay: only N
		// is emptied.
		for _, p := range st.partitions {
			for _, id := range p.Replicas {
				if id != decommission && !slices.Contains(in.Targets, id) && !slices.Contains(in.Keep, id) {
					in.Keep = append(in.Keep, id)
				}
			}
		}
		if !slices.Contains(st.live, decommission) && !hostsReplicas(st.partitions, decommission) {
			e := opErr("", fmt.Errorf("Unknown broker id %d", decommission), "")
			e.hint = "list the brokers with `fjord cluster info`"
			return e
		}
	} else if in.Targets == nil {
		in.Targets = usable
		// A broker that is down (restarting, say) keeps its replicas: it
		// is not evacuated by a rebalance run while it is away. Moving
		// them off is `fjord cluster decommission N`, or --brokers.
		for _, p := range st.partitions {
			for _, id := range p.Replicas {
				if !slices.Contains(usable, id) && !slices.Contains(in.Keep, id) {
					in.Keep = append(in.Keep, id)
				}
			}
		}
	} else {
		for _, id := range in.Targets {
			if slices.Contains(st.cordoned, id) {
				e := opErr("", fmt.Errorf("broker %d is cordoned (%s): it receives no new replicas", id, config.CordonedLogDirs), "")
				e.hint = fmt.Sprintf("leave it out of --brokers, or uncordon it with `fjord cluster decommission %d --cancel`", id)
				return e
			}
		}
		ctx, cancel := g.opCtx(cmd.Context())
		_, err := checkBrokers(ctx, cl, adm, in.Targets, false)
		cancel()
		if err != nil {
			return err
		}
	}
	moves, err := planBalance(in)
	if err != nil {
		what := "plan the rebalance"
		if decommission >= 0 {
			what = fmt.Sprintf("decommission broker %d", decommission)
		}
		return opErr(what, err, "")
	}
	all := slices.Clone(st.live)
	for _, id := range in.Targets {
		if !slices.Contains(all, id) {
			all = append(all, id)
		}
	}
	summary := summarize(st.partitions, moves, st.racks, all)
	res := balanceJSON{Moves: moves, Brokers: summary, Cordoned: st.cordoned}
	if res.Moves == nil {
		res.Moves = []balanceMove{}
	}
	if !g.json() {
		if err := printBalancePlan(w, moves, summary); err != nil {
			return err
		}
		if len(st.cordoned) > 0 {
			fmt.Fprintf(w, "\nCordoned (%s; no new replicas): %s\n", config.CordonedLogDirs, int32List(st.cordoned))
		}
	}
	cordon := func() error {
		if decommission < 0 {
			return nil
		}
		return cordonForDecommission(cmd.Context(), w, cmd.ErrOrStderr(), g, adm, decommission, st.live)
	}
	if o.execute && len(moves) == 0 {
		// Emptied already (or by hand): still cordoned, so it stays empty.
		if err := cordon(); err != nil {
			return err
		}
	}
	if !o.execute || len(moves) == 0 {
		if g.json() {
			return writeJSON(w, res)
		}
		if len(moves) > 0 {
			fmt.Fprintln(w, "\nThis is a dry run: run again with --execute to move the replicas.")
		}
		return nil
	}
	if err := executeBalance(cmd.Context(), w, g, cl, adm, o, moves, &res, cordon); err != nil {
		return err
	}
	if g.json() {
		return writeJSON(w, res)
	}
	return nil
}

func hostsReplicas(ps []balancePartition, id int32) bool {
	for _, p := range ps {
		if slices.Contains(p.Replicas, id) {
			return true
		}
	}
	return false
}

func summarize(ps []balancePartition, moves []balanceMove, racks map[int32]string, brokers []int32) []brokerSummary {
	after := slices.Clone(ps)
	for i := range after {
		for _, m := range moves {
			if m.Topic == after[i].Topic && m.Partition == after[i].Partition {
				after[i].Replicas = m.To
			}
		}
	}
	before, aft := loads(ps, racks, brokers), loads(after, racks, brokers)
	var out []brokerSummary
	for _, b := range before {
		s := brokerSummary{Broker: b.Broker, Rack: b.Rack, Before: b}
		for _, a := range aft {
			if a.Broker == b.Broker {
				s.After = a
			}
		}
		out = append(out, s)
	}
	return out
}

func printBalancePlan(w io.Writer, moves []balanceMove, summary []brokerSummary) error {
	if len(moves) == 0 {
		fmt.Fprintln(w, "The brokers are balanced: nothing to move.")
	} else {
		var replicas int
		var data int64
		for _, m := range moves {
			replicas += len(m.Added())
			data += m.Size * int64(len(m.Added()))
		}
		fmt.Fprintf(w, "Plan: %d partition%s to reassign, %d replica%s to copy (%s)\n\n",
			len(moves), plural(len(moves)), replicas, plural(replicas), humanBytes(data))
		t := newTable("PARTITION", "FROM", "TO", "SIZE")
		for _, m := range moves {
			t.add(m.Name(), int32List(m.From), int32List(m.To), humanBytes(m.Size))
		}
		if err := t.write(w, ""); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	t := newTable("BROKER", "RACK", "REPLICAS", "LEADERS", "BYTES")
	for _, s := range summary {
		t.add(s.Broker, orDash(s.Rack),
			fmt.Sprintf("%d -> %d", s.Before.Replicas, s.After.Replicas),
			fmt.Sprintf("%d -> %d", s.Before.Leaders, s.After.Leaders),
			fmt.Sprintf("%s -> %s", humanBytes(s.Before.Bytes), humanBytes(s.After.Bytes)))
	}
	return t.write(w, "")
}

// humanBytes prints n in B, KiB, MiB, GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"B", "KiB", "MiB", "GiB", "TiB"}[i])
}

// executeBalance starts the moves, follows them to the end, clears the
// throttle and elects preferred leaders. before runs once no other
// reassignment is found running, just before the moves start (decommission
// cordons its broker there: cordoned earlier, the continuous balancer could
// start moving the broker's replicas itself and make this run refuse).
func executeBalance(parent context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, o *balanceOpts, moves []balanceMove, res *balanceJSON, before func() error) error {
	ctx, cancel := g.opCtx(parent)
	ongoing, err := listReassignments(ctx, cl, nil)
	cancel()
	if err != nil {
		return err
	}
	if len(ongoing) > 0 {
		e := opErr("", fmt.Errorf("%d partition reassignment%s already running; a plan made now would fight them", len(ongoing), plural(len(ongoing))), "")
		e.hint = "wait for them (`fjord cluster reassign --list`) or cancel them, then plan again"
		return e
	}
	if err := before(); err != nil {
		return err
	}
	var throttled *throttle
	if o.throttle > 0 {
		ctx, cancel := g.opCtx(parent)
		throttled, err = setThrottle(ctx, adm, moves, o.throttle)
		cancel()
		if err != nil {
			return err
		}
	}
	var req kadm.AlterPartitionAssignmentsReq
	var ps []reassignPartition
	for _, m := range moves {
		req.Assign(m.Topic, m.Partition, m.To)
		ps = append(ps, reassignPartition{Topic: m.Topic, Partition: m.Partition, Replicas: m.To})
	}
	ctx, cancel = g.opCtx(parent)
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	cancel()
	if err == nil {
		err = alterResults("could not reassign partition(s):", resp)
	}
	if err != nil {
		err = endThrottle(parent, g, cl, adm, throttled, ps, err)
		var pe *partitionsError
		if errors.As(err, &pe) {
			return err
		}
		return opErr("reassign partitions", err, "")
	}
	if !g.json() {
		fmt.Fprintf(w, "\nStarted %d reassignment%s.\n", len(moves), plural(len(moves)))
	}
	start := time.Now()
	copied, err := followMoves(parent, w, g, cl, adm, o.poll, moves, ps, start)
	if err != nil {
		return endThrottle(parent, g, cl, adm, throttled, ps, err)
	}
	ctx, cancel = g.opCtx(parent)
	err = waitAssigned(ctx, adm, moves)
	cancel()
	if err != nil {
		return endThrottle(parent, g, cl, adm, throttled, ps, err)
	}
	res.Executed, res.BytesMoved, res.Seconds = true, copied, time.Since(start).Seconds()
	if throttled != nil {
		ctx, cancel := g.opCtx(parent)
		err := throttled.clear(ctx, adm)
		cancel()
		if err != nil {
			return err
		}
	}
	ctx, cancel = g.opCtx(parent)
	res.Elected, err = electPreferred(ctx, adm, moves)
	cancel()
	if err != nil {
		return err
	}
	if !g.json() {
		fmt.Fprintf(w, "Done: %d partition%s moved, %s copied in %s; preferred leaders elected for %d partition%s.\n",
			len(moves), plural(len(moves)), humanBytes(copied), time.Since(start).Round(100*time.Millisecond), len(res.Elected), plural(len(res.Elected)))
	}
	return nil
}

// followMoves polls ListPartitionReassignments and DescribeLogDirs every
// interval, printing partitions moved, bytes left, rate and time left, until
// no reassignment of ps runs; it returns the bytes copied.
func followMoves(parent context.Context, w io.Writer, g *globals, cl *kgo.Client, adm *kadm.Client, interval time.Duration, moves []balanceMove, ps []reassignPartition, start time.Time) (int64, error) {
	var total int64
	set := kadm.TopicsSet{}
	for _, m := range moves {
		total += m.Size * int64(len(m.Added()))
		set.Add(m.Topic, m.Partition)
	}
	for {
		ctx, cancel := g.opCtx(parent)
		ongoing, err := listReassignments(ctx, cl, ps)
		var sizes map[string]map[int32]int64
		if err == nil && len(ongoing) > 0 {
			sizes, err = partitionSizes(ctx, adm, set)
		}
		cancel()
		if err != nil {
			if parent.Err() != nil {
				return 0, interrupted()
			}
			return 0, err
		}
		running := map[string]bool{}
		for _, r := range ongoing {
			running[tp(r.Topic, r.Part)] = true
		}
		var copied int64
		for _, m := range moves {
			for _, id := range m.Added() {
				if !running[m.Name()] {
					copied += m.Size
				} else {
					copied += min(m.Size, sizes[m.Name()][id])
				}
			}
		}
		elapsed := time.Since(start)
		if !g.json() {
			line := fmt.Sprintf("%d/%d partitions moved, %s left", len(moves)-len(ongoing), len(moves), humanBytes(total-copied))
			if secs := elapsed.Seconds(); secs > 0 {
				rate := float64(copied) / secs
				line += fmt.Sprintf(", %s/s", humanBytes(int64(rate)))
				if len(ongoing) > 0 && rate > 0 {
					line += fmt.Sprintf(", about %s left", (time.Duration(float64(total-copied)/rate) * time.Second).Round(time.Second))
				}
			}
			fmt.Fprintf(w, "[%s] %s\n", elapsed.Round(time.Second), line)
		}
		if len(ongoing) == 0 {
			return copied, nil
		}
		select {
		case <-parent.Done():
			return 0, interrupted()
		case <-time.After(interval):
		}
	}
}

// waitAssigned waits until Metadata shows every move's target replicas:
// the controller has finished, but the broker asked may not know it yet.
func waitAssigned(ctx context.Context, adm *kadm.Client, moves []balanceMove) error {
	var topics []string
	for _, m := range moves {
		if !slices.Contains(topics, m.Topic) {
			topics = append(topics, m.Topic)
		}
	}
	for {
		md, err := adm.Metadata(ctx, topics...)
		if err != nil {
			return opErr("cluster metadata", err, "")
		}
		pending := ""
		for _, m := range moves {
			if got := md.Topics[m.Topic].Partitions[m.Partition].Replicas; !slices.Equal(got, m.To) {
				pending = fmt.Sprintf("%s is on %s, not yet %s", m.Name(), int32List(got), int32List(m.To))
				break
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return opErr("wait for the new assignment", ctx.Err(), pending)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func interrupted() error {
	e := opErr("", errors.New("stopped watching: the reassignments go on"), "")
	e.hint = "follow them with `fjord cluster reassign --list`"
	return e
}

// endThrottle ends a run that failed with err: the throttle it set is
// removed when none of its reassignments (ps) is still running, and kept
// otherwise (removing it would let the moves that did start run
// unthrottled), with the command that removes it once they are done.
func endThrottle(parent context.Context, g *globals, cl *kgo.Client, adm *kadm.Client, th *throttle, ps []reassignPartition, err error) error {
	if th == nil {
		return err
	}
	ctx, cancel := g.opCtx(context.WithoutCancel(parent))
	defer cancel()
	running, lerr := listReassignments(ctx, cl, ps)
	if lerr == nil && len(running) == 0 {
		if cerr := th.clear(ctx, adm); cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	var ce *cmdError
	if !errors.As(err, &ce) {
		ce = opErr("", err, "")
	}
	ce.hint = strings.TrimSpace(ce.hint + "\nThe replication throttle stays while the moves that started run; once `fjord cluster reassign --list` shows none, remove it with:\n  echo '" +
		formatPlan(ps) + "' | fjord cluster reassign --verify --reassignment-json-file -")
	return ce
}

// electPreferred elects the preferred leaders of the moved partitions and
// returns those elected (ELECTION_NOT_NEEDED is no failure).
func electPreferred(ctx context.Context, adm *kadm.Client, moves []balanceMove) ([]string, error) {
	set := kadm.TopicsSet{}
	for _, m := range moves {
		set.Add(m.Topic, m.Partition)
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		return nil, opErr("elect preferred leaders", err, "")
	}
	elected := []string{}
	var failed []string
	for t, ps := range res {
		for p, r := range ps {
			switch {
			case r.Err == nil:
				elected = append(elected, tp(t, p))
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
			default:
				failed = append(failed, tp(t, p)+": "+errName(r.Err))
			}
		}
	}
	sortNames(elected)
	if len(failed) > 0 {
		slices.Sort(failed)
		return elected, &partitionsError{heading: "the moves are done, but preferred leaders could not be elected for:", lines: failed, cause: kerr.PreferredLeaderNotAvailable}
	}
	return elected, nil
}

// throttle is what setThrottle set, to be removed when the moves end.
type throttle struct {
	brokers []int32
	topics  []string
}

// setThrottle sets the replication throttle rates on every broker a move
// touches, and marks as throttled the replicas that send (the current ones)
// and receive (the added ones) on each moved topic, as
// kafka-reassign-partitions.sh --throttle does.
func setThrottle(ctx context.Context, adm *kadm.Client, moves []balanceMove, rate int64) (*throttle, error) {
	th := &throttle{}
	leaders, followers := map[string][]string{}, map[string][]string{}
	for _, m := range moves {
		for _, id := range m.From {
			leaders[m.Topic] = append(leaders[m.Topic], fmt.Sprintf("%d:%d", m.Partition, id))
		}
		for _, id := range m.Added() {
			followers[m.Topic] = append(followers[m.Topic], fmt.Sprintf("%d:%d", m.Partition, id))
		}
		for _, id := range append(slices.Clone(m.From), m.To...) {
			if !slices.Contains(th.brokers, id) {
				th.brokers = append(th.brokers, id)
			}
		}
		if !slices.Contains(th.topics, m.Topic) {
			th.topics = append(th.topics, m.Topic)
		}
	}
	slices.Sort(th.brokers)
	r := strconv.FormatInt(rate, 10)
	fail := func(err error) (*throttle, error) {
		_ = th.clear(ctx, adm)
		e := opErr("--throttle: set the replication throttle", err, "")
		e.hint = "nothing was moved; the brokers may not support replication throttles: run again without --throttle"
		return nil, e
	}
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: leaderThrottleRate, Value: &r},
		{Op: kadm.SetConfig, Name: followerThrottleRate, Value: &r},
	}, th.brokers...)
	if err == nil {
		err = alterConfigsErr(resp)
	}
	if err != nil {
		return fail(err)
	}
	for _, t := range th.topics {
		l, f := strings.Join(leaders[t], ","), strings.Join(followers[t], ",")
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: leaderThrottledReplicas, Value: &l},
			{Op: kadm.SetConfig, Name: followerThrottledReplica, Value: &f},
		}, t)
		if err == nil {
			err = alterConfigsErr(resp)
		}
		if err != nil {
			return fail(err)
		}
	}
	return th, nil
}

// clear removes the throttle configs.
func (th *throttle) clear(ctx context.Context, adm *kadm.Client) error {
	var errs []error
	if len(th.brokers) > 0 {
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.DeleteConfig, Name: leaderThrottleRate},
			{Op: kadm.DeleteConfig, Name: followerThrottleRate},
		}, th.brokers...)
		errs = append(errs, err, alterConfigsErr(resp))
	}
	if len(th.topics) > 0 {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.DeleteConfig, Name: leaderThrottledReplicas},
			{Op: kadm.DeleteConfig, Name: followerThrottledReplica},
		}, th.topics...)
		errs = append(errs, err, alterConfigsErr(resp))
	}
	if err := errors.Join(errs...); err != nil {
		return opErr("remove the replication throttle", err, "")
	}
	return nil
}

// alterConfigsErr is the first failed resource of an AlterConfigs answer.
func alterConfigsErr(resp kadm.AlterConfigsResponses) error {
	for _, r := range resp {
		if r.Err != nil {
			if r.ErrMessage != "" {
				return fmt.Errorf("%s: %w: %s", r.Name, r.Err, r.ErrMessage)
			}
			return fmt.Errorf("%s: %w", r.Name, r.Err)
		}
	}
	return nil
}
