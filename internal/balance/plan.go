// Package balance plans reassignments that even out the brokers of a cluster:
// replica counts, preferred leaders, bytes and racks. It is pure (no I/O), so
// both the CLI (fjord cluster rebalance, decommission) and the controller's
// continuous balancer use it.
package balance

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Partition is one partition as the balancer sees it: its replicas
// (the first is the preferred leader) and its size in bytes (the largest
// replica's, from DescribeLogDirs).
type Partition struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Size      int64
	orig      []int32 // the replicas before planning
}

func (p *Partition) Name() string { return tp(p.Topic, p.Partition) }

// Input is what Plan works from: the current assignment, the
// racks of the brokers ("" for none), and the brokers replicas should live on
// (every replica on another broker is moved off it).
type Input struct {
	Partitions []Partition
	Racks      map[int32]string
	Targets    []int32
	// EvacuateOnly moves only the replicas on brokers outside Targets (as
	// decommission does), onto the least loaded targets, and balances
	// nothing else.
	EvacuateOnly bool
	// Keep names brokers outside Targets whose replicas stay where they
	// are (a stopped broker during a decommission); nothing moves onto them.
	Keep []int32
}

// Move is one partition whose replicas change: a reassignment.
type Move struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"`
	Size      int64   `json:"size"`
}

func (m Move) Name() string { return tp(m.Topic, m.Partition) }

// added returns the brokers of To that are not in From.
func (m Move) Added() []int32 {
	var out []int32
	for _, id := range m.To {
		if !slices.Contains(m.From, id) {
			out = append(out, id)
		}
	}
	return out
}

// Load is one broker's replicas, preferred leaderships and bytes.
type Load struct {
	Broker   int32  `json:"broker"`
	Rack     string `json:"rack,omitempty"`
	Replicas int    `json:"replicas"`
	Leaders  int    `json:"leaders"`
	Bytes    int64  `json:"bytes"`
}

// loads sums the replicas, preferred leaders and bytes of every broker of
// brokers and of every broker a partition names, sorted by broker.
func Loads(ps []Partition, racks map[int32]string, brokers []int32) []Load {
	m := map[int32]*Load{}
	get := func(id int32) *Load {
		if m[id] == nil {
			m[id] = &Load{Broker: id, Rack: racks[id]}
		}
		return m[id]
	}
	for _, id := range brokers {
		get(id)
	}
	for _, p := range ps {
		for i, id := range p.Replicas {
			l := get(id)
			l.Replicas++
			l.Bytes += p.Size
			if i == 0 {
				l.Leaders++
			}
		}
	}
	out := make([]Load, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Load) int { return cmp.Compare(a.Broker, b.Broker) })
	return out
}

// balancer holds the assignment being planned and every broker's load.
type balancer struct {
	ps       []Partition
	targets  []int32 // sorted
	isTarget map[int32]bool
	keep     map[int32]bool
	racks    map[int32]string
	nracks   int // distinct racks among the targets; 0 without racks
	count    map[int32]int
	leaders  map[int32]int
	bytes    map[int32]int64
}

// Plan computes the reassignments that even out the targets' replica
// counts (within one), preferred leader counts (within one) and bytes
// (greedily), moving as few replicas as it can: replicas on brokers that are
// not targets go first, then a partition whose replicas share a rack while
// another rack is free gets spread, then replicas go from the most loaded to
// the least loaded broker, then large partitions go from the fullest to the
// emptiest broker (a move, or a swap keeping counts even) while that narrows
// the gap, and last the order of replicas changes (no data moves) so that
// preferred leaders are even. No broker ever holds two replicas of a
// partition, replication factors stay, and no move lowers the number of
// racks a partition spans. The plan is deterministic, and planning again on
// its result gives nothing to do.
func Plan(in Input) ([]Move, error) {
	if len(in.Targets) == 0 {
		return nil, fmt.Errorf("no brokers to place replicas on")
	}
	b := &balancer{
		targets:  slices.Sorted(slices.Values(in.Targets)),
		isTarget: map[int32]bool{},
		keep:     map[int32]bool{},
		racks:    in.Racks,
		count:    map[int32]int{},
		leaders:  map[int32]int{},
		bytes:    map[int32]int64{},
	}
	if d := duplicates(b.targets); len(d) > 0 {
		return nil, fmt.Errorf("brokers listed twice: %s", int32List(d))
	}
	rackSet := map[string]bool{}
	for _, id := range b.targets {
		b.isTarget[id] = true
		if r := in.Racks[id]; r != "" {
			rackSet[r] = true
		}
	}
	b.nracks = len(rackSet)
	for _, id := range in.Keep {
		b.keep[id] = !b.isTarget[id]
	}
	for _, p := range in.Partitions {
		if len(p.Replicas) > len(b.targets)+b.kept(p.Replicas) {
			return nil, fmt.Errorf("%s has %d replicas but only %d broker%s would hold them (%s): the replication factor cannot be kept",
				p.Name(), len(p.Replicas), len(b.targets), plural(len(b.targets)), int32List(b.targets))
		}
		p.orig, p.Replicas = p.Replicas, slices.Clone(p.Replicas)
		b.ps = append(b.ps, p)
	}
	slices.SortFunc(b.ps, func(x, y Partition) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
	})
	for _, p := range b.ps {
		for i, id := range p.Replicas {
			b.add(id, p.Size, i == 0)
		}
	}
	b.evacuate()
	if !in.EvacuateOnly {
		b.spreadRacks()
		b.evenCounts()
		b.evenBytes()
		b.evenLeaders()
	}
	var moves []Move
	for _, p := range b.ps {
		if !slices.Equal(p.orig, p.Replicas) {
			moves = append(moves, Move{Topic: p.Topic, Partition: p.Partition, From: slices.Clone(p.orig), To: p.Replicas, Size: p.Size})
		}
	}
	return moves, nil
}

// kept counts the replicas on Keep brokers.
func (b *balancer) kept(replicas []int32) int {
	n := 0
	for _, id := range replicas {
		if b.keep[id] {
			n++
		}
	}
	return n
}

func (b *balancer) add(id int32, size int64, leader bool) {
	b.count[id]++
	b.bytes[id] += size
	if leader {
		b.leaders[id]++
	}
}

func (b *balancer) remove(id int32, size int64, leader bool) {
	b.count[id]--
	b.bytes[id] -= size
	if leader {
		b.leaders[id]--
	}
}

// move puts replica slot i of partition p on broker to.
func (b *balancer) move(p *Partition, i int, to int32) {
	b.remove(p.Replicas[i], p.Size, i == 0)
	p.Replicas[i] = to
	b.add(to, p.Size, i == 0)
}

// rackSpread is the number of distinct racks replicas span (each rackless
// broker counting as its own).
func (b *balancer) rackSpread(replicas []int32) int {
	seen := map[string]bool{}
	n := 0
	for _, id := range replicas {
		r := b.racks[id]
		if r == "" {
			n++
		} else if !seen[r] {
			seen[r] = true
			n++
		}
	}
	return n
}

// canMove reports whether slot i of p may go to broker to: a target that
// holds no replica of p, without narrowing p's rack spread.
func (b *balancer) canMove(p *Partition, i int, to int32) bool {
	if !b.isTarget[to] || slices.Contains(p.Replicas, to) {
		return false
	}
	if b.nracks == 0 {
		return true
	}
	after := slices.Clone(p.Replicas)
	after[i] = to
	return b.rackSpread(after) >= b.rackSpread(p.Replicas)
}

// evacuate moves every replica off brokers that are not targets, each onto
// the target with the fewest replicas (for a leader slot, the fewest
// leaders first) that spans a new rack where one is free.
func (b *balancer) evacuate() {
	for pi := range b.ps {
		p := &b.ps[pi]
		for i, id := range p.Replicas {
			if b.isTarget[id] || b.keep[id] {
				continue
			}
			// The replica leaves anyway: judge racks on the others.
			others := slices.Delete(slices.Clone(p.Replicas), i, i+1)
			best, bestKey := int32(-1), []int64(nil)
			for _, to := range b.targets {
				if slices.Contains(p.Replicas, to) {
					continue
				}
				key := []int64{int64(-b.rackSpread(append(slices.Clone(others), to)))}
				if i == 0 {
					key = append(key, int64(b.leaders[to]))
				}
				key = append(key, int64(b.count[to]), b.bytes[to], int64(to))
				if best < 0 || slices.Compare(key, bestKey) < 0 {
					best, bestKey = to, key
				}
			}
			b.move(p, i, best) // there is one: len(targets) >= len(replicas)
		}
	}
}

// spreadRacks moves a replica off a rack its partition already uses onto a
// rack it does not, for every partition that spans fewer racks than it
// could, onto the least loaded broker of such a rack.
func (b *balancer) spreadRacks() {
	if b.nracks == 0 {
		return
	}
	for pi := range b.ps {
		p := &b.ps[pi]
		for b.rackSpread(p.Replicas) < min(len(p.Replicas), b.nracks) {
			bestI, bestTo, bestKey := -1, int32(-1), []int64(nil)
			for i := len(p.Replicas) - 1; i >= 0; i-- {
				for _, to := range b.targets {
					after := slices.Clone(p.Replicas)
					after[i] = to
					if slices.Contains(p.Replicas, to) || b.rackSpread(after) <= b.rackSpread(p.Replicas) {
						continue
					}
					key := []int64{int64(b.count[to] - b.count[p.Replicas[i]]), b.bytes[to], int64(to)}
					if bestI < 0 || slices.Compare(key, bestKey) < 0 {
						bestI, bestTo, bestKey = i, to, key
					}
				}
			}
			if bestI < 0 {
				break
			}
			b.move(p, bestI, bestTo)
		}
	}
}

// byLoad returns the targets sorted by key, ascending, ties by broker ID.
func (b *balancer) byLoad(key func(int32) int64) []int32 {
	out := slices.Clone(b.targets)
	slices.SortStableFunc(out, func(x, y int32) int { return cmp.Compare(key(x), key(y)) })
	return out
}

// evenCounts moves replicas from the broker with the most to the one with
// the fewest until counts are within one; of the replicas that may move,
// the one that best narrows the two brokers' bytes gap goes (a follower
// before a leader on a tie). Where racks forbid the pair, the next pair is
// tried.
func (b *balancer) evenCounts() {
	for {
		asc := b.byLoad(func(id int32) int64 { return int64(b.count[id]) })
		moved := false
	pairs:
		for si := len(asc) - 1; si >= 0; si-- {
			src := asc[si]
			for _, dst := range asc {
				if b.count[src]-b.count[dst] < 2 {
					break
				}
				if pi, i := b.bestSingle(src, dst, false); pi >= 0 {
					b.move(&b.ps[pi], i, dst)
					moved = true
					break pairs
				}
			}
		}
		if !moved {
			return
		}
	}
}

// bestSingle picks the replica on src that may move to dst and leaves the
// two brokers' bytes closest; with improve, only one that narrows their gap.
func (b *balancer) bestSingle(src, dst int32, improve bool) (int, int) {
	gap := b.bytes[src] - b.bytes[dst]
	bestP, bestI, bestKey := -1, -1, []int64(nil)
	for pi := range b.ps {
		p := &b.ps[pi]
		i := slices.Index(p.Replicas, src)
		if i < 0 || !b.canMove(p, i, dst) {
			continue
		}
		if improve && (p.Size <= 0 || p.Size >= gap) {
			continue
		}
		lead := int64(0)
		if i == 0 {
			lead = 1
		}
		key := []int64{abs64(gap - 2*p.Size), lead}
		if bestP < 0 || slices.Compare(key, bestKey) < 0 {
			bestP, bestI, bestKey = pi, i, key
		}
	}
	return bestP, bestI
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// evenBytes narrows the bytes gap between brokers: from the fullest broker
// to the emptiest that it can help, it moves the replica that best narrows
// their gap (if the fuller one also has more replicas, so counts stay
// within one) or swaps a large replica for a smaller one, while that
// narrows the gap; a gap under 1% of the average broker's bytes is left.
func (b *balancer) evenBytes() {
	var total int64
	for _, id := range b.targets {
		total += b.bytes[id]
	}
	slack := total / int64(len(b.targets)) / 100
	for range 10 * len(b.ps) {
		desc := b.byLoad(func(id int32) int64 { return -b.bytes[id] })
		moved := false
	pairs:
		for si, src := range desc {
			for di := len(desc) - 1; di > si; di-- {
				dst := desc[di]
				if b.bytes[src]-b.bytes[dst] <= slack {
					break
				}
				if b.count[src] > b.count[dst] {
					if pi, i := b.bestSingle(src, dst, true); pi >= 0 {
						b.move(&b.ps[pi], i, dst)
						moved = true
						break pairs
					}
				}
				if b.bestSwap(src, dst) {
					moved = true
					break pairs
				}
			}
		}
		if !moved {
			return
		}
	}
}

// bestSwap exchanges a replica on src with a smaller one on dst, the pair
// that best narrows their bytes gap, if one does.
func (b *balancer) bestSwap(src, dst int32) bool {
	gap := b.bytes[src] - b.bytes[dst]
	type slot struct{ p, i int }
	var fromSrc, fromDst []slot
	for pi := range b.ps {
		p := &b.ps[pi]
		if i := slices.Index(p.Replicas, src); i >= 0 && b.canMove(p, i, dst) {
			fromSrc = append(fromSrc, slot{pi, i})
		}
		if i := slices.Index(p.Replicas, dst); i >= 0 && b.canMove(p, i, src) {
			fromDst = append(fromDst, slot{pi, i})
		}
	}
	// For each replica on src, the best partner on dst is the one whose
	// size is nearest size - gap/2: look on both sides of it in sorted order.
	slices.SortStableFunc(fromDst, func(x, y slot) int { return cmp.Compare(b.ps[x.p].Size, b.ps[y.p].Size) })
	var best [2]slot
	bestKey := int64(-1)
	for _, s := range fromSrc {
		want := b.ps[s.p].Size - gap/2
		at, _ := slices.BinarySearchFunc(fromDst, want, func(d slot, w int64) int { return cmp.Compare(b.ps[d.p].Size, w) })
		for _, j := range []int{at - 1, at} {
			if j < 0 || j >= len(fromDst) {
				continue
			}
			d := fromDst[j]
			diff := b.ps[s.p].Size - b.ps[d.p].Size
			if diff <= 0 || diff >= gap {
				continue
			}
			if key := abs64(gap - 2*diff); bestKey < 0 || key < bestKey {
				best, bestKey = [2]slot{s, d}, key
			}
		}
	}
	if bestKey < 0 {
		return false
	}
	b.move(&b.ps[best[0].p], best[0].i, dst)
	b.move(&b.ps[best[1].p], best[1].i, src)
	return true
}

// evenLeaders makes preferred leader counts even (within one) by changing
// which replica of a partition comes first, which moves no data: while the
// broker with the most leaders has two more than another, leadership shifts
// along a chain of partitions (src leads one that dst', a replica, leads
// next ...) found breadth first, ending at a broker with at least two fewer.
func (b *balancer) evenLeaders() {
	for range 4 * len(b.ps) {
		asc := b.byLoad(func(id int32) int64 { return int64(b.leaders[id]) })
		shifted := false
		for si := len(asc) - 1; si >= 0 && !shifted; si-- {
			shifted = b.shiftLeader(asc[si])
		}
		if !shifted {
			return
		}
	}
}

// shiftLeader finds a chain src -> ... -> dst with leaders[dst] <=
// leaders[src]-2, each step a partition led by one broker that holds a
// replica on the next, and shifts one leadership along it.
func (b *balancer) shiftLeader(src int32) bool {
	type step struct {
		from int32
		p    int
	}
	prev := map[int32]step{src: {from: -1, p: -1}}
	queue := []int32{src}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for pi := range b.ps {
			p := &b.ps[pi]
			if p.Replicas[0] != cur {
				continue
			}
			for _, next := range p.Replicas[1:] {
				if _, seen := prev[next]; seen {
					continue
				}
				prev[next] = step{from: cur, p: pi}
				if b.leaders[next] <= b.leaders[src]-2 {
					for at := next; at != src; at = prev[at].from {
						q := &b.ps[prev[at].p]
						j := slices.Index(q.Replicas, at)
						b.leaders[q.Replicas[0]]--
						q.Replicas[0], q.Replicas[j] = q.Replicas[j], q.Replicas[0]
						b.leaders[at]++
					}
					return true
				}
				queue = append(queue, next)
			}
		}
	}
	return false
}

func tp(topic string, partition int32) string { return topic + "-" + strconv.Itoa(int(partition)) }

// int32List prints broker IDs as "1,2,3".
func int32List(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// duplicates returns the IDs that appear more than once, in order.
func duplicates(ids []int32) []int32 {
	var out []int32
	for i, id := range ids {
		if slices.Contains(ids[:i], id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
