package assignor

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// tid returns a topic ID whose first byte is b, so IDs sort by b.
func tid(b byte) TopicID {
	var id TopicID
	id[0] = b
	return id
}

var (
	t1 = tid(1)
	t2 = tid(2)
	t3 = tid(3)
)

func topicsOf(parts map[TopicID]int32) map[TopicID]Topic {
	out := make(map[TopicID]Topic, len(parts))
	for id, n := range parts {
		out[id] = Topic{ID: id, Name: fmt.Sprintf("t%d", id[0]), Partitions: n}
	}
	return out
}

type tps = map[TopicID][]int32

func member(id string, topics []TopicID, current tps) Member {
	return Member{ID: id, Topics: topics, Current: current}
}

type assignCase struct {
	name    string
	members []Member
	parts   map[TopicID]int32
	want    Assignment
}

func runCases(t *testing.T, a Assignor, cases []assignCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := a.Assign(tc.members, topicsOf(tc.parts))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s.Assign:\n got  %s\n want %s", a.Name(), format(got), format(tc.want))
			}
			// Same input in reverse member order: same output.
			rev := slices.Clone(tc.members)
			slices.Reverse(rev)
			if !hasDuplicateIDs(tc.members) {
				if again := a.Assign(rev, topicsOf(tc.parts)); !reflect.DeepEqual(again, got) {
					t.Fatalf("reversed members:\n got  %s\n want %s", format(again), format(got))
				}
			}
		})
	}
}

func hasDuplicateIDs(ms []Member) bool {
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.ID] {
			return true
		}
		seen[m.ID] = true
	}
	return false
}

// format prints an assignment in member and topic order, for failures.
func format(a Assignment) string {
	ids := make([]string, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := ""
	for _, id := range ids {
		s += id + ":{"
		topics := make([]TopicID, 0, len(a[id]))
		for t := range a[id] {
			topics = append(topics, t)
		}
		slices.SortFunc(topics, func(x, y TopicID) int { return int(x[0]) - int(y[0]) })
		for i, t := range topics {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprintf("t%d%v", t[0], a[id][t])
		}
		s += "} "
	}
	return s
}

func TestRange_Examples(t *testing.T) {
	both := []TopicID{t1, t2}
	runCases(t, Range(), []assignCase{{
		// Kafka's RangeAssignor doc: two members, two topics of three partitions.
		name:    "kafka doc co-partitioned",
		members: []Member{member("M1", both, nil), member("M0", both, nil)},
		parts:   map[TopicID]int32{t1: 3, t2: 3},
		want: Assignment{
			"M0": {t1: {0, 1}, t2: {0, 1}},
			"M1": {t1: {2}, t2: {2}},
		},
	}, {
		// Kafka's doc: after a rolling bounce static members get new member IDs
		// (M3 was M0, M2 was M1) but keep their ranges through instance IDs.
		name: "kafka doc static members ordered by instance id",
		members: []Member{
			{ID: "M2", InstanceID: "I1", Topics: both},
			{ID: "M3", InstanceID: "I0", Topics: both},
		},
		parts: map[TopicID]int32{t1: 3, t2: 3},
		want: Assignment{
			"M3": {t1: {0, 1}, t2: {0, 1}},
			"M2": {t1: {2}, t2: {2}},
		},
	}, {
		name: "static members before dynamic ones",
		members: []Member{
			{ID: "A", Topics: []TopicID{t1}},
			{ID: "Z", InstanceID: "zz", Topics: []TopicID{t1}},
		},
		parts: map[TopicID]int32{t1: 3},
		want:  Assignment{"Z": {t1: {0, 1}}, "A": {t1: {2}}},
	}, {
		name:    "same subscriptions, different partition counts",
		members: []Member{member("A", []TopicID{t1, t3}, nil), member("B", []TopicID{t3, t1}, nil)},
		parts:   map[TopicID]int32{t1: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0, 1}, t3: {0}},
			"B": {t1: {2}, t3: {1}},
		},
	}, {
		name: "different subscriptions",
		members: []Member{
			member("A", []TopicID{t1, t2}, nil),
			member("B", []TopicID{t3}, nil),
			member("C", []TopicID{t2, t3}, nil),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0, 1, 2}, t2: {0, 1}},
			"B": {t3: {0}},
			"C": {t2: {2}, t3: {1}},
		},
	}, {
		name: "more members than partitions",
		members: []Member{
			member("A", []TopicID{t1, t3}, nil),
			member("B", []TopicID{t1, t3}, nil),
			member("C", []TopicID{t1, t3}, nil),
		},
		parts: map[TopicID]int32{t1: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0}, t3: {0}},
			"B": {t1: {1}, t3: {1}},
			"C": {t1: {2}},
		},
	}, {
		name: "partition added to both topics",
		members: []Member{
			member("A", []TopicID{t1, t2}, tps{t1: {0, 1}, t2: {0, 1}}),
			member("B", []TopicID{t1, t2}, tps{t1: {2}, t2: {2}}),
		},
		parts: map[TopicID]int32{t1: 4, t2: 4},
		want: Assignment{
			"A": {t1: {0, 1}, t2: {0, 1}},
			"B": {t1: {2, 3}, t2: {2, 3}},
		},
	}, {
		// Sticky: B keeps partition 2 and only A's surplus moves to C. Kafka
		// 3.9+ (not sticky) would give B {1} and C {2} instead.
		name: "member added moves only surplus",
		members: []Member{
			member("A", []TopicID{t1, t2}, tps{t1: {0, 1}, t2: {0, 1}}),
			member("B", []TopicID{t1, t2}, tps{t1: {2}, t2: {2}}),
			member("C", []TopicID{t1, t2}, nil),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3},
		want: Assignment{
			"A": {t1: {0}, t2: {0}},
			"B": {t1: {2}, t2: {2}},
			"C": {t1: {1}, t2: {1}},
		},
	}, {
		name: "member and partition added",
		members: []Member{
			member("A", []TopicID{t1, t2}, tps{t1: {0, 1}, t2: {0, 1}}),
			member("B", []TopicID{t1, t2}, tps{t1: {2}, t2: {2}}),
			member("C", []TopicID{t1}, nil),
		},
		parts: map[TopicID]int32{t1: 4, t2: 3},
		want: Assignment{
			"A": {t1: {0, 1}, t2: {0, 1}},
			"B": {t1: {2}, t2: {2}},
			"C": {t1: {3}},
		},
	}, {
		name: "member removed",
		members: []Member{
			member("B", []TopicID{t1, t2}, tps{t1: {2}, t2: {2}}),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3},
		want:  Assignment{"B": {t1: {0, 1, 2}, t2: {0, 1, 2}}},
	}, {
		name: "subscriptions changed",
		members: []Member{
			member("A", []TopicID{t1}, tps{t1: {0, 1, 2}, t2: {0}}),
			member("B", []TopicID{t1, t2, t3}, tps{t2: {1}}),
			member("C", []TopicID{t2}, tps{t2: {2}, t3: {0, 1}}),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0, 1}},
			"B": {t1: {2}, t2: {0, 1}, t3: {0, 1}},
			"C": {t2: {2}},
		},
	}})
}

func TestUniform_Examples(t *testing.T) {
	runCases(t, Uniform(), []assignCase{{
		// Partitions are dealt round-robin in topic then partition order.
		name:    "fresh homogeneous",
		members: []Member{member("B", []TopicID{t1, t3}, nil), member("A", []TopicID{t3, t1}, nil)},
		parts:   map[TopicID]int32{t1: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0, 2}, t3: {1}},
			"B": {t1: {1}, t3: {0}},
		},
	}, {
		name: "fresh homogeneous spreads every topic",
		members: []Member{
			member("A", []TopicID{t1, t2}, nil),
			member("B", []TopicID{t1, t2}, nil),
			member("C", []TopicID{t1, t2}, nil),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3},
		want: Assignment{
			"A": {t1: {0}, t2: {0}},
			"B": {t1: {1}, t2: {1}},
			"C": {t1: {2}, t2: {2}},
		},
	}, {
		// Each old member gives up one partition, from the topic it holds the
		// most of; nothing moves between A and B.
		name: "member joins homogeneous group",
		members: []Member{
			member("A", []TopicID{t1, t2}, tps{t1: {0, 1}, t2: {0}}),
			member("B", []TopicID{t1, t2}, tps{t1: {2, 3}, t2: {1}}),
			member("C", []TopicID{t1, t2}, nil),
		},
		parts: map[TopicID]int32{t1: 4, t2: 2},
		want: Assignment{
			"A": {t1: {0}, t2: {0}},
			"B": {t1: {2}, t2: {1}},
			"C": {t1: {1, 3}},
		},
	}, {
		// A (which held 0, 5 and 6) left. The extra slot (7 partitions, 2
		// members) goes to B, which holds the most; only A's partitions move.
		name: "member leaves homogeneous group",
		members: []Member{
			member("B", []TopicID{t1}, tps{t1: {1, 3, 4}}),
			member("C", []TopicID{t1}, tps{t1: {2}}),
		},
		parts: map[TopicID]int32{t1: 7},
		want: Assignment{
			"B": {t1: {0, 1, 3, 4}},
			"C": {t1: {2, 5, 6}},
		},
	}, {
		// t1 has the most partitions per subscriber, so it is placed first;
		// then t2 and t3 go to their least loaded subscribers.
		name: "fresh heterogeneous",
		members: []Member{
			member("A", []TopicID{t1, t2}, nil),
			member("B", []TopicID{t3}, nil),
			member("C", []TopicID{t2, t3}, nil),
		},
		parts: map[TopicID]int32{t1: 3, t2: 3, t3: 2},
		want: Assignment{
			"A": {t1: {0, 1, 2}},
			"B": {t3: {0, 1}},
			"C": {t2: {0, 1, 2}},
		},
	}, {
		// B holds everything; balancing t1 moves B's highest partitions to A
		// until their counts are equal (t2 can only be B's).
		name: "heterogeneous balance moves",
		members: []Member{
			member("A", []TopicID{t1}, nil),
			member("B", []TopicID{t1, t2}, tps{t1: {0, 1, 2, 3}, t2: {0, 1}}),
		},
		parts: map[TopicID]int32{t1: 4, t2: 2},
		want: Assignment{
			"A": {t1: {1, 2, 3}},
			"B": {t1: {0}, t2: {0, 1}},
		},
	}, {
		name: "members subscribed to nothing get empty maps",
		members: []Member{
			member("A", nil, tps{t1: {0}}),
			member("B", []TopicID{t1}, nil),
		},
		parts: map[TopicID]int32{t1: 2},
		want:  Assignment{"A": {}, "B": {t1: {0, 1}}},
	}})
}

// TestAssign_BadInput covers inputs the coordinator should not send but
// which must not break the invariants.
func TestAssign_BadInput(t *testing.T) {
	t9, t0 := tid(9), tid(0)
	members := []Member{
		// Unknown topic t9, zero-partition topic t0, duplicate t1, and a
		// current assignment with negative, out-of-range, duplicate and
		// unsubscribed partitions.
		member("A", []TopicID{t9, t1, t0, t1}, tps{t1: {-1, 7, 1, 1}, t2: {0}, t9: {0}}),
		// Claims partition 1 too: the earlier member (A) keeps it.
		member("B", []TopicID{t1}, tps{t1: {1, 0}}),
		// A later duplicate of A is ignored.
		member("A", []TopicID{t2}, tps{t2: {0, 1}}),
	}
	parts := map[TopicID]int32{t1: 2, t2: 2, t0: 0, tid(5): -3}
	want := Assignment{"A": {t1: {1}}, "B": {t1: {0}}}
	for _, a := range []Assignor{Uniform(), Range()} {
		got := a.Assign(members, topicsOf(parts))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %s want %s", a.Name(), format(got), format(want))
		}
	}
	for _, a := range []Assignor{Uniform(), Range()} {
		if got := a.Assign(nil, nil); len(got) != 0 {
			t.Errorf("%s: no members: got %v", a.Name(), got)
		}
		got := a.Assign([]Member{{ID: "x", Topics: []TopicID{t1}}}, nil)
		if m, ok := got["x"]; !ok || m == nil || len(m) != 0 {
			t.Errorf("%s: no topics: got %#v", a.Name(), got)
		}
	}
}

func TestByName(t *testing.T) {
	names := Names()
	if len(names) != 2 || names[0] != "uniform" || names[1] != "range" {
		t.Fatalf("Names() = %v", names)
	}
	for _, name := range names {
		a, ok := ByName(name)
		if !ok || a.Name() != name {
			t.Errorf("ByName(%q) = %v, %v", name, a, ok)
		}
	}
	for _, name := range []string{"Uniform", "RANGE", "", "sticky", "cooperative-sticky"} {
		if a, ok := ByName(name); ok {
			t.Errorf("ByName(%q) = %v, want none", name, a.Name())
		}
	}
	names[0] = "changed"
	if Names()[0] != "uniform" {
		t.Error("Names shares its slice")
	}
}

// TestResult_SlicesDoNotAlias checks that appending to one returned slice
// cannot overwrite another member's partitions.
func TestResult_SlicesDoNotAlias(t *testing.T) {
	got := Uniform().Assign([]Member{
		member("A", []TopicID{t1}, nil),
		member("B", []TopicID{t1}, nil),
	}, topicsOf(map[TopicID]int32{t1: 4}))
	before := slices.Clone(got["B"][t1])
	for id := range got {
		got[id][t1] = append(got[id][t1], 99)
	}
	if b := got["B"][t1]; !slices.Equal(b[:len(b)-1], before) {
		t.Fatalf("B's partitions changed to %v, were %v", b, before)
	}
}
