package balance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// applyMoves returns ps with moves applied.
func applyMoves(ps []Partition, moves []Move) []Partition {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Replicas = slices.Clone(out[i].Replicas)
		for _, m := range moves {
			if m.Topic == out[i].Topic && m.Partition == out[i].Partition {
				out[i].Replicas = slices.Clone(m.To)
			}
		}
	}
	return out
}

// replicaMoves counts the replicas that land on a broker that did not hold
// them: the data a plan copies.
func replicaMoves(moves []Move) int {
	n := 0
	for _, m := range moves {
		n += len(m.Added())
	}
	return n
}

// spreadOf counts the distinct racks of replicas.
func spreadOf(racks map[int32]string, replicas []int32) int {
	seen := map[string]bool{}
	for _, id := range replicas {
		seen[racks[id]] = true
	}
	return len(seen)
}

// minCountMoves is the fewest replica moves that make counts even, each
// move adding one replica to a target: the final counts are q+1 on the r
// fullest targets and q elsewhere, and every replica a target gains moves.
func minCountMoves(counts []int, total int) int {
	n := len(counts)
	q, r := total/n, total%n
	c := slices.Clone(counts)
	slices.Sort(c)
	slices.Reverse(c)
	moves := 0
	for i, v := range c {
		want := q
		if i < r {
			want = q + 1
		}
		moves += max(0, want-v)
	}
	return moves
}

type balanceCase struct {
	in       Input
	racks    int
	sized    bool
	evacuate int32 // a broker left out of Targets, or -1
}

// randomCase builds a skewed assignment: the partitions live on a random
// subset of the brokers.
func randomCase(r *rand.Rand) balanceCase {
	n := 3 + r.IntN(6)
	c := balanceCase{racks: []int{0, 0, 2, 3}[r.IntN(4)], sized: r.IntN(2) == 0, evacuate: -1}
	c.in.Racks = map[int32]string{}
	var all []int32
	for i := range n {
		id := int32(i + 1)
		all = append(all, id)
		if c.racks > 0 {
			c.in.Racks[id] = fmt.Sprintf("rack%d", i%c.racks)
		}
	}
	used := all[:1+r.IntN(n)]
	for t := range 1 + r.IntN(3) {
		rf := 1 + r.IntN(min(3, len(used)))
		for p := range r.IntN(25) {
			perm := r.Perm(len(used))[:rf]
			var replicas []int32
			for _, i := range perm {
				replicas = append(replicas, used[i])
			}
			var size int64
			if c.sized {
				size = r.Int64N(1 << 20)
			}
			c.in.Partitions = append(c.in.Partitions, Partition{Topic: fmt.Sprintf("t%d", t), Partition: int32(p), Replicas: replicas, Size: size})
		}
	}
	c.in.Targets = all
	if r.IntN(4) == 0 {
		c.evacuate = all[r.IntN(n)]
		c.in.Targets = slices.DeleteFunc(slices.Clone(all), func(id int32) bool { return id == c.evacuate })
	}
	return c
}

func spreadWithin(t *testing.T, what string, m map[int32]int, targets []int32, bound int) {
	t.Helper()
	lo, hi := 1<<30, -1
	for _, id := range targets {
		lo, hi = min(lo, m[id]), max(hi, m[id])
	}
	if hi-lo > bound {
		t.Errorf("%s not even: %v (targets %v)", what, m, targets)
	}
}

func TestPlanBalance_Properties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 400 {
		c := randomCase(r)
		t.Run(fmt.Sprint(iter), func(t *testing.T) {
			maxRF := 0
			for _, p := range c.in.Partitions {
				maxRF = max(maxRF, len(p.Replicas))
			}
			moves, err := Plan(c.in)
			if maxRF > len(c.in.Targets) {
				if err == nil {
					t.Fatalf("rf %d onto %d brokers: no error", maxRF, len(c.in.Targets))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after := applyMoves(c.in.Partitions, moves)
			counts, leaders := map[int32]int{}, map[int32]int{}
			for i, p := range after {
				before := c.in.Partitions[i].Replicas
				if len(p.Replicas) != len(before) {
					t.Fatalf("%s: replication factor %d became %d", p.Name(), len(before), len(p.Replicas))
				}
				if d := duplicates(p.Replicas); len(d) > 0 {
					t.Fatalf("%s: %v twice", p.Name(), d)
				}
				for j, id := range p.Replicas {
					if !slices.Contains(c.in.Targets, id) {
						t.Fatalf("%s: on broker %d, not a target", p.Name(), id)
					}
					counts[id]++
					if j == 0 {
						leaders[id]++
					}
				}
				if c.racks > 0 {
					if got, want := spreadOf(c.in.Racks, p.Replicas), min(len(p.Replicas), c.racks); got != want {
						t.Errorf("%s: %v spans %d racks, want %d", p.Name(), p.Replicas, got, want)
					}
				}
			}
			if c.racks == 0 {
				spreadWithin(t, "replicas", counts, c.in.Targets, 1)
				// Leaders can go only where replicas are: with one replication
				// factor for all, they can always be even.
				if uniformRF(c.in.Partitions) {
					spreadWithin(t, "leaders", leaders, c.in.Targets, 1)
				}
				if !c.sized {
					var cs []int
					total := 0
					for _, id := range c.in.Targets {
						cs = append(cs, loadsOf(c.in.Partitions)[id])
						total += counts[id]
					}
					if got, want := replicaMoves(moves), minCountMoves(cs, total); got != want {
						t.Errorf("%d replica moves, %d would do", got, want)
					}
				}
			}
			again, err := Plan(Input{Partitions: after, Racks: c.in.Racks, Targets: c.in.Targets})
			if err != nil {
				t.Fatal(err)
			}
			if len(again) > 0 {
				t.Errorf("planning again moves %d partitions, first %v", len(again), again[0])
			}
		})
	}
}

func loadsOf(ps []Partition) map[int32]int {
	m := map[int32]int{}
	for _, p := range ps {
		for _, id := range p.Replicas {
			m[id]++
		}
	}
	return m
}

// TestPlanBalance_NewBroker: three brokers full, a fourth empty: a quarter
// of the replicas move to it, and leaders end even.
func TestPlanBalance_NewBroker(t *testing.T) {
	var ps []Partition
	for p := range int32(12) {
		ps = append(ps, Partition{Topic: "t", Partition: p, Replicas: []int32{1 + p%3, 1 + (p+1)%3}, Size: 100})
	}
	moves, err := Plan(Input{Partitions: ps, Targets: []int32{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if got := replicaMoves(moves); got != 6 {
		t.Errorf("%d replica moves, want 6: %v", got, moves)
	}
	for _, l := range Loads(applyMoves(ps, moves), nil, []int32{1, 2, 3, 4}) {
		if l.Replicas != 6 || l.Leaders != 3 || l.Bytes != 600 {
			t.Errorf("broker %d: %+v, want 6 replicas, 3 leaders, 600 bytes", l.Broker, l)
		}
	}
	if again, _ := Plan(Input{Partitions: applyMoves(ps, moves), Targets: []int32{1, 2, 3, 4}}); len(again) > 0 {
		t.Errorf("second plan: %v", again)
	}
}

// TestPlanBalance_Bytes: counts are even but one broker holds the big
// partitions: swaps even the bytes, keeping counts.
func TestPlanBalance_Bytes(t *testing.T) {
	ps := []Partition{
		{Topic: "big", Partition: 0, Replicas: []int32{1}, Size: 1000},
		{Topic: "big", Partition: 1, Replicas: []int32{1}, Size: 1000},
		{Topic: "small", Partition: 0, Replicas: []int32{2}, Size: 10},
		{Topic: "small", Partition: 1, Replicas: []int32{2}, Size: 10},
	}
	moves, err := Plan(Input{Partitions: ps, Targets: []int32{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Loads(applyMoves(ps, moves), nil, []int32{1, 2}) {
		if l.Replicas != 2 || l.Bytes != 1010 || l.Leaders != 2 {
			t.Errorf("broker %d: %+v, want 2 replicas, 1010 bytes", l.Broker, l)
		}
	}
	if replicaMoves(moves) != 2 {
		t.Errorf("moves %v, want one swap", moves)
	}
}

// TestPlanBalance_Racks: replicas on one rack are spread over both.
func TestPlanBalance_Racks(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	ps := []Partition{
		{Topic: "t", Partition: 0, Replicas: []int32{1, 2}},
		{Topic: "t", Partition: 1, Replicas: []int32{3, 4}},
	}
	moves, err := Plan(Input{Partitions: ps, Racks: racks, Targets: []int32{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range applyMoves(ps, moves) {
		if spreadOf(racks, p.Replicas) != 2 {
			t.Errorf("%s on %v: one rack", p.Name(), p.Replicas)
		}
	}
	if replicaMoves(moves) != 2 {
		t.Errorf("moves %v, want 2", moves)
	}
}

// TestPlanBalance_Decommission: everything leaves broker 3, evenly, and
// nothing else moves; too few brokers left is refused.
func TestPlanBalance_Decommission(t *testing.T) {
	var ps []Partition
	for p := range int32(8) {
		ps = append(ps, Partition{Topic: "t", Partition: p, Replicas: []int32{1 + p%4, 1 + (p+1)%4}})
	}
	moves, err := Plan(Input{Partitions: ps, Targets: []int32{1, 2, 4}, EvacuateOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range moves {
		if !slices.Contains(m.From, 3) || slices.Contains(m.To, 3) || len(m.Added()) != 1 {
			t.Errorf("move %v: only replicas on 3 should move", m)
		}
	}
	if len(moves) != 4 {
		t.Errorf("%d moves, want 4", len(moves))
	}
	counts := loadsOf(applyMoves(ps, moves))
	spreadWithin(t, "replicas", counts, []int32{1, 2, 4}, 1)
	// Broker 4 is down: its replicas stay, only 3's move (onto 1 and 2).
	moves, err = Plan(Input{Partitions: ps, Targets: []int32{1, 2}, Keep: []int32{4}, EvacuateOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range applyMoves(ps, moves) {
		if slices.Contains(p.Replicas, 3) || len(p.Replicas) != 2 {
			t.Errorf("%s on %v", p.Name(), p.Replicas)
		}
	}
	if got := loadsOf(applyMoves(ps, moves))[4]; got != 4 {
		t.Errorf("broker 4 (kept) holds %d replicas, want its 4", got)
	}
	_, err = Plan(Input{Partitions: ps, Targets: []int32{1}, EvacuateOnly: true})
	if err == nil || !strings.Contains(err.Error(), "replication factor cannot be kept") {
		t.Errorf("rf 2 onto one broker: %v", err)
	}
}

func uniformRF(ps []Partition) bool {
	for _, p := range ps {
		if len(p.Replicas) != len(ps[0].Replicas) {
			return false
		}
	}
	return true
}
