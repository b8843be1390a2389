// Package assignor holds the server-side partition assignors of the KIP-848
// consumer group protocol, named as Kafka names them: "uniform" (the default)
// and "range". The group coordinator calls Assign with the group's members
// (their resolved subscriptions and current target assignments) and the
// subscribed topics from the metadata image; the result is the new target
// assignment.
//
// Uniform spreads all subscribed partitions as evenly as possible over the
// members and keeps each member's current partitions where balance allows:
//   - Homogeneous subscriptions (every member that subscribes to anything
//     subscribes to the same topics): member partition counts differ by at
//     most one. A member keeps min(current, quota) of its partitions, where
//     the P%M quotas of one extra partition go first to the members that hold
//     the most; freed and new partitions are dealt round-robin, in topic-ID
//     then partition order, to members below quota, so a fresh group gets
//     each topic spread over all members. A member joining a balanced group
//     receives partitions only from others' surplus, and a leaving member's
//     partitions go only to the remaining members: no partition moves
//     between two members that stay.
//   - Heterogeneous subscriptions: every member keeps all of its current
//     partitions of topics it still subscribes to; unowned partitions go,
//     topic by topic (most partitions per subscriber first), to the least
//     loaded subscriber; then partitions move from the most to the least
//     loaded subscribers of each topic until, for every topic T, no member
//     holding a partition of T holds two or more partitions more than any
//     member subscribed to T. No single partition move can then make the
//     assignment more even, but the group as a whole may still be uneven
//     (Kafka's UniformAssignor documents the same limit).
//
// Range works per topic, as Kafka's server-side RangeAssignor does: the
// topic's N partitions are split over its S subscribers so each gets N/S and
// the first N%S get one more; a member keeps its lowest current partitions up
// to its quota (members over quota get the extra slots first), and the rest
// are handed out as contiguous ascending ranges in member order. Topics with
// the same partition count and the same subscribers are therefore assigned
// alike (co-partitioned joins see partition p of both topics on one member),
// as long as their current assignments were alike. (Kafka 3.9 rewrote its
// range assignor, KAFKA-16944, to ignore current assignments and always lay
// ranges out in member order; Fjord keeps the earlier sticky rule, so a
// member joining or leaving moves only the partitions it must.)
//
// Invariants of both assignors:
//   - every partition of every topic with at least one subscriber is assigned
//     to exactly one member, and only to a member subscribed to its topic;
//   - the output depends only on the inputs, not on member order, map order,
//     time or chance: static members come first, ordered by
//     group.instance.id, then dynamic members by member ID; topics are
//     ordered by topic ID; when the current assignments of two members claim
//     one partition, the earlier member keeps it;
//   - feeding an output back as the members' Current with unchanged members
//     and topics returns the same output;
//   - any input is accepted without panicking: later duplicate member IDs,
//     unknown or duplicate topic IDs, partitions outside [0, Partitions) and
//     topics with Partitions <= 0 are ignored.
//
// The package is pure (no goroutines, clock, randomness or shared state);
// an Assign call uses memory linear in members, topics and partitions.
package assignor

import (
	"bytes"
	"slices"
	"strings"
)

// TopicID is a Kafka topic UUID.
type TopicID = [16]byte

// Topic is a subscribed topic as the metadata image has it.
type Topic struct {
	ID         TopicID
	Name       string
	Partitions int32
}

// Member is one group member as the assignor sees it.
type Member struct {
	// ID is the member ID (unique in the group).
	ID string
	// InstanceID is group.instance.id; "" if the member is dynamic.
	InstanceID string
	// Rack is the client rack; "" if none. The assignors ignore it today.
	Rack string
	// Topics are the subscribed topics that exist, in any order.
	Topics []TopicID
	// Current is the member's current target assignment, for stickiness.
	// It may be nil and may name topics or partitions that no longer exist
	// or are no longer subscribed; those are dropped.
	Current map[TopicID][]int32
}

// Assignment maps member ID -> topic -> sorted partitions. Every input member
// has an entry (an empty, non-nil map if it gets nothing); topics with no
// partitions for a member are absent.
type Assignment map[string]map[TopicID][]int32

// Assignor computes a target assignment for a consumer group.
type Assignor interface {
	// Name is the assignor's name as Kafka spells it (group.remote.assignor).
	Name() string
	// Assign computes the target assignment of members over topics.
	Assign(members []Member, topics map[TopicID]Topic) Assignment
}

const (
	uniformName = "uniform"
	rangeName   = "range"
)

// Uniform returns Kafka's default server-side assignor, "uniform": sticky and
// balanced across all subscribed partitions.
func Uniform() Assignor { return uniformAssignor{} }

// Range returns Kafka's server-side "range" assignor: per topic, contiguous
// ranges of partitions, sticky within each member's quota.
func Range() Assignor { return rangeAssignor{} }

// ByName returns the assignor Kafka names name ("uniform", "range"),
// case-sensitive, and whether there is one.
func ByName(name string) (Assignor, bool) {
	switch name {
	case uniformName:
		return Uniform(), true
	case rangeName:
		return Range(), true
	}
	return nil, false
}

// Names lists the assignors in preference order; the first, "uniform", is the
// default. The slice is new on every call.
func Names() []string { return []string{uniformName, rangeName} }

// group is the normalised input shared by the assignors: members deduplicated
// and ordered, topics that have partitions and subscribers ordered by ID, and
// one flat owner slot per partition.
type group struct {
	members []*Member
	topics  []TopicID
	parts   []int32   // parts[t]: partition count of topics[t], > 0
	base    []int     // base[t]: index of partition 0 of topics[t] in owner
	owner   []int32   // owner[base[t]+p]: member index, or -1 if unassigned
	subs    [][]int32 // subs[m]: member m's topic indices, ascending
	subbers [][]int32 // subbers[t]: members subscribed to t, ascending
}

// compareMembers orders members as Kafka's RangeAssignor does: static
// members first, by group.instance.id, so their order survives a rejoin under
// a new member ID; then dynamic members by member ID. Member ID breaks ties.
func compareMembers(a, b *Member) int {
	if (a.InstanceID != "") != (b.InstanceID != "") {
		if a.InstanceID != "" {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func newGroup(members []Member, topics map[TopicID]Topic) *group {
	g := &group{}
	seen := make(map[string]struct{}, len(members))
	for i := range members {
		m := &members[i]
		if _, dup := seen[m.ID]; dup {
			continue
		}
		seen[m.ID] = struct{}{}
		g.members = append(g.members, m)
	}
	slices.SortFunc(g.members, compareMembers)

	// Topics someone subscribes to that exist and have partitions.
	wanted := make(map[TopicID]struct{})
	for _, m := range g.members {
		for _, id := range m.Topics {
			if t, ok := topics[id]; ok && t.Partitions > 0 {
				wanted[id] = struct{}{}
			}
		}
	}
	g.topics = make([]TopicID, 0, len(wanted))
	for id := range wanted {
		g.topics = append(g.topics, id)
	}
	slices.SortFunc(g.topics, func(a, b TopicID) int { return bytes.Compare(a[:], b[:]) })
	index := make(map[TopicID]int32, len(g.topics))
	g.parts = make([]int32, len(g.topics))
	g.base = make([]int, len(g.topics))
	total := 0
	for t, id := range g.topics {
		index[id] = int32(t)
		g.parts[t] = topics[id].Partitions
		g.base[t] = total
		total += int(g.parts[t])
	}
	g.owner = make([]int32, total)
	for i := range g.owner {
		g.owner[i] = -1
	}

	g.subs = make([][]int32, len(g.members))
	g.subbers = make([][]int32, len(g.topics))
	for mi, m := range g.members {
		var ts []int32
		for _, id := range m.Topics {
			if t, ok := index[id]; ok {
				ts = append(ts, t)
			}
		}
		slices.Sort(ts)
		ts = slices.Compact(ts)
		g.subs[mi] = ts
		for _, t := range ts {
			g.subbers[t] = append(g.subbers[t], int32(mi))
		}
	}
	return g
}

// current returns member m's current partitions of topic t (possibly
// unsorted, duplicated or out of range).
func (g *group) current(m int, t int) []int32 {
	return g.members[m].Current[g.topics[t]]
}

// claimCurrent gives member m every partition of its current assignment in
// topic t that is in range and still unowned, appending the owner indices it
// took to took, and returns took.
func (g *group) claimCurrent(m, t int, took []int) []int {
	n, base := g.parts[t], g.base[t]
	for _, p := range g.current(m, t) {
		if p < 0 || p >= n || g.owner[base+int(p)] != -1 {
			continue
		}
		g.owner[base+int(p)] = int32(m)
		took = append(took, base+int(p))
	}
	return took
}

// result turns the owner slots into the Assignment. Partition slices of one
// call share one backing array, each capped so an append by the caller
// cannot spill into its neighbour.
func (g *group) result() Assignment {
	out := make(Assignment, len(g.members))
	for _, m := range g.members {
		out[m.ID] = make(map[TopicID][]int32)
	}
	backing := make([]int32, len(g.owner))
	count := make([]int32, len(g.members))
	next := make([]int, len(g.members))
	used := 0
	var touched []int32
	for t, id := range g.topics {
		slots := g.owner[g.base[t] : g.base[t]+int(g.parts[t])]
		touched = touched[:0]
		for _, o := range slots {
			if o < 0 {
				continue // unreachable: every subscribed partition is owned
			}
			if count[o] == 0 {
				touched = append(touched, o)
			}
			count[o]++
		}
		for _, o := range touched {
			next[o] = used
			used += int(count[o])
		}
		for p, o := range slots {
			if o >= 0 {
				backing[next[o]] = int32(p)
				next[o]++
			}
		}
		for _, o := range touched {
			end := next[o]
			start := end - int(count[o])
			out[g.members[o].ID][id] = backing[start:end:end]
			count[o] = 0
		}
	}
	return out
}
