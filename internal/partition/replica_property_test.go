package partition

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestReplica_LeaderInvariants drives a leader of three replicas with
// random appends, fsyncs, follower fetches, ticks and controller answers,
// and checks after every step: the high watermark never decreases, never
// passes the leader's durable offset nor, while the ISR is the one it
// waits for, any ISR follower's fetched offset, and the leader stays in
// every ISR it proposes.
func TestReplica_LeaderInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		minISR := rapid.IntRange(1, 3).Draw(t, "minISR")
		r := NewReplica(ReplicaConfig{LocalID: 1, MinISR: minISR, ReplicaLagTimeMax: 10 * time.Second}, 0, 0, 0)
		now := time.Unix(0, 0)
		pepoch := int32(0)
		r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, now)
		leo, durable := int64(0), int64(0)
		fetched := map[int32]int64{2: -1, 3: -1}
		prevHW := int64(0)
		// What the controller may hold: the committed ISR and, while a
		// proposal is in flight, that proposal (it may be committed
		// without the leader knowing yet).
		committed, inFlight := []int32{1, 2, 3}, []int32(nil)
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 4000).Draw(t, "ms")) * time.Millisecond)
			var d Decision
			switch rapid.IntRange(0, 5).Draw(t, "event") {
			case 0:
				leo += int64(rapid.IntRange(1, 5).Draw(t, "n"))
				d = r.LocalAppended(leo, durable)
			case 1:
				durable = leo
				d = r.LocalAppended(leo, durable)
			case 2:
				id := int32(rapid.IntRange(2, 3).Draw(t, "follower"))
				lo := max(fetched[id], 0)
				off := rapid.Int64Range(lo, leo).Draw(t, "offset") // followers only move forward
				fetched[id] = off
				var err error
				if d, err = r.FollowerFetched(id, off, now); err != nil {
					t.Fatal(err)
				}
			case 3:
				d = r.Tick(now)
			case 4:
				if p := r.PendingISR(); p != nil {
					if rapid.Bool().Draw(t, "commit") {
						pepoch++
						committed = slices.Clone(p)
						d = r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: pepoch, Replicas: []int32{1, 2, 3}, ISR: p}, now)
					} else {
						r.ISRProposalRefused(p, 1, pepoch)
					}
					inFlight = nil
				}
			case 5:
				// The metadata hands the held leadership over again (another
				// partition of the topic changed): nothing changes.
				d = r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: pepoch, Replicas: []int32{1, 2, 3}, ISR: slices.Clone(committed)}, now)
			}
			if d.ProposeISR != nil {
				inFlight = slices.Clone(d.ProposeISR)
			}
			if d.ProposeISR != nil && !slices.Contains(d.ProposeISR, 1) {
				t.Fatalf("leader proposed an ISR without itself: %v", d.ProposeISR)
			}
			hw := r.HighWatermark()
			if hw < prevHW {
				t.Fatalf("high watermark moved back from %d to %d", prevHW, hw)
			}
			if d.HighWatermarkMoved != (hw > prevHW) {
				t.Fatalf("HighWatermarkMoved=%v but %d -> %d", d.HighWatermarkMoved, prevHW, hw)
			}
			if hw > durable {
				t.Fatalf("high watermark %d past the leader's durable offset %d", hw, durable)
			}
			if hw > prevHW {
				waited := r.maximalISR()
				if len(waited) < minISR {
					t.Fatalf("high watermark advanced with ISR %v below min.insync.replicas %d", waited, minISR)
				}
				for _, id := range append(slices.Clone(committed), inFlight...) {
					if id != 1 && fetched[id] < hw {
						t.Fatalf("high watermark %d past member %d's offset %d of an ISR the controller may hold (committed %v, in flight %v)",
							hw, id, fetched[id], committed, inFlight)
					}
				}
			}
			prevHW = hw
		}
	})
}
