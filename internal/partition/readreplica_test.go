package partition

import (
	"slices"
	"testing"
	"time"
)

// The leader offers a consumer only in-sync followers that hold the fetch
// offset (Kafka's findPreferredReadReplica filter); a follower offers none.
func TestReplica_ReadReplicas(t *testing.T) {
	t0 := time.Unix(0, 0)
	r := NewReplica(ReplicaConfig{LocalID: 1, MinISR: 1, ReplicaLagTimeMax: 10 * time.Second}, 0, 0, 0)
	r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2, 3}}, t0)
	r.LocalAppended(10, 10)
	if _, err := r.FollowerFetched(2, 10, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.FollowerFetched(3, 6, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.FollowerFetched(4, 10, t0.Add(2*time.Second)); err != nil { // not in the ISR (committed)
		t.Fatal(err)
	}
	for id := int32(2); id <= 4; id++ {
		r.followers[id].logStart = 0
	}
	now := t0.Add(5 * time.Second)
	ids := func(fetchOffset int64) []int32 {
		reps, ok := r.readReplicas(fetchOffset, now)
		if !ok {
			t.Fatal("leader: ok = false")
		}
		var out []int32
		for _, rr := range reps {
			out = append(out, rr.ID)
		}
		return out
	}
	if got := ids(6); !slices.Equal(got, []int32{2, 3}) {
		t.Errorf("fetch offset 6: %v, want [2 3]", got)
	}
	if got := ids(7); !slices.Equal(got, []int32{2}) {
		t.Errorf("fetch offset 7: %v, want [2] (3 holds only up to 6)", got)
	}
	if got := ids(11); len(got) != 0 {
		t.Errorf("fetch offset 11: %v, want none", got)
	}
	reps, _ := r.readReplicas(0, now)
	if reps[0].LogEndOffset != 10 || reps[0].SinceCaughtUp != 4*time.Second {
		t.Errorf("replica 2: %+v, want log end 10, caught up 4s ago", reps[0])
	}
	// A follower whose retention has deleted the fetch offset is not
	// offered, nor one that has not reported its log start yet.
	r.followers[2].logStart = 5
	r.followers[3].logStart = -1
	if got := ids(4); len(got) != 0 {
		t.Errorf("fetch offset 4 with 2 starting at 5 and 3 unreported: %v, want none", got)
	}
	if got := ids(5); !slices.Equal(got, []int32{2}) {
		t.Errorf("fetch offset 5: %v, want [2]", got)
	}

	f := NewReplica(ReplicaConfig{LocalID: 2, MinISR: 1, ReplicaLagTimeMax: 10 * time.Second}, 0, 0, 0)
	f.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, t0)
	if reps, ok := f.readReplicas(0, now); ok || reps != nil {
		t.Errorf("follower: %v, %v; want nothing", reps, ok)
	}
}
