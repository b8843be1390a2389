package group

// Offset retention, Kafka's rules (offsets.retention.minutes, checked every
// offsets.retention.check.interval.ms):
//   - a commit made with an explicit retention time (OffsetCommit v2-v4)
//     expires at that time;
//   - offsets of an Empty group expire once the retention has passed since
//     the group became Empty (or since the commit, when that time is
//     unknown);
//   - offsets of a "simple" group (no protocol type) expire by commit time;
//   - a Stable consumer group whose subscriptions are known loses, by commit
//     time, the offsets of topics it no longer subscribes to;
//   - other groups keep their offsets.
// An Empty group left with no offsets is deleted (group tombstone).
// Departure: an Empty group that still has MEMBER_ID_REQUIRED members
// pending is kept until they join or time out.

import (
	"time"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// expireOffsets runs one retention pass over the partition.
func (c *Coordinator) expireOffsets(now time.Time, out *coordinator.Result) {
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		allExpired := c.expireGroupOffsets(g, now, out)
		if allExpired && g.state == Empty && len(g.pending) == 0 {
			out.Records = append(out.Records, groupTombstone(id))
			c.deleteGroup(id)
		}
	}
}

// expireGroupOffsets writes tombstones for the group's expired offsets and
// reports whether none is left.
func (c *Coordinator) expireGroupOffsets(g *group, now time.Time, out *coordinator.Result) bool {
	offs := c.offsets[g.id]
	if len(offs) == 0 {
		return true
	}
	base, ok := c.expirationBase(g)
	if !ok {
		return false
	}
	all := true
	for _, tp := range sortedPartitions(offs) {
		o := offs[tp]
		expired := false
		switch {
		case g.isSubscribedTo(tp.topic):
		case !o.expireTime.IsZero():
			expired = !now.Before(o.expireTime)
		default:
			expired = now.Sub(base(o)) >= c.cfg.OffsetsRetention
		}
		if expired {
			c.deleteOffset(g.id, tp, out)
		} else {
			all = false
		}
	}
	return all
}

// expirationBase returns from when a group's offsets age, or false when
// they do not expire.
func (c *Coordinator) expirationBase(g *group) (func(offsetValue) time.Time, bool) {
	byCommit := func(o offsetValue) time.Time { return o.commitTime }
	switch {
	case g.isSimple():
		return byCommit, true
	case g.state == Empty:
		if g.stateTime.IsZero() {
			return byCommit, true
		}
		return func(offsetValue) time.Time { return g.stateTime }, true
	case g.protocolType == consumerProtocolType && g.subscribedKnown && g.state == Stable:
		return byCommit, true
	}
	return nil, false
}
