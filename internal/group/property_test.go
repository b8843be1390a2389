package group

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// Random request sequences against the Coordinator. After every step the
// group invariants hold, every parked request belongs to a member, and
// replaying the records gives what clients see of settled groups and
// offsets; at the end, letting time run answers every parked request.
func TestCoordinator_RandomSequences(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(rt, Config{
			InitialRebalanceDelay:         time.Duration(rapid.IntRange(0, 3).Draw(rt, "delay")) * time.Second,
			NoInitialRebalanceDelay:       rapid.Bool().Draw(rt, "nodelay"),
			MaxSize:                       rapid.IntRange(2, 5).Draw(rt, "maxsize"),
			OffsetsRetention:              time.Hour,
			OffsetsRetentionCheckInterval: time.Duration(rapid.IntRange(1, 30).Draw(rt, "check")) * time.Minute,
		})
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := range steps {
			cmd := drawCommand(rt, h, i)
			h.run(cmd)
			if err := checkInvariants(h); err != "" {
				rt.Fatalf("after %q: %s\n%s", cmd, err, strings.Join(h.dumpState(), "\n"))
			}
			if diff := settledDiff(h); diff != "" {
				rt.Fatalf("after %q, replay differs:\n%s", cmd, diff)
			}
		}
		// Let time run: sessions expire, parked requests are answered.
		for range 40 {
			h.run("advance by=5m")
			if err := checkInvariants(h); err != "" {
				rt.Fatalf("while draining: %s", err)
			}
		}
		if len(h.parked) != 0 {
			rt.Fatalf("requests parked forever: %v\n%s", h.parked, strings.Join(h.dumpState(), "\n"))
		}
		for id, g := range h.c.groups {
			if len(g.members) != 0 || g.state != Empty {
				rt.Fatalf("group %s still %s with %d members", id, g.state, len(g.members))
			}
		}
	})
}

func drawCommand(rt *rapid.T, h *harness, i int) string {
	g := rapid.SampledFrom([]string{"g1", "g2"}).Draw(rt, "group")
	member := func() string {
		var ids []string
		if gr := h.c.groups[g]; gr != nil {
			ids = append(ids, gr.order...)
			for p := range gr.pending {
				ids = append(ids, p)
			}
		}
		slices.Sort(ids)
		ids = append(ids, "ghost")
		return rapid.SampledFrom(ids).Draw(rt, "member")
	}
	inst := func(m string) string {
		if gr := h.c.groups[g]; gr != nil {
			if mm := gr.members[m]; mm != nil && mm.instanceID != nil && rapid.IntRange(0, 9).Draw(rt, "inst-ok") > 0 {
				return " inst=" + *mm.instanceID
			}
		}
		if rapid.IntRange(0, 9).Draw(rt, "inst-bad") == 0 {
			return " inst=zz"
		}
		return ""
	}
	gen := func() int32 {
		if gr := h.c.groups[g]; gr != nil {
			return gr.generation - int32(rapid.IntRange(0, 1).Draw(rt, "stale"))
		}
		return 1
	}
	protos := rapid.SampledFrom([]string{"range:t1", "range:t1+t2", "roundrobin:t1,range:t1", "range:t1#x"}).Draw(rt, "protos")
	session := rapid.SampledFrom([]string{"6s", "10s", "30s"}).Draw(rt, "session")
	rebalance := rapid.SampledFrom([]string{"0s", "5s", "20s"}).Draw(rt, "rebalance")
	switch rapid.IntRange(0, 10).Draw(rt, "op") {
	case 10:
		// Failover (or a failed append): a fresh Coordinator from the log.
		return "reload"
	case 0:
		v := rapid.SampledFrom([]int{3, 4, 5, 9}).Draw(rt, "v")
		s := fmt.Sprintf("join g=%s client=c%d v=%d session=%s rebalance=%s protos=%s", g, i%4, v, session, rebalance, protos)
		if v >= 5 && rapid.Bool().Draw(rt, "static") {
			s += " inst=" + rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "instance")
		}
		return s
	case 1:
		m := member()
		return fmt.Sprintf("join g=%s client=c1 m=%s%s v=5 session=%s rebalance=%s protos=%s", g, m, inst(m), session, rebalance, protos)
	case 2:
		m := member()
		var as []string
		if gr := h.c.groups[g]; gr != nil {
			for _, id := range gr.order {
				as = append(as, id+":p-"+id)
			}
		}
		s := fmt.Sprintf("sync g=%s m=%s%s gen=%d", g, m, inst(m), gen())
		if len(as) > 0 {
			s += " assign=" + strings.Join(as, ",")
		}
		return s
	case 3, 4:
		m := member()
		return fmt.Sprintf("heartbeat g=%s m=%s%s gen=%d", g, m, inst(m), gen())
	case 5:
		m := member()
		if rapid.Bool().Draw(rt, "by-instance") {
			return fmt.Sprintf("leave g=%s m=inst:%s", g, rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "instance"))
		}
		return fmt.Sprintf("leave g=%s m=%s", g, m)
	case 6:
		if rapid.Bool().Draw(rt, "simple") {
			return fmt.Sprintf("commit g=%s offsets=t1/0@%d,t9/0@1", g, i)
		}
		m := member()
		return fmt.Sprintf("commit g=%s m=%s%s gen=%d offsets=t1/0@%d,t2/1@%d", g, m, inst(m), gen(), i, i)
	case 7:
		if rapid.Bool().Draw(rt, "delete-groups") {
			return "delete-groups g=" + g
		}
		return fmt.Sprintf("offset-delete g=%s topics=t1/0,t9/0", g)
	default:
		return "advance by=" + rapid.SampledFrom([]string{"0s", "1s", "4s", "7s", "11s", "31s", "20m"}).Draw(rt, "by")
	}
}

// checkInvariants returns what is wrong with the Coordinator's state.
func checkInvariants(h *harness) string {
	handles := map[coordinator.Handle]bool{}
	for id, g := range h.c.groups {
		if len(g.order) != len(g.members) {
			return fmt.Sprintf("%s: order %v vs %d members", id, g.order, len(g.members))
		}
		if len(g.members) == 0 && g.leader != "" || len(g.members) > 0 && g.members[g.leader] == nil {
			return fmt.Sprintf("%s: leader %q not a member", id, g.leader)
		}
		if g.state == Empty && len(g.members) > 0 {
			return fmt.Sprintf("%s: Empty with members", id)
		}
		if g.is(CompletingRebalance, Stable) && g.protocol == "" {
			return fmt.Sprintf("%s: %s without protocol", id, g.state)
		}
		for inst, mid := range g.static {
			if m := g.members[mid]; m == nil || m.instanceID == nil || *m.instanceID != inst {
				return fmt.Sprintf("%s: static %s -> %s is not that member", id, inst, mid)
			}
		}
		for mid := range g.pendingSync {
			if g.members[mid] == nil {
				return fmt.Sprintf("%s: pending sync %s not a member", id, mid)
			}
		}
		for _, m := range g.members {
			if m.static() && g.static[*m.instanceID] != m.id {
				return fmt.Sprintf("%s: static member %s not mapped", id, m.id)
			}
			if g.is(CompletingRebalance, Stable) && m.metadata(g.protocol) == nil {
				return fmt.Sprintf("%s: member %s lacks protocol %s", id, m.id, g.protocol)
			}
			for _, hd := range []coordinator.Handle{m.joinWait, m.syncWait} {
				if hd == 0 {
					continue
				}
				if handles[hd] || !h.parked[hd] {
					return fmt.Sprintf("%s: member %s holds handle h%d twice or not parked", id, m.id, hd)
				}
				handles[hd] = true
			}
		}
	}
	if len(handles) != len(h.parked) {
		return fmt.Sprintf("%d parked requests but members hold %d: some can never be answered", len(h.parked), len(handles))
	}
	return ""
}

// settledDiff compares what clients see of settled groups (Stable, or Empty
// with a generation or offsets) and of all offsets, live and replayed.
func settledDiff(h *harness) string {
	fresh := New(h.cfg)
	for _, r := range h.log {
		if err := fresh.Replay(r.Key, r.Value); err != nil {
			return err.Error()
		}
	}
	ids := map[string]bool{}
	for id := range h.c.offsets {
		ids[id] = true
	}
	for id := range fresh.offsets {
		ids[id] = true
	}
	var settled []string
	for id, g := range h.c.groups {
		if g.state == Stable || g.state == Empty && (g.generation > 0 || len(h.c.offsets[id]) > 0) {
			settled = append(settled, id)
		}
		ids[id] = true
	}
	slices.Sort(settled)
	var all []string
	for id := range ids {
		all = append(all, id)
	}
	slices.Sort(all)
	view := func(c *Coordinator) []string {
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Version, d.Groups = 5, settled
		out := h.fmtResponse(c.DescribeGroups(d, h.now).Response)
		for _, id := range all {
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version, f.Group = 7, id
			out = append(out, h.fmtResponse(c.OffsetFetch(f, h.now).Response)...)
		}
		return out
	}
	live, replayed := view(h.c), view(fresh)
	if slices.Equal(live, replayed) {
		return ""
	}
	return "live:\n" + strings.Join(live, "\n") + "\nreplayed:\n" + strings.Join(replayed, "\n")
}
