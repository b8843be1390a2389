package consumergroup

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkHeartbeat_Keepalive measures one steady-state heartbeat (nothing
// changed) in a stable group of 1,000 members over 10 topics of 100
// partitions: the cost every member pays every heartbeat interval.
func BenchmarkHeartbeat_Keepalive(b *testing.B) {
	h := newHarness(b, Config{})
	var subs []string
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		h.topics.create(name, 100)
		subs = append(subs, name)
	}
	const members = 1000
	epochs := map[string]int32{}
	for i := range members {
		id := fmt.Sprintf("m%04d", i)
		epochs[id] = h.ok(hb{group: "g", member: id, subs: subs}).MemberEpoch
	}
	// Reconcile everyone: each reports what it holds until the group is
	// stable.
	for round := 0; round < 5 && h.gs.Get("g").State() != GroupStable; round++ {
		for i := range members {
			id := fmt.Sprintf("m%04d", i)
			m := h.member("g", id)
			epochs[id] = h.ok(hb{group: "g", member: id, epoch: m.Epoch, owned: m.Assigned.clone()}).MemberEpoch
		}
	}
	if s := h.gs.Get("g").State(); s != GroupStable {
		b.Fatalf("group %s after reconciling", s)
	}
	h.log = nil
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("m%04d", i%members)
		req := hb{group: "g", member: id, epoch: epochs[id]}.req()
		o := h.gs.Heartbeat(req, Client{ID: "client-" + id, Host: "/10.0.0.1"}, h.topics, now)
		if o.Response.ErrorCode != 0 {
			b.Fatalf("heartbeat: %d", o.Response.ErrorCode)
		}
	}
}
