package group

import (
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/coordinator"
)

// Coordinator is the state machine of one __consumer_offsets partition:
// every group whose ID hashes to it, and their committed offsets. It is not
// safe for concurrent use; the coordinator Runtime calls it from one
// goroutine.
type Coordinator struct {
	cfg    Config
	groups map[string]*group
	// offsets are kept apart from groups, as Kafka keeps them: a group
	// metadata tombstone does not drop offsets, only offset tombstones do.
	offsets map[string]map[topicPartition]offsetValue
	// pending are the offsets transactions committed and have not ended:
	// producer ID -> group -> partition (TxnOffsetCommit).
	pending map[int64]map[string]map[topicPartition]offsetValue
	seq     uint64 // the last offsetValue.seq given
	timers  timers
	handle  coordinator.Handle // last Handle given out
	// consumer holds the groups of the consumer protocol (KIP-848).
	consumer *consumergroup.Groups
}

var _ coordinator.Core = (*Coordinator)(nil)

type topicPartition struct {
	topic     string
	partition int32
}

type offsetValue struct {
	offset      int64
	leaderEpoch int32 // -1 when unknown
	metadata    string
	commitTime  time.Time
	// expireTime is set by OffsetCommit v2-v4 requests with an explicit
	// retention time (stored as OffsetCommitValue v1); zero otherwise.
	expireTime time.Time
	// seq is the commit's place in the partition's order (its record's,
	// counted the same live and on replay): a transaction's offset,
	// committed by its marker later, does not replace one written after
	// it, as Kafka compares their record offsets.
	seq uint64
}

// New returns an empty Coordinator; Replay fills it from the partition and
// Loaded arms its timers.
func New(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{
		cfg:      cfg,
		groups:   make(map[string]*group),
		offsets:  make(map[string]map[topicPartition]offsetValue),
		pending:  make(map[int64]map[string]map[topicPartition]offsetValue),
		consumer: consumergroup.NewGroups(cfg.Consumer),
	}
}

// Config returns the effective configuration (defaults applied).
func (c *Coordinator) Config() Config { return c.cfg }

// owns reports whether the group belongs to this partition.
func (c *Coordinator) owns(groupID string) bool {
	return PartitionFor(groupID, c.cfg.NumPartitions) == c.cfg.Partition
}

func (c *Coordinator) newHandle() coordinator.Handle {
	c.handle++
	return c.handle
}

// complete resolves a parked request. Handles are single-use, so the caller
// clears the member's field.
func complete(out *coordinator.Result, h coordinator.Handle, resp any) {
	if h != 0 {
		out.Completions = append(out.Completions, coordinator.Completion{Handle: h, Response: resp})
	}
}

// NextDeadline is the time of the earliest timer, zero when none.
func (c *Coordinator) NextDeadline() time.Time { return c.timers.next() }

// Loaded arms the timers of the replayed state: every member's session
// starts now (as on a coordinator failover), and offset expiration runs
// after one check interval. A group over group.max.size is rebalanced so
// that extra members are dropped.
func (c *Coordinator) Loaded(now time.Time) coordinator.Result {
	var out coordinator.Result
	for _, id := range c.consumer.IDs() {
		// Replayed commits of a consumer group made an offsets-only
		// classic group for it; the consumer group owns the ID.
		if g := c.groups[id]; g != nil && g.isSimple() && len(g.members) == 0 {
			c.deleteGroup(id)
		}
	}
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		for _, m := range g.allMembers() {
			c.scheduleHeartbeat(g, m, now, m.sessionTimeout)
		}
		if len(g.members) > c.cfg.MaxSize {
			c.prepareRebalance(g, now, &out)
		}
	}
	c.consumer.Loaded()
	for _, gm := range c.consumer.Members() {
		c.timers.schedule(timerKey{kind: timerConsumerSession, group: gm[0], member: gm[1]}, now.Add(c.consumer.Config().SessionTimeout), 0)
		// A member that was revoking when the partition moved gets its
		// rebalance timeout again, as Kafka arms it on load: otherwise
		// one that keeps heartbeating could hold the partitions forever.
		if m := c.consumer.Get(gm[0]).Members[gm[1]]; m.State == consumergroup.StateUnrevokedPartitions {
			c.timers.schedule(timerKey{kind: timerConsumerRevocation, group: gm[0], member: gm[1]}, now.Add(m.RebalanceTimeout), 0)
		}
	}
	c.timers.schedule(timerKey{kind: timerRetention}, now.Add(c.cfg.OffsetsRetentionCheckInterval), 0)
	return out
}

// Tick runs every timer due at now, in deadline order. Timers it arms for
// now or earlier run at the next Tick: each Tick does bounded work.
func (c *Coordinator) Tick(now time.Time) coordinator.Result {
	var out coordinator.Result
	limit := c.timers.seq
	for {
		e, ok := c.timers.popDue(now, limit)
		if !ok {
			return out
		}
		switch e.key.kind {
		case timerHeartbeat:
			if g := c.groups[e.key.group]; g != nil {
				c.expireHeartbeat(g, e.key.member, now, &out)
			}
		case timerJoin:
			if g := c.groups[e.key.group]; g != nil {
				c.onJoinTimer(g, now, &out)
			}
		case timerSync:
			if g := c.groups[e.key.group]; g != nil {
				c.expirePendingSync(g, e.generation, now, &out)
			}
		case timerConsumerSession, timerConsumerRevocation:
			c.expireConsumerMember(e.key, &out)
		case timerRetention:
			c.expireOffsets(now, &out)
			c.expireConsumerOffsets(now, &out)
			c.timers.schedule(timerKey{kind: timerRetention}, now.Add(c.cfg.OffsetsRetentionCheckInterval), 0)
		}
	}
}

func (c *Coordinator) scheduleHeartbeat(g *group, m *member, now time.Time, d time.Duration) {
	c.timers.schedule(timerKey{kind: timerHeartbeat, group: g.id, member: m.id}, now.Add(d), 0)
}

func (c *Coordinator) sortedGroupIDs() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// deleteGroup forgets a group and its timers (not its offsets).
func (c *Coordinator) deleteGroup(id string) {
	g := c.groups[id]
	if g == nil {
		return
	}
	delete(c.groups, id)
	c.timers.cancel(timerKey{kind: timerJoin, group: id})
	c.timers.cancel(timerKey{kind: timerSync, group: id})
	for m := range g.members {
		c.timers.cancel(timerKey{kind: timerHeartbeat, group: id, member: m})
	}
	for m := range g.pending {
		c.timers.cancel(timerKey{kind: timerHeartbeat, group: id, member: m})
	}
}

// dropIfPhantom forgets a group the current request created if the request
// failed: an Empty group with no members, no pending members and no offsets
// leaves no trace in the partition, so it leaves none in memory either.
func (c *Coordinator) dropIfPhantom(g *group) {
	if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(c.offsets[g.id]) == 0 {
		c.deleteGroup(g.id)
	}
}

func ms(millis int32) time.Duration { return time.Duration(millis) * time.Millisecond }

func strPtr(s string) *string { return &s }

// nilIfEmpty returns nil for "" (Kafka's absent protocol or leader).
func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
