package partition

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestReplica_Scripts drives the replica state machine with the scripts
// in testdata/replica (rewrite expected output with -rewrite). Commands:
//
//	init local=1 min-isr=2 lag=10s [hw=0 leo=0 durable=0]
//	leadership leader=1 epoch=1 [pepoch=0] replicas=1,2,3 isr=1,2,3 now=0s
//	append leo=5 [durable=5]
//	fetch replica=2 offset=5 now=1s
//	tick now=20s
//	proposal-failed
//	follower-hw hw=5
//	truncate to=3
//	produce acks=-1
//
// Each prints the replica's state and what the step decided.
func TestReplica_Scripts(t *testing.T) {
	datadriven.Walk(t, "testdata/replica", func(t *testing.T, path string) {
		var r *Replica
		epoch0 := time.Unix(0, 0)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			i64 := func(k string, def int64) int64 {
				v, ok := args[k]
				if !ok {
					return def
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: %s=%q: %v", d.Pos, k, v, err)
				}
				return n
			}
			ids := func(k string) []int32 {
				var out []int32
				if args[k] == "" {
					return []int32{}
				}
				for _, f := range strings.Split(args[k], ",") {
					n, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("%s: %s: %v", d.Pos, k, err)
					}
					out = append(out, int32(n))
				}
				return out
			}
			dur := func(k string) time.Duration {
				v, err := time.ParseDuration(args[k])
				if err != nil {
					t.Fatalf("%s: %s=%q: %v", d.Pos, k, args[k], err)
				}
				return v
			}
			now := func() time.Time { return epoch0.Add(dur("now")) }
			var dec Decision
			var err error
			switch d.Cmd {
			case "init":
				r = NewReplica(ReplicaConfig{LocalID: int32(i64("local", 1)), MinISR: int(i64("min-isr", 1)), ReplicaLagTimeMax: dur("lag")},
					i64("hw", 0), i64("leo", 0), i64("durable", i64("leo", 0)))
			case "leadership":
				dec = r.ApplyLeadership(Leadership{Leader: int32(i64("leader", -1)), LeaderEpoch: int32(i64("epoch", 0)),
					PartitionEpoch: int32(i64("pepoch", 0)), Replicas: ids("replicas"), ISR: ids("isr")}, now())
			case "append":
				leo := i64("leo", 0)
				dec = r.LocalAppended(leo, i64("durable", leo))
			case "fetch":
				dec, err = r.FollowerFetched(int32(i64("replica", 0)), i64("offset", 0), now())
			case "tick":
				dec = r.Tick(now())
			case "proposal-refused":
				r.ISRProposalRefused(ids("isr"), int32(i64("epoch", int64(r.LeaderEpoch()))), int32(i64("pepoch", int64(r.partitionEpoch))))
			case "follower-hw":
				dec = r.FollowerHighWatermark(i64("hw", 0))
			case "truncate":
				r.Truncated(i64("to", 0))
			case "produce":
				err = r.CheckProduce(int16(i64("acks", -1)))
			default:
				t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			}
			return describe(r, dec, err)
		})
	})
}

func describe(r *Replica, d Decision, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s epoch=%d leader=%d isr=%v hw=%d leo=%d", r.Role(), r.LeaderEpoch(), r.Leader(), r.ISR(), r.HighWatermark(), r.LogEndOffset())
	if p := r.PendingISR(); p != nil {
		fmt.Fprintf(&b, " pending=%v", p)
	}
	b.WriteString("\n")
	if d.HighWatermarkMoved {
		b.WriteString("-> high watermark moved\n")
	}
	if d.ProposeISR != nil {
		fmt.Fprintf(&b, "-> propose isr %v\n", d.ProposeISR)
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

// A pending ISR expansion counts towards the high watermark (the maximal
// ISR) but never makes up for a committed ISR below min.insync.replicas:
// with ISR [1] committed and [1 3] proposed, nothing is committed until the
// controller accepts the expansion. KIP-966 elects from the ELR on the
// promise that the high watermark stood still meanwhile.
func TestReplica_PendingExpansionDoesNotLiftAnISRBelowMin(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewReplica(ReplicaConfig{LocalID: 1, MinISR: 2, ReplicaLagTimeMax: 10 * time.Second}, 0, 0, 0)
	r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9, Replicas: []int32{1, 2, 3}, ISR: []int32{1}}, now)
	r.LocalAppended(10, 10)
	d, err := r.FollowerFetched(3, 10, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.ProposeISR, []int32{1, 3}) {
		t.Fatalf("proposed %v, want [1 3]", d.ProposeISR)
	}
	// The follower fetches again and the leader appends more, while the
	// proposal is in flight.
	if _, err := r.FollowerFetched(3, 10, now.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	r.LocalAppended(12, 12)
	if _, err := r.FollowerFetched(3, 12, now.Add(2*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if hw := r.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d with the committed ISR [1] below min.insync.replicas 2, want 0", hw)
	}
	r.ApplyLeadership(Leadership{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 10, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}}, now)
	if hw := r.HighWatermark(); hw != 12 {
		t.Fatalf("high watermark %d once [1 3] is committed, want 12", hw)
	}
}
