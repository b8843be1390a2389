package assignor

import (
	"cmp"
	"slices"
)

// uniformAssignor is Kafka's "uniform" server-side assignor; see the package
// doc for its rules.
type uniformAssignor struct{}

// Name returns "uniform".
func (uniformAssignor) Name() string { return uniformName }

// Assign computes a balanced, sticky target assignment.
func (uniformAssignor) Assign(members []Member, topics map[TopicID]Topic) Assignment {
	g := newGroup(members, topics)
	if active, ok := g.homogeneous(); ok {
		g.uniformHomogeneous(active)
	} else {
		g.uniformHeterogeneous()
	}
	return g.result()
}

// homogeneous reports whether every member that subscribes to at least one
// topic subscribes to the same topics, and returns those members. Members
// subscribed to nothing get nothing either way, so they do not make a group
// heterogeneous.
func (g *group) homogeneous() ([]int32, bool) {
	var active []int32
	for m, ts := range g.subs {
		if len(ts) == 0 {
			continue
		}
		if len(active) > 0 && !slices.Equal(ts, g.subs[active[0]]) {
			return nil, false
		}
		active = append(active, int32(m))
	}
	return active, true
}

// uniformHomogeneous assigns all partitions over active members, which all
// subscribe to every topic, so that counts differ by at most one.
func (g *group) uniformHomogeneous(active []int32) {
	total, n := len(g.owner), len(active)
	if n == 0 || total == 0 {
		return
	}
	// Claim current partitions; took[start[i]:start[i+1]] are active[i]'s.
	var took []int
	start := make([]int, n+1)
	for i, m := range active {
		start[i] = len(took)
		for _, t := range g.subs[m] {
			took = g.claimCurrent(int(m), int(t), took)
		}
	}
	start[n] = len(took)

	// Quotas: total/n each, and one more for total%n members, given to
	// those holding the most so the fewest partitions have to move.
	quota := make([]int, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ha, hb := start[a+1]-start[a], start[b+1]-start[b]
		if ha != hb {
			return cmp.Compare(hb, ha)
		}
		return cmp.Compare(a, b)
	})
	for rank, i := range order {
		quota[i] = total / n
		if rank < total%n {
			quota[i]++
		}
	}

	// Release what is over quota; remember who is under.
	deficit := make([]int, n)
	var round []int
	for i := range active {
		mine := took[start[i]:start[i+1]]
		if len(mine) > quota[i] {
			g.release(mine, len(mine)-quota[i])
		}
		deficit[i] = quota[i] - min(len(mine), quota[i])
		if deficit[i] > 0 {
			round = append(round, i)
		}
	}

	// Deal unowned partitions, in topic then partition order, one per
	// member per round, so each topic spreads over the members.
	slot := 0
	for len(round) > 0 {
		next := round[:0]
		for _, i := range round {
			for slot < total && g.owner[slot] != -1 {
				slot++
			}
			if slot == total {
				return // unreachable: deficits sum to the unowned count
			}
			g.owner[slot] = active[i]
			deficit[i]--
			if deficit[i] > 0 {
				next = append(next, i)
			}
		}
		round = next
	}
}

// release frees k of the owner slots in mine (one member's partitions),
// taking from the topics where the member holds the most and, within a
// topic, the highest partitions, so the member keeps a spread of topics.
func (g *group) release(mine []int, k int) {
	slices.Sort(mine) // topic-major, then partition
	// Runs of one topic: counts per run.
	type run struct{ start, n int }
	var runs []run
	for i := 0; i < len(mine); {
		t := g.topicOf(mine[i])
		j := i + 1
		for j < len(mine) && g.topicOf(mine[j]) == t {
			j++
		}
		runs = append(runs, run{i, j - i})
		i = j
	}
	// Water level: the smallest level whose cut frees at most k.
	cut := func(level int) int {
		sum := 0
		for _, r := range runs {
			sum += max(0, r.n-level)
		}
		return sum
	}
	lo, hi := 0, 0
	for _, r := range runs {
		hi = max(hi, r.n)
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if cut(mid) <= k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	level := lo
	extra := k - cut(level) // runs at the level each give one more, last topics first
	for ri := len(runs) - 1; ri >= 0; ri-- {
		r := runs[ri]
		drop := max(0, r.n-level)
		if extra > 0 && r.n >= level && level > 0 {
			drop++
			extra--
		}
		for _, slot := range mine[r.start+r.n-drop : r.start+r.n] {
			g.owner[slot] = -1
		}
	}
}

// topicOf returns the topic index of an owner slot.
func (g *group) topicOf(slot int) int {
	t, found := slices.BinarySearch(g.base, slot)
	if !found {
		t--
	}
	// Topics all have partitions, so bases are strictly increasing.
	return t
}

// uniformHeterogeneous assigns when subscriptions differ: keep all current
// partitions still subscribed, give unowned ones to the least loaded
// subscriber, then balance topic by topic.
func (g *group) uniformHeterogeneous() {
	cnt := make([]int32, len(g.members))
	var took []int
	for m, ts := range g.subs {
		for _, t := range ts {
			took = g.claimCurrent(m, int(t), took[:0])
			cnt[m] += int32(len(took))
		}
	}

	// Topics with the most partitions per subscriber first: they are the
	// hardest to spread, and the later, smaller ones even out what is left.
	order := make([]int32, len(g.topics))
	for t := range order {
		order[t] = int32(t)
	}
	slices.SortFunc(order, func(a, b int32) int {
		sa, sb := int64(len(g.subbers[a])), int64(len(g.subbers[b]))
		if c := cmp.Compare(int64(g.parts[b])*sa, int64(g.parts[a])*sb); c != 0 {
			return c
		}
		if c := cmp.Compare(sa, sb); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})

	least := newMemberHeap(len(g.members), cnt, false)
	for _, t := range order {
		slots := g.owner[g.base[t] : g.base[t]+int(g.parts[t])]
		if !slices.Contains(slots, -1) {
			continue
		}
		least.reset(g.subbers[t])
		for p, o := range slots {
			if o != -1 {
				continue
			}
			m := least.top()
			slots[p] = m
			cnt[m]++
			least.fix(m)
		}
		least.clear()
	}
	g.balance(order, cnt, least)
}

// balance moves partitions until every topic is balanced: no member holding
// a partition of topic T has two or more partitions more than any member
// subscribed to T. Each move lowers the sum of squared member counts, so the
// loop ends; a topic is checked again whenever one of its subscribers' count
// changes.
func (g *group) balance(order []int32, cnt []int32, least *memberHeap) {
	most := newMemberHeap(len(g.members), cnt, true)
	b := &balancer{
		g:     g,
		cnt:   cnt,
		least: least,
		most:  most,
		head:  make([]int32, len(g.members)),
		held:  make([]int32, len(g.members)),
		mark:  make([]int32, len(g.members)),
	}
	maxParts := int32(0)
	for _, n := range g.parts {
		maxParts = max(maxParts, n)
	}
	b.next = make([]int32, maxParts)

	queue := newTopicQueue(len(g.topics))
	for _, t := range order {
		if len(g.subbers[t]) >= 2 {
			queue.push(t)
		}
	}
	for stamp := int32(1); !queue.empty(); stamp++ {
		t := queue.pop()
		for _, m := range b.balanceTopic(t, stamp) {
			for _, t2 := range g.subs[m] {
				if t2 != t && len(g.subbers[t2]) >= 2 {
					queue.push(t2)
				}
			}
		}
	}
}

// balancer holds the scratch state of balance, reused across topics.
type balancer struct {
	g           *group
	cnt         []int32     // partitions per member
	least, most *memberHeap // subscribers by count; holders by count
	head        []int32     // head[m]: first partition of m's list in this topic, -1 if none
	next        []int32     // next[p]: next partition in its owner's list, -1 at the end
	held        []int32     // held[m]: partitions of this topic m holds
	mark        []int32     // mark[m] == stamp: m's count changed in this topic
	changed     []int32
}

// balanceTopic balances topic t and returns the members whose counts it
// changed.
func (b *balancer) balanceTopic(t int32, stamp int32) []int32 {
	g, cnt := b.g, b.cnt
	subs := g.subbers[t]
	slots := g.owner[g.base[t] : g.base[t]+int(g.parts[t])]
	lowest, highest := cnt[subs[0]], int32(0)
	for _, m := range subs {
		lowest = min(lowest, cnt[m])
	}
	for _, o := range slots {
		if o >= 0 { // always: every partition of a subscribed topic is owned
			highest = max(highest, cnt[o])
		}
	}
	if highest-lowest <= 1 {
		return nil
	}

	for _, m := range subs {
		b.head[m], b.held[m] = -1, 0
	}
	for p, o := range slots {
		if o >= 0 {
			b.next[p], b.head[o] = b.head[o], int32(p)
			b.held[o]++
		}
	}
	b.least.reset(subs)
	b.most.reset(nil)
	for _, m := range subs {
		if b.held[m] > 0 {
			b.most.push(m)
		}
	}
	b.changed = b.changed[:0]
	for {
		from, to := b.most.top(), b.least.top()
		if cnt[from]-cnt[to] <= 1 {
			break
		}
		p := b.head[from]
		b.head[from], b.held[from] = b.next[p], b.held[from]-1
		b.next[p], b.head[to], b.held[to] = b.head[to], p, b.held[to]+1
		slots[p] = to
		for _, m := range [2]int32{from, to} {
			if b.mark[m] != stamp {
				b.mark[m] = stamp
				b.changed = append(b.changed, m)
			}
		}
		// A heap can only repair one changed key at a time, so update the
		// giver everywhere before touching the receiver's count.
		cnt[from]--
		b.least.fix(from)
		if b.held[from] == 0 {
			b.most.remove(from)
		} else {
			b.most.fix(from)
		}
		cnt[to]++
		b.least.fix(to)
		if b.most.contains(to) {
			b.most.fix(to)
		} else {
			b.most.push(to)
		}
	}
	b.least.clear()
	b.most.clear()
	return b.changed
}

// topicQueue is a FIFO of topic indices holding each topic at most once.
type topicQueue struct {
	ring   []int32
	queued []bool
	head   int
	size   int
}

func newTopicQueue(n int) *topicQueue {
	return &topicQueue{ring: make([]int32, n), queued: make([]bool, n)}
}

func (q *topicQueue) empty() bool { return q.size == 0 }

func (q *topicQueue) push(t int32) {
	if q.queued[t] {
		return
	}
	q.queued[t] = true
	q.ring[(q.head+q.size)%len(q.ring)] = t
	q.size++
}

func (q *topicQueue) pop() int32 {
	t := q.ring[q.head]
	q.head = (q.head + 1) % len(q.ring)
	q.size--
	q.queued[t] = false
	return t
}
