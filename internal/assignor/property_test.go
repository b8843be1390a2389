package assignor

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// unknownTopic is subscribed to by generated members but never exists.
var unknownTopic = tid(200)

// genTopics draws 1-5 topics (IDs tid(1)...) with -1..12 partitions.
func genTopics(t *rapid.T) map[TopicID]Topic {
	n := rapid.IntRange(1, 5).Draw(t, "topics")
	out := make(map[TopicID]Topic, n)
	for i := 1; i <= n; i++ {
		id := tid(byte(i))
		out[id] = Topic{ID: id, Name: fmt.Sprintf("t%d", i), Partitions: int32(rapid.IntRange(-1, 12).Draw(t, "partitions"))}
	}
	return out
}

// genCurrent draws a current assignment over known and unknown topics with
// partitions that may be negative, out of range or repeated.
func genCurrent(t *rapid.T, topics map[TopicID]Topic) map[TopicID][]int32 {
	ids := sortedTopicIDs(topics)
	ids = append(ids, unknownTopic)
	cur := map[TopicID][]int32{}
	for _, id := range rapid.SliceOfDistinct(rapid.SampledFrom(ids), rapid.ID).Draw(t, "current topics") {
		cur[id] = rapid.SliceOfN(rapid.Int32Range(-2, 14), 0, 6).Draw(t, "current partitions")
	}
	return cur
}

// genSubscription draws a subset of the topics, maybe with the unknown one.
func genSubscription(t *rapid.T, topics map[TopicID]Topic) []TopicID {
	ids := append(sortedTopicIDs(topics), unknownTopic)
	return rapid.SliceOfN(rapid.SampledFrom(ids), 0, len(ids)+1).Draw(t, "subscription")
}

// genMembers draws 0-8 members with distinct IDs. If homogeneous, all share
// one subscription.
func genMembers(t *rapid.T, topics map[TopicID]Topic, homogeneous, withCurrent bool) []Member {
	n := rapid.IntRange(0, 8).Draw(t, "members")
	shared := genSubscription(t, topics)
	members := make([]Member, n)
	for i := range members {
		m := Member{ID: fmt.Sprintf("m%d", i), Topics: shared}
		if rapid.Bool().Draw(t, "static") {
			m.InstanceID = fmt.Sprintf("i%d", rapid.IntRange(0, 9).Draw(t, "instance"))
		}
		if !homogeneous {
			m.Topics = genSubscription(t, topics)
		}
		if withCurrent {
			m.Current = genCurrent(t, topics)
		}
		members[i] = m
	}
	return members
}

func sortedTopicIDs(topics map[TopicID]Topic) []TopicID {
	ids := make([]TopicID, 0, len(topics))
	for id := range topics {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b TopicID) int { return int(a[0]) - int(b[0]) })
	return ids
}

// subscribed returns, per first occurrence of each member ID, the set of
// its topics that exist with at least one partition.
func subscribed(members []Member, topics map[TopicID]Topic) map[string]map[TopicID]bool {
	out := map[string]map[TopicID]bool{}
	for _, m := range members {
		if _, dup := out[m.ID]; dup {
			continue
		}
		set := map[TopicID]bool{}
		for _, id := range m.Topics {
			if topics[id].Partitions > 0 {
				set[id] = true
			}
		}
		out[m.ID] = set
	}
	return out
}

// checkValid checks the invariants every assignment keeps: an entry per
// member, sorted non-empty partition lists, and each partition of each
// subscribed topic assigned exactly once to a subscriber.
func checkValid(t *rapid.T, a Assignment, members []Member, topics map[TopicID]Topic) {
	subs := subscribed(members, topics)
	if len(a) != len(subs) {
		t.Fatalf("assignment has %d members, input has %d", len(a), len(subs))
	}
	owners := map[TopicID][]int{} // per partition: times assigned
	for id, mine := range a {
		set, ok := subs[id]
		if !ok {
			t.Fatalf("unknown member %q in assignment", id)
		}
		if mine == nil {
			t.Fatalf("member %q has a nil map", id)
		}
		for topic, parts := range mine {
			if !set[topic] {
				t.Fatalf("member %q got topic %x it does not subscribe to", id, topic[0])
			}
			if len(parts) == 0 || !slices.IsSorted(parts) {
				t.Fatalf("member %q topic %x: partitions %v empty or unsorted", id, topic[0], parts)
			}
			n := topics[topic].Partitions
			if owners[topic] == nil {
				owners[topic] = make([]int, n)
			}
			for _, p := range parts {
				if p < 0 || p >= n {
					t.Fatalf("member %q topic %x: partition %d out of range", id, topic[0], p)
				}
				owners[topic][p]++
			}
		}
	}
	for id, tp := range topics {
		hasSubscriber := false
		for _, set := range subs {
			hasSubscriber = hasSubscriber || set[id]
		}
		if !hasSubscriber {
			continue
		}
		for p := int32(0); p < tp.Partitions; p++ {
			if got := owners[id]; got == nil || got[p] != 1 {
				t.Fatalf("topic %x partition %d assigned %v times", id[0], p, got)
			}
		}
	}
}

func deepCopy(members []Member) []Member {
	out := slices.Clone(members)
	for i, m := range out {
		out[i].Topics = slices.Clone(m.Topics)
		if m.Current != nil {
			out[i].Current = map[TopicID][]int32{}
			for id, parts := range m.Current {
				out[i].Current[id] = slices.Clone(parts)
			}
		}
	}
	return out
}

// feedBack returns members with Current set to their part of a.
func feedBack(members []Member, a Assignment) []Member {
	out := slices.Clone(members)
	for i := range out {
		out[i].Current = a[out[i].ID]
	}
	return out
}

func counts(a Assignment) map[string]int {
	out := map[string]int{}
	for id, mine := range a {
		for _, parts := range mine {
			out[id] += len(parts)
		}
	}
	return out
}

// ownerOf maps each assigned partition to its member.
func ownerOf(a Assignment) map[TopicID]map[int32]string {
	out := map[TopicID]map[int32]string{}
	for id, mine := range a {
		for topic, parts := range mine {
			if out[topic] == nil {
				out[topic] = map[int32]string{}
			}
			for _, p := range parts {
				out[topic][p] = id
			}
		}
	}
	return out
}

var assignors = []Assignor{Uniform(), Range()}

func TestAssign_ValidDeterministicSticky(t *testing.T) {
	for _, a := range assignors {
		t.Run(a.Name(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				topics := genTopics(t)
				members := genMembers(t, topics, rapid.Bool().Draw(t, "homogeneous"), true)
				input := deepCopy(members)
				got := a.Assign(members, topics)
				checkValid(t, got, members, topics)
				if !reflect.DeepEqual(members, input) {
					t.Fatalf("Assign changed its input")
				}

				perm := rapid.Permutation(members).Draw(t, "order")
				if again := a.Assign(perm, topics); !reflect.DeepEqual(again, got) {
					t.Fatalf("member order changed the result:\n%s\n%s", format(got), format(again))
				}

				if again := a.Assign(feedBack(members, got), topics); !reflect.DeepEqual(again, got) {
					t.Fatalf("not a fixed point:\n%s\n%s", format(got), format(again))
				}
			})
		})
	}
}

// TestAssign_DuplicateMembers: later duplicates are ignored and the result
// stays valid.
func TestAssign_DuplicateMembers(t *testing.T) {
	for _, a := range assignors {
		t.Run(a.Name(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				topics := genTopics(t)
				members := genMembers(t, topics, false, true)
				for i := range members {
					members[i].ID = rapid.SampledFrom([]string{"a", "b", "c", ""}).Draw(t, "id")
				}
				checkValid(t, a.Assign(members, topics), members, topics)
			})
		})
	}
}

func TestUniform_HomogeneousBalanced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topics := genTopics(t)
		members := genMembers(t, topics, true, rapid.Bool().Draw(t, "with current"))
		c := counts(Uniform().Assign(members, topics))
		lo, hi := -1, 0
		for _, m := range members {
			n := c[m.ID]
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		if hi-lo > 1 {
			t.Fatalf("counts %v differ by %d", c, hi-lo)
		}
	})
}

// TestUniform_HeterogeneousLocallyBalanced checks the balance uniform
// guarantees for any subscriptions: a member holding a partition of topic T
// holds at most one partition more than any member subscribed to T.
func TestUniform_HeterogeneousLocallyBalanced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topics := genTopics(t)
		members := genMembers(t, topics, false, rapid.Bool().Draw(t, "with current"))
		got := Uniform().Assign(members, topics)
		c := counts(got)
		subs := subscribed(members, topics)
		for holder, mine := range got {
			for topic := range mine {
				for other, set := range subs {
					if set[topic] && c[holder] > c[other]+1 {
						t.Fatalf("%s holds %d with topic %x, subscriber %s holds %d",
							holder, c[holder], topic[0], other, c[other])
					}
				}
			}
		}
	})
}

// balancedStart assigns members once (from random current assignments) and
// feeds the result back, giving a balanced group to change.
func balancedStart(t *rapid.T, a Assignor, homogeneous bool) ([]Member, map[TopicID]Topic, Assignment) {
	topics := genTopics(t)
	members := genMembers(t, topics, homogeneous, true)
	first := a.Assign(members, topics)
	members = feedBack(members, first)
	return members, topics, first
}

// checkOnlyMovesTo fails if a partition owned in before by a member that is
// also in after moved to anyone but to.
func checkOnlyMovesTo(t *rapid.T, before, after Assignment, to string) {
	owners := ownerOf(after)
	for id, mine := range before {
		if _, stays := after[id]; !stays {
			continue
		}
		for topic, parts := range mine {
			for _, p := range parts {
				if now := owners[topic][p]; now != id && now != to {
					t.Fatalf("topic %x partition %d moved from %s to %s", topic[0], p, id, now)
				}
			}
		}
	}
}

func TestAssign_MemberJoins(t *testing.T) {
	cases := []struct {
		a           Assignor
		homogeneous bool
	}{{Uniform(), true}, {Range(), true}, {Range(), false}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/homogeneous=%v", tc.a.Name(), tc.homogeneous), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				members, topics, before := balancedStart(t, tc.a, tc.homogeneous)
				joiner := Member{ID: "new", Topics: genSubscription(t, topics)}
				if tc.homogeneous && len(members) > 0 {
					joiner.Topics = members[0].Topics
				}
				after := tc.a.Assign(append(members, joiner), topics)
				checkValid(t, after, append(members, joiner), topics)
				checkOnlyMovesTo(t, before, after, joiner.ID)
			})
		})
	}
}

func TestAssign_MemberLeaves(t *testing.T) {
	cases := []struct {
		a           Assignor
		homogeneous bool
	}{{Uniform(), true}, {Range(), true}, {Range(), false}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/homogeneous=%v", tc.a.Name(), tc.homogeneous), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				members, topics, before := balancedStart(t, tc.a, tc.homogeneous)
				if len(members) == 0 {
					t.Skip("no member to remove")
				}
				gone := rapid.IntRange(0, len(members)-1).Draw(t, "leaver")
				rest := slices.Delete(slices.Clone(members), gone, gone+1)
				after := tc.a.Assign(rest, topics)
				checkValid(t, after, rest, topics)
				checkOnlyMovesTo(t, before, after, "")
			})
		})
	}
}

// TestRange_QuotasAndCoPartitioning: each subscriber of a topic gets N/S or
// N/S+1 of its partitions, and a fresh homogeneous group gets contiguous
// ranges, identical across topics with equal partition counts.
func TestRange_QuotasAndCoPartitioning(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topics := genTopics(t)
		fresh := rapid.Bool().Draw(t, "fresh")
		members := genMembers(t, topics, fresh, !fresh)
		got := Range().Assign(members, topics)
		subs := subscribed(members, topics)
		for id, tp := range topics {
			var subscribers []string
			for m, set := range subs {
				if set[id] {
					subscribers = append(subscribers, m)
				}
			}
			if len(subscribers) == 0 {
				continue
			}
			q := int(tp.Partitions) / len(subscribers)
			for _, m := range subscribers {
				parts := got[m][id]
				if n := len(parts); n != q && n != q+1 {
					t.Fatalf("topic %x: %s got %d partitions, quota %d", id[0], m, n, q)
				}
				if fresh && len(parts) > 0 && int(parts[len(parts)-1]-parts[0]) != len(parts)-1 {
					t.Fatalf("topic %x: %s got non-contiguous %v", id[0], m, parts)
				}
			}
		}
		if !fresh {
			return
		}
		for m, mine := range got {
			for x, px := range mine {
				for y := range subs[m] {
					if topics[x].Partitions == topics[y].Partitions && !slices.Equal(px, mine[y]) {
						t.Fatalf("co-partitioned topics %x and %x differ: %s", x[0], y[0], format(got))
					}
				}
			}
		}
	})
}

// TestUniform_HomogeneousKeepsMost: with non-conflicting current
// assignments, a homogeneous group keeps as many partitions in place as any
// balanced assignment can: sum(min(held, quota)) plus one for each of the
// total%members extra slots a member holding more than the quota can use.
func TestUniform_HomogeneousKeepsMost(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topics := genTopics(t)
		members := genMembers(t, topics, true, false)
		if len(members) == 0 {
			return
		}
		held := make([]int, len(members))
		total := 0
		for _, id := range sortedTopicIDs(topics) {
			if !slices.Contains(members[0].Topics, id) {
				continue
			}
			n := topics[id].Partitions
			for p := int32(0); p < n; p++ {
				total++
				m := rapid.IntRange(-1, len(members)-1).Draw(t, "owner")
				if m < 0 {
					continue
				}
				if members[m].Current == nil {
					members[m].Current = map[TopicID][]int32{}
				}
				members[m].Current[id] = append(members[m].Current[id], p)
				held[m]++
			}
		}
		q, extra := total/len(members), total%len(members)
		best, over := 0, 0
		for _, h := range held {
			best += min(h, q)
			if h > q {
				over++
			}
		}
		best += min(extra, over)

		got := Uniform().Assign(members, topics)
		kept := 0
		for _, m := range members {
			for id, parts := range m.Current {
				for _, p := range parts {
					if slices.Contains(got[m.ID][id], p) {
						kept++
					}
				}
			}
		}
		if kept != best {
			t.Fatalf("kept %d partitions in place, could keep %d", kept, best)
		}
	})
}

// TestMemberHeap_Model checks the heap against a sorted model while counts
// change one at a time.
func TestMemberHeap_Model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "members")
		desc := rapid.Bool().Draw(t, "desc")
		cnt := make([]int32, n)
		for i := range cnt {
			cnt[i] = int32(rapid.IntRange(0, 5).Draw(t, "count"))
		}
		h := newMemberHeap(n, cnt, desc)
		in := map[int32]bool{}
		var start []int32
		for m := int32(0); m < int32(n); m++ {
			if rapid.Bool().Draw(t, "in") {
				start = append(start, m)
				in[m] = true
			}
		}
		h.reset(start)
		for step := 0; step < 30; step++ {
			m := int32(rapid.IntRange(0, n-1).Draw(t, "member"))
			switch {
			case !in[m]:
				h.push(m)
				in[m] = true
			case rapid.Bool().Draw(t, "remove"):
				h.remove(m)
				in[m] = false
			default:
				cnt[m] += int32(rapid.IntRange(-2, 2).Draw(t, "delta"))
				h.fix(m)
			}
			var want int32 = -1
			for x := range in {
				if in[x] && (want < 0 || h.less(x, want)) {
					want = x
				}
			}
			if want >= 0 && h.top() != want {
				t.Fatalf("top %d, want %d (counts %v)", h.top(), want, cnt)
			}
			for x := int32(0); x < int32(n); x++ {
				if h.contains(x) != in[x] {
					t.Fatalf("contains(%d) = %v", x, h.contains(x))
				}
			}
		}
	})
}
