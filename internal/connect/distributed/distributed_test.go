package distributed

import (
	"reflect"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

func tasks(conn string, n int) []connect.TaskID {
	var out []connect.TaskID
	for i := range n {
		out = append(out, connect.TaskID{Connector: conn, Task: i})
	}
	return out
}

func TestProtocol_RoundTrip(t *testing.T) {
	cur := Assignment{Connectors: []string{"a"}, Tasks: []connect.TaskID{{Connector: "a", Task: 0}, {Connector: "b", Task: 2}}}
	for _, v := range []int16{0, 1, 2} {
		s := WorkerState{Version: v, URL: "http://w1:8083/", ConfigOffset: 42}
		if v >= 1 {
			s.Current = cur
		}
		back, err := DecodeMetadata(EncodeMetadata(s))
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("v%d metadata: %+v, %v; want %+v", v, back, err, s)
		}
		a := LeaderAssignment{Version: v, Leader: "w1", LeaderURL: "http://w1:8083/", ConfigOffset: 42, Assigned: cur}
		if v >= 1 {
			a.Revoked, a.Delay = Assignment{Tasks: []connect.TaskID{{Connector: "c", Task: 1}}}, 5000
		}
		ab, err := DecodeAssignment(EncodeAssignment(a))
		if err != nil || !reflect.DeepEqual(ab, a) {
			t.Fatalf("v%d assignment: %+v, %v; want %+v", v, ab, err, a)
		}
	}
	// The v1 layout, field by field: version, url, offset, allocation.
	b := EncodeMetadata(WorkerState{Version: 1, URL: "u", ConfigOffset: 1})
	want := []byte{0, 1, 0, 1, 'u', 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("v1 metadata % x, want % x", b, want)
	}
	for i := range b {
		if _, err := DecodeMetadata(b[:i]); err == nil && i < 13 {
			t.Fatalf("a %d-byte prefix decoded", i)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(EncodeMetadata(WorkerState{Version: 1, URL: "u", ConfigOffset: 3, Current: Assignment{Connectors: []string{"x"}}}))
	f.Add(EncodeAssignment(LeaderAssignment{Version: 1, Leader: "l", Assigned: Assignment{Tasks: tasks("a", 3)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeMetadata(b)
		if a, err := DecodeAssignment(b); err == nil {
			if _, err := DecodeAssignment(EncodeAssignment(a)); err != nil {
				t.Fatalf("re-encoding %+v: %v", a, err)
			}
		}
	})
}

// apply plays an outcome on the members: they stop what is revoked and
// start what is assigned.
func apply(members []Member, out map[string]MemberAssignment) []Member {
	var next []Member
	for _, m := range members {
		o := out[m.ID]
		items := map[item]bool{}
		for _, it := range itemsOf(m.Current) {
			items[it] = true
		}
		for _, it := range itemsOf(o.Revoked) {
			delete(items, it)
		}
		for _, it := range itemsOf(o.Assigned) {
			items[it] = true
		}
		var l []item
		for it := range items {
			l = append(l, it)
		}
		next = append(next, Member{ID: m.ID, Current: assignmentOf(l)})
	}
	return next
}

// rebalance runs rounds until nothing is revoked (the members rejoin after
// a revocation, as cooperative rebalancing does) and returns the members.
func rebalance(t *testing.T, in AssignInput) ([]Member, AssignorState, time.Duration) {
	t.Helper()
	for round := 0; round < 5; round++ {
		out, st := Assign(in)
		in.Members, in.State = apply(in.Members, out), st
		again := false
		var delay time.Duration
		for _, o := range out {
			again = again || !o.Revoked.Empty()
			delay = o.Delay
		}
		if !again {
			return in.Members, st, delay
		}
	}
	t.Fatal("no stable assignment within 5 rounds")
	return nil, AssignorState{}, 0
}

func loads(members []Member) (conns, tasks map[string]int, owners map[item]int) {
	conns, tasks, owners = map[string]int{}, map[string]int{}, map[item]int{}
	for _, m := range members {
		conns[m.ID], tasks[m.ID] = len(m.Current.Connectors), len(m.Current.Tasks)
		for _, it := range itemsOf(m.Current) {
			owners[it]++
		}
	}
	return
}

func TestAssign_SpreadsJoinsAndWaitsForDeparted(t *testing.T) {
	now := time.Unix(1000, 0)
	in := AssignInput{Members: []Member{{ID: "w1"}, {ID: "w2"}, {ID: "w3"}}, Connectors: []string{"c"}, Tasks: tasks("c", 6),
		MaxDelay: 10 * time.Second, Now: now}
	members, st, _ := rebalance(t, in)
	_, tl, owners := loads(members)
	if tl["w1"] != 2 || tl["w2"] != 2 || tl["w3"] != 2 || len(owners) != 7 {
		t.Fatalf("tasks per worker %v, owners %v", tl, owners)
	}

	// w3 leaves: its tasks wait for the delay, then move.
	in = AssignInput{Members: members[:2], Connectors: in.Connectors, Tasks: in.Tasks, MaxDelay: in.MaxDelay, Now: now.Add(time.Second), State: st}
	out, st2 := Assign(in)
	if !out["w1"].Assigned.Empty() || out["w1"].Delay != 10*time.Second {
		t.Fatalf("within the delay: %+v", out["w1"])
	}
	in.Members, in.State, in.Now = apply(in.Members, out), st2, now.Add(12*time.Second)
	members, st, _ = rebalance(t, in)
	_, tl, owners = loads(members)
	if tl["w1"]+tl["w2"] != 6 || tl["w1"] != 3 || len(owners) != 7 {
		t.Fatalf("after the delay: tasks %v owners %v", tl, owners)
	}
	for it, n := range owners {
		if n != 1 {
			t.Fatalf("%+v run by %d workers", it, n)
		}
	}

	// A fourth worker joins: the others give up tasks without stopping
	// the rest (incremental), and it ends with some.
	members = append(members, Member{ID: "w4"})
	in = AssignInput{Members: members, Connectors: in.Connectors, Tasks: in.Tasks, MaxDelay: in.MaxDelay, Now: now.Add(time.Minute), State: st}
	out, _ = Assign(in)
	for id, o := range out {
		if id != "w4" && len(o.Revoked.Tasks) > 2 {
			t.Fatalf("%s revoked %v: more than its excess", id, o.Revoked)
		}
	}
	members, _, _ = rebalance(t, in)
	_, tl, _ = loads(members)
	if tl["w4"] == 0 {
		t.Fatalf("the new worker got nothing: %v", tl)
	}
}

func TestAssign_RevokesDeletedAndDuplicates(t *testing.T) {
	in := AssignInput{Members: []Member{
		{ID: "a", Current: Assignment{Connectors: []string{"gone"}, Tasks: []connect.TaskID{{Connector: "c", Task: 0}}}},
		{ID: "b", Current: Assignment{Tasks: []connect.TaskID{{Connector: "c", Task: 0}}}},
	}, Connectors: []string{"c"}, Tasks: tasks("c", 1), Now: time.Unix(1, 0)}
	out, _ := Assign(in)
	if !reflect.DeepEqual(out["a"].Revoked.Connectors, []string{"gone"}) || len(out["b"].Revoked.Tasks) != 1 {
		t.Fatalf("revocations %+v", out)
	}
	if n := len(out["a"].Assigned.Connectors) + len(out["b"].Assigned.Connectors); n != 1 {
		t.Fatalf("connector c assigned %d times: %+v", n, out)
	}
}
