package controller

// The continuous balancer (balancer.enable, Fjord only): the active
// controller reassigns partitions by itself when a broker is gone for good
// or is cordoned (cordoned.log.dirs), or when brokers hold uneven replica
// counts (a new broker holds none). It plans with internal/balance, the
// planner of fjord cluster rebalance and decommission, and starts its moves
// as AlterPartitionReassignments does: PartitionChangeRecords committed
// through the quorum, completed by the leaders' AlterPartitions like any
// reassignment.
//
// decideBalance is pure (image, liveness, the cordoned brokers, the times
// brokers went away, now -> the moves to start); the balancer's memory
// (when each broker went away, when it last looked) lives in Run's
// goroutine only and starts anew each time this controller becomes active,
// so a failover restarts a gone broker's grace period rather than
// shortening it.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/balance"
	"github.com/fjordstream/fjord/internal/metadata"
)

// balancerConfig is what the balancer decides with.
type balancerConfig struct {
	enable   bool
	gone     time.Duration // balancer.broker.gone.ms
	maxMoves int           // balancer.max.concurrent.moves
	// diskThreshold is balancer.disk.usage.threshold.percent; 0 or 100
	// turns the disk trigger off.
	diskThreshold int
	// diskStale: some report may predate the deletion of a replica a
	// reassignment just moved away, so the disk trigger waits; the other
	// decisions go on (a report that is too high only keeps moves off a
	// broker, which is the safe side).
	diskStale bool
}

// balanceDecision is one look at the cluster: the reassignments to start
// (at most maxMoves) and why, or why none.
type balanceDecision struct {
	moves  []balance.Move
	reason string
}

// trackGone returns when each broker that is not live went away: the
// registered brokers that live refuses and the unregistered brokers
// replicas name, keeping the times of prev and starting now for the new
// ones. A broker that is live again is forgotten.
func trackGone(img *metadata.Image, live func(int32) bool, prev map[int32]time.Time, now time.Time) map[int32]time.Time {
	ids := map[int32]bool{}
	for _, b := range img.Brokers() {
		ids[b.ID] = true
	}
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			for _, id := range p.Replicas {
				ids[id] = true
			}
		}
	}
	out := map[int32]time.Time{}
	for id := range ids {
		if live(id) {
			continue
		}
		if at, ok := prev[id]; ok {
			out[id] = at
		} else {
			out[id] = now
		}
	}
	return out
}

// decideBalance decides what the balancer starts now. Nothing while it is
// disabled or any reassignment runs (its own or an operator's). Cordoned
// brokers (cordoned.log.dirs, see cordonedBrokers) are never targets, and
// those holding replicas are evacuated at once, like brokers gone for
// good: so a fjord cluster decommission, which cordons the broker it
// empties, is not undone. Else, when
// brokers holding replicas have been away (not live) for cfg.gone, their
// replicas move to the live brokers (as fjord cluster decommission does),
// only if the live brokers can hold every partition's replication factor;
// while such a broker has been away for less, nothing moves (a restart
// moves no data); so do a cordoned broker's (cordoned.log.dirs), at once,
// and none moves onto one. Else, when live brokers' disks (disks: the brokers'
// latest reports; a broker without one is unknown) are fuller than
// cfg.diskThreshold percent, their largest partitions move onto the
// brokers below it with the most free space (balance.PlanDisk). Else each
// topic whose replica counts over the live brokers differ by more than one
// (a broker joined) is rebalanced as fjord cluster rebalance --topic plans
// it. No replica moves onto a broker over the disk threshold, nor, where
// sizes are known, onto one it would push over. At most cfg.maxMoves
// partitions move at once, data moves before mere changes of replica order.
func decideBalance(img *metadata.Image, live func(int32) bool, cordoned map[int32]bool, gone map[int32]time.Time, disks map[int32]DiskReport, now time.Time, cfg balancerConfig) balanceDecision {
	if !cfg.enable {
		return balanceDecision{}
	}
	var ps []balance.Partition
	hosts := map[int32]bool{}
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			if p.Reassigning() {
				return balanceDecision{reason: fmt.Sprintf("a reassignment is in progress (%s-%d)", name, p.Index)}
			}
			for _, id := range p.Replicas {
				hosts[id] = true
			}
			ps = append(ps, balance.Partition{Topic: name, Partition: p.Index, Replicas: slices.Clone(p.Replicas)})
		}
	}
	racks := map[int32]string{}
	var targets []int32
	for _, b := range img.Brokers() {
		if b.Rack != nil {
			racks[b.ID] = *b.Rack
		}
		if live(b.ID) && !cordoned[b.ID] {
			targets = append(targets, b.ID)
		}
	}
	if len(ps) == 0 || len(targets) == 0 {
		return balanceDecision{}
	}
	dv := newDiskView(disks, targets, cfg.diskThreshold)
	var evacuate, waiting, leaving []int32
	for _, id := range slices.Sorted(maps.Keys(hosts)) {
		if cordoned[id] {
			leaving = append(leaving, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(gone)) {
		if !hosts[id] || live(id) || cordoned[id] {
			continue
		}
		if now.Sub(gone[id]) >= cfg.gone {
			evacuate = append(evacuate, id)
		} else {
			waiting = append(waiting, id)
		}
	}
	var moves []balance.Move
	var reason string
	switch {
	case len(evacuate) > 0 || len(leaving) > 0:
		// A cordoned broker's replicas move even while another broker is
		// away for less than the grace: that one keeps its replicas
		// (Keep), and so do brokers over the disk threshold, which take
		// none.
		in := balance.Input{Partitions: ps, Racks: racks, Targets: dv.cool, EvacuateOnly: true, Keep: slices.Concat(waiting, dv.hot)}
		var why []string
		if len(leaving) > 0 {
			why = append(why, fmt.Sprintf("broker(s) %v cordoned (cordoned.log.dirs)", leaving))
		}
		if len(evacuate) > 0 {
			why = append(why, fmt.Sprintf("broker(s) %v gone for %v or more", evacuate, cfg.gone))
		}
		reason = fmt.Sprintf("%s: moving their replicas to %v", strings.Join(why, ", "), dv.cool)
		var err error
		if moves, err = balance.Plan(in); err != nil {
			return balanceDecision{reason: "cannot evacuate: " + err.Error() + dv.excluded()}
		}
	case len(waiting) > 0:
		return balanceDecision{reason: fmt.Sprintf("broker(s) %v away for less than %v: waiting", waiting, cfg.gone)}
	default:
		var diskNote string
		if len(dv.hot) > 0 && cfg.diskStale {
			diskNote = fmt.Sprintf("broker(s) %v fuller than balancer.disk.usage.threshold.percent (%d%%): waiting for disk reports newer than the last reassignment", dv.hot, cfg.diskThreshold)
		} else if len(dv.hot) > 0 {
			moves = balance.PlanDisk(balance.DiskInput{Partitions: dv.sized(ps), Racks: racks, Disks: dv.usage,
				Targets: targets, ThresholdPercent: cfg.diskThreshold, MaxMoves: cfg.maxMoves})
			if len(moves) > 0 {
				reason = fmt.Sprintf("broker(s) %v fuller than balancer.disk.usage.threshold.percent (%d%%): moving their largest partitions to the brokers below it with the most free space", dv.hot, cfg.diskThreshold)
				break
			}
			diskNote = fmt.Sprintf("broker(s) %v fuller than balancer.disk.usage.threshold.percent (%d%%), but no broker below it has room for their partitions", dv.hot, cfg.diskThreshold)
		}
		var uneven, refused []string
		moves, uneven, refused = evenTopics(ps, racks, dv.cool, dv.hot)
		planned := len(moves)
		moves = dv.fitting(moves)
		if len(moves) == 0 {
			var why []string
			if diskNote != "" {
				why = append(why, diskNote)
			}
			if planned > 0 {
				why = append(why, fmt.Sprintf("replicas of topic(s) %v are uneven, but evening them would take brokers past balancer.disk.usage.threshold.percent", uneven))
			}
			if len(refused) > 0 {
				why = append(why, "cannot balance: "+strings.Join(refused, "; "))
			}
			return balanceDecision{reason: strings.Join(why, "; ")}
		}
		reason = fmt.Sprintf("replicas of topic(s) %v are uneven over brokers %v (counts differ by more than one): rebalancing", uneven, dv.cool)
	}
	// Data moves first; the planner's order (topic, partition) otherwise.
	copies := func(m balance.Move) int {
		if len(m.Added()) > 0 {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(moves, func(a, b balance.Move) int { return cmp.Compare(copies(a), copies(b)) })
	if n := max(cfg.maxMoves, 1); len(moves) > n {
		moves = moves[:n]
	}
	return balanceDecision{moves: moves, reason: reason}
}

// evenTopics plans, topic by topic, the moves that bring each topic's
// replica counts over targets within one, so every topic's load spreads
// over the brokers (the sum is then even too); the replicas on keep stay
// where they are. It returns the moves, the topics they even, and why
// topics could not be evened.
func evenTopics(ps []balance.Partition, racks map[int32]string, targets, keep []int32) (moves []balance.Move, uneven, refused []string) {
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].Topic == ps[i].Topic {
			j++
		}
		topic := ps[i:j]
		i = j
		if countGap(topic, racks, targets) <= 1 {
			continue
		}
		m, err := balance.Plan(balance.Input{Partitions: topic, Racks: racks, Targets: targets, Keep: keep})
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		uneven = append(uneven, topic[0].Topic)
		moves = append(moves, m...)
	}
	return moves, uneven, refused
}

// reassigning reports whether a reassignment is in progress.
func reassigning(img *metadata.Image) bool {
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			if p.Reassigning() {
				return true
			}
		}
	}
	return false
}

// countGap is the difference between the most and the fewest replicas of
// ps a broker of targets holds.
func countGap(ps []balance.Partition, racks map[int32]string, targets []int32) int {
	lo, hi := -1, 0
	for _, l := range balance.Loads(ps, racks, targets) {
		if !slices.Contains(targets, l.Broker) {
			continue
		}
		hi = max(hi, l.Replicas)
		if lo < 0 || l.Replicas < lo {
			lo = l.Replicas
		}
	}
	return hi - lo
}

// balancerState is the balancer's memory, owned by Run's goroutine.
type balancerState struct {
	last       time.Time           // when it last looked
	gone       map[int32]time.Time // when each broker went away
	lastReason string              // the last reason logged, not to repeat it
	// busyAt is the last tick that saw a reassignment in progress: disk
	// reports received before busyAt+diskSettle may predate the deletion
	// of a moved replica's old copy.
	busyAt time.Time
}

func (c *Controller) balancerConfig() balancerConfig {
	b := c.cfg.Broker
	if b == nil {
		return balancerConfig{}
	}
	return balancerConfig{enable: b.BalancerEnable, gone: b.BalancerBrokerGone, maxMoves: b.BalancerMaxConcurrentMoves,
		diskThreshold: b.BalancerDiskUsageThreshold}
}

// balanceTick is the balancer's turn in Run on the active controller:
// every balancer.interval.ms it decides on the current image and starts
// the moves decided, committed like AlterPartitionReassignments' (under
// c.mu, planned by planReassignment on the same image it decided on).
func (c *Controller) balanceTick(ctx context.Context, st *balancerState, now time.Time) {
	cfg := c.balancerConfig()
	if !cfg.enable {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	live := func(id int32) bool { return c.live(img, id) }
	// Absence is tracked every tick, so the grace counts from when the
	// broker went, not from the balancer's next look.
	st.gone = trackGone(img, live, st.gone, now)
	diskOn := cfg.diskThreshold > 0 && cfg.diskThreshold < 100
	if diskOn && reassigning(img) {
		st.busyAt = now
	}
	if now.Sub(st.last) < c.cfg.Broker.BalancerInterval {
		return
	}
	disks, oldest := c.diskReports(now)
	// A broker's usage may still count the old copy of a replica a
	// reassignment just moved away: the disk trigger waits until every
	// report is newer (stale ones age out of disks); evacuations and the
	// count evening do not wait for it.
	cfg.diskStale = diskOn && len(disks) > 0 && oldest.Before(st.busyAt.Add(diskSettle))
	st.last = now
	d := decideBalance(img, live, cordonedBrokers(img), st.gone, disks, now, cfg)
	if len(d.moves) == 0 {
		if d.reason != "" && d.reason != st.lastReason {
			c.logger.Info("balancer: nothing to start", "reason", d.reason)
		}
		st.lastReason = d.reason
		return
	}
	st.lastReason = ""
	var recs []metadata.Record
	for _, m := range d.moves {
		unclean := false
		if t := img.Topic(m.Topic); t != nil {
			unclean = c.unclean(t)
		}
		rec, err := planReassignment(img, reassignRequest{topic: m.Topic, partition: m.Partition, target: m.To}, unclean, live)
		if err != nil {
			c.logger.Warn("balancer: move refused", "topic", m.Topic, "partition", m.Partition, "from", m.From, "to", m.To, "err", err)
			continue
		}
		if rec != nil {
			c.logger.Info("balancer: reassigning", "reason", d.reason, "topic", m.Topic, "partition", m.Partition, "from", m.From, "to", m.To)
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return
	}
	if err := c.commit(ctx, recs); err != nil {
		c.logger.Warn("balancer: starting reassignments failed", "err", err)
	}
	// A move may complete before the next tick sees it in progress.
	st.busyAt = now
}
