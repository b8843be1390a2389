package balance

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPlanBalance_Large: 3,000 partitions of three replicas on five of six
// brokers are planned in well under the CLI's timeout.
func TestPlanBalance_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("plans 3,000 partitions")
	}
	r := rand.New(rand.NewPCG(3, 4))
	var ps []Partition
	for p := range int32(3000) {
		perm := r.Perm(5)
		ps = append(ps, Partition{Topic: "t", Partition: p, Replicas: []int32{int32(perm[0] + 1), int32(perm[1] + 1), int32(perm[2] + 1)}, Size: r.Int64N(1 << 30)})
	}
	start := time.Now()
	moves, err := Plan(Input{Partitions: ps, Targets: []int32{1, 2, 3, 4, 5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d moves in %s", len(moves), took)
	if took > 20*time.Second {
		t.Errorf("planning took %s", took)
	}
	l := Loads(applyMoves(ps, moves), nil, []int32{1, 2, 3, 4, 5, 6})
	lo, hi := l[0].Bytes, l[0].Bytes
	for _, b := range l {
		lo, hi = min(lo, b.Bytes), max(hi, b.Bytes)
		if b.Replicas != 1500 || b.Leaders != 500 {
			t.Errorf("broker %d: %+v, want 1500 replicas, 500 leaders", b.Broker, b)
		}
	}
	if avg := (hi + lo) / 2; hi-lo > avg/50 {
		t.Errorf("bytes from %d to %d: more than 2%% apart", lo, hi)
	}
}
