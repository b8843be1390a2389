package consumergroup

// Test fixtures shared by the unit, property and fuzz tests: a Topics
// implementation the tests can change, heartbeat request builders, a
// harness that keeps every record the state machine returns, and a deep
// comparison of two Groups (for replay equivalence).

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeTopics is a metadata image the tests change between heartbeats. A
// topic created again after a deletion gets a new ID, as in Kafka.
type fakeTopics struct {
	seq    uint32
	byName map[string]fakeTopic
}

type fakeTopic struct {
	id         TopicID
	partitions int32
}

func newFakeTopics() *fakeTopics { return &fakeTopics{byName: map[string]fakeTopic{}} }

// create adds a topic (or replaces one of the same name with a new ID).
func (f *fakeTopics) create(name string, partitions int32) TopicID {
	f.seq++
	var id TopicID
	id[0] = 0xF0
	copy(id[1:12], name)
	binary.BigEndian.PutUint32(id[12:], f.seq)
	f.byName[name] = fakeTopic{id, partitions}
	return id
}

// grow sets a topic's partition count (Kafka only ever adds partitions).
func (f *fakeTopics) grow(name string, partitions int32) {
	t := f.byName[name]
	t.partitions = partitions
	f.byName[name] = t
}

func (f *fakeTopics) remove(name string) { delete(f.byName, name) }

func (f *fakeTopics) id(name string) TopicID { return f.byName[name].id }

func (f *fakeTopics) ByName(name string) (TopicID, int32, bool) {
	t, ok := f.byName[name]
	return t.id, t.partitions, ok
}

func (f *fakeTopics) ByID(id TopicID) (string, int32, bool) {
	for name, t := range f.byName {
		if t.id == id {
			return name, t.partitions, true
		}
	}
	return "", 0, false
}

func (f *fakeTopics) Names() []string { return slices.Sorted(maps.Keys(f.byName)) }

// parts builds a Partitions of one topic.
func parts(id TopicID, ps ...int32) Partitions {
	p := Partitions{}
	p.add(id, ps...)
	return p
}

// union merges several Partitions.
func union(ps ...Partitions) Partitions {
	out := Partitions{}
	for _, p := range ps {
		for tp := range p.each() {
			out.add(tp.Topic, tp.Partition)
		}
	}
	return out
}

func (p Partitions) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, t := range p.sortedTopics() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%x:%v", t[12:], p[t])
	}
	b.WriteByte('}')
	return b.String()
}

// hb describes a heartbeat; req builds it (Version 1, as franz-go sends).
type hb struct {
	group, member string
	epoch         int32
	instance      *string
	// subs and regex are the subscription; nil leaves it as it is (both
	// nil on a join is invalid).
	subs  []string
	regex *string
	// owned is reported when non-nil.
	owned Partitions
	// full sets RebalanceTimeoutMillis (else -1, "unchanged"); a join
	// always does.
	full bool
}

func (h hb) req() *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch = h.group, h.member, h.epoch
	r.InstanceID = h.instance
	r.RebalanceTimeoutMillis = -1
	if h.full || h.epoch == joinEpoch {
		r.RebalanceTimeoutMillis = 30000
	}
	r.SubscribedTopicNames = h.subs
	r.SubscribedTopicRegex = h.regex
	if h.owned != nil {
		r.Topics = requestTopics(h.owned)
	} else if h.epoch == joinEpoch {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	return r
}

func requestTopics(p Partitions) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	ts := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, t := range p.sortedTopics() {
		rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		rt.TopicID, rt.Partitions = t, slices.Clone(p[t])
		ts = append(ts, rt)
	}
	return ts
}

// assignment returns a response's assignment; nil when it carries none.
func assignment(resp *kmsg.ConsumerGroupHeartbeatResponse) Partitions {
	if resp.Assignment == nil {
		return nil
	}
	p := Partitions{}
	for _, t := range resp.Assignment.Topics {
		p.add(t.TopicID, t.Partitions...)
	}
	return p
}

func strp(s string) *string { return &s }

// tester is what the fixtures need of *testing.T, *testing.F and
// *rapid.T.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// harness drives one Groups, keeping the log of every record returned.
type harness struct {
	t      tester
	gs     *Groups
	topics *fakeTopics
	now    time.Time
	log    []Record
}

func newHarness(t tester, cfg Config) *harness {
	h := &harness{t: t, gs: NewGroups(cfg), topics: newFakeTopics(), now: time.UnixMilli(1_700_000_000_000)}
	if t, ok := t.(*testing.T); ok {
		// Every unit test also checks that its log replays to the same
		// state and that the coordinator's invariants hold at the end.
		t.Cleanup(func() {
			if !t.Failed() {
				h.checkInvariants()
				h.checkReplay()
			}
		})
	}
	return h
}

// heartbeat sends a heartbeat and keeps its records.
func (h *harness) heartbeat(b hb) Outcome {
	h.t.Helper()
	h.now = h.now.Add(time.Millisecond)
	o := h.gs.Heartbeat(b.req(), Client{ID: "client-" + b.member, Host: "/10.0.0.1"}, h.topics, h.now)
	if o.Response == nil {
		h.t.Fatalf("heartbeat %+v: no response", b)
	}
	if o.Response.ErrorCode != errNone && len(o.Records) > 0 {
		h.t.Fatalf("heartbeat %+v failed with %d but wrote %d records", b, o.Response.ErrorCode, len(o.Records))
	}
	h.log = append(h.log, o.Records...)
	return o
}

// ok sends a heartbeat that must succeed and returns its response.
func (h *harness) ok(b hb) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	o := h.heartbeat(b)
	if o.Response.ErrorCode != errNone {
		msg := ""
		if o.Response.ErrorMessage != nil {
			msg = *o.Response.ErrorMessage
		}
		h.t.Fatalf("heartbeat %+v: error %d %s", b, o.Response.ErrorCode, msg)
	}
	return o.Response
}

func (h *harness) expire(group, member string, revocation bool) []Record {
	recs := h.gs.Expire(group, member, revocation)
	h.log = append(h.log, recs...)
	return recs
}

func (h *harness) delete(group string) []Record {
	recs := h.gs.Delete(group)
	h.log = append(h.log, recs...)
	return recs
}

func (h *harness) member(group, id string) *Member {
	h.t.Helper()
	g := h.gs.Get(group)
	if g == nil || g.Members[id] == nil {
		h.t.Fatalf("no member %s in group %s", id, group)
	}
	return g.Members[id]
}

// checkInvariants checks doc.go's invariants on every group.
func (h *harness) checkInvariants() {
	h.t.Helper()
	if err := invariants(h.gs); err != nil {
		h.t.Fatal(err)
	}
}

func invariants(gs *Groups) error {
	for _, id := range gs.IDs() {
		g := gs.Get(id)
		holder := map[TopicPartition]string{}
		for _, m := range g.sortedMembers() {
			if m.Epoch > g.AssignmentEpoch || g.AssignmentEpoch > g.Epoch {
				return fmt.Errorf("group %s: member %s epoch %d, assignment epoch %d, group epoch %d", id, m.ID, m.Epoch, g.AssignmentEpoch, g.Epoch)
			}
			for _, p := range []Partitions{m.Assigned, m.PendingRevocation} {
				for tp := range p.each() {
					if other, ok := holder[tp]; ok {
						return fmt.Errorf("group %s: partition %v held by %s and %s", id, tp, other, m.ID)
					}
					holder[tp] = m.ID
				}
			}
		}
		if !maps.Equal(holder, g.owners) {
			return fmt.Errorf("group %s: ownership map %v, members hold %v", id, g.owners, holder)
		}
	}
	return nil
}

// replay rebuilds a Groups from records, as a coordinator taking over the
// partition does.
func replay(t tester, cfg Config, log []Record) *Groups {
	t.Helper()
	gs := NewGroups(cfg)
	for i, r := range log {
		if err := gs.Replay(r.Key, r.Value); err != nil {
			t.Fatalf("replay of record %d: %v", i, err)
		}
	}
	gs.Loaded()
	return gs
}

// compact keeps the last record of each key, in log order, as the log
// cleaner would; tombstones are dropped when dropTombstones.
func compact(log []Record, dropTombstones bool) []Record {
	last := map[string]int{}
	for i, r := range log {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range log {
		if last[string(r.Key)] == i && (r.Value != nil || !dropTombstones) {
			out = append(out, r)
		}
	}
	return out
}

// checkReplay replays the log (whole and compacted) and compares.
func (h *harness) checkReplay() {
	h.t.Helper()
	for _, c := range []struct {
		name string
		log  []Record
	}{
		{"log", h.log},
		{"compacted log", compact(h.log, false)},
		{"cleaned log", compact(h.log, true)},
	} {
		if d := diffGroups(h.gs, replay(h.t, h.gs.Config(), c.log)); d != "" {
			h.t.Fatalf("replay of the %s differs from the live state: %s", c.name, d)
		}
	}
}

// diffGroups describes the first difference between two Groups ("" when
// they hold the same groups). The assignor name is soft state and left
// out.
func diffGroups(a, b *Groups) string {
	if !slices.Equal(a.IDs(), b.IDs()) {
		return fmt.Sprintf("groups %v vs %v", a.IDs(), b.IDs())
	}
	for _, id := range a.IDs() {
		ga, gb := a.Get(id), b.Get(id)
		switch {
		case ga.Epoch != gb.Epoch || ga.AssignmentEpoch != gb.AssignmentEpoch:
			return fmt.Sprintf("group %s: epochs %d/%d vs %d/%d", id, ga.Epoch, ga.AssignmentEpoch, gb.Epoch, gb.AssignmentEpoch)
		case ga.MetadataHash != gb.MetadataHash:
			return fmt.Sprintf("group %s: metadata hash %x vs %x", id, ga.MetadataHash, gb.MetadataHash)
		case ga.CreationTime.UnixMilli() != gb.CreationTime.UnixMilli():
			return fmt.Sprintf("group %s: created %v vs %v", id, ga.CreationTime, gb.CreationTime)
		case !slices.Equal(slices.Sorted(maps.Keys(ga.Target)), slices.Sorted(maps.Keys(gb.Target))):
			return fmt.Sprintf("group %s: targets of %v vs %v", id, slices.Sorted(maps.Keys(ga.Target)), slices.Sorted(maps.Keys(gb.Target)))
		case !slices.Equal(slices.Sorted(maps.Keys(ga.Members)), slices.Sorted(maps.Keys(gb.Members))):
			return fmt.Sprintf("group %s: members %v vs %v", id, slices.Sorted(maps.Keys(ga.Members)), slices.Sorted(maps.Keys(gb.Members)))
		case !maps.Equal(ga.owners, gb.owners):
			return fmt.Sprintf("group %s: owners %v vs %v", id, ga.owners, gb.owners)
		}
		for mid, t := range ga.Target {
			if !t.equal(gb.Target[mid]) {
				return fmt.Sprintf("group %s: target of %s %v vs %v", id, mid, t, gb.Target[mid])
			}
		}
		for mid, ma := range ga.Members {
			if d := diffMember(ma, gb.Members[mid]); d != "" {
				return fmt.Sprintf("group %s member %s: %s", id, mid, d)
			}
		}
	}
	return ""
}

func diffMember(a, b *Member) string {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return "=" + *p
	}
	re := func(m *Member) string {
		if m.regex == nil {
			return "<nil>"
		}
		return m.regex.String()
	}
	switch {
	case str(a.InstanceID) != str(b.InstanceID) || str(a.RackID) != str(b.RackID):
		return fmt.Sprintf("instance/rack %s/%s vs %s/%s", str(a.InstanceID), str(a.RackID), str(b.InstanceID), str(b.RackID))
	case a.ClientID != b.ClientID || a.ClientHost != b.ClientHost:
		return fmt.Sprintf("client %s %s vs %s %s", a.ClientID, a.ClientHost, b.ClientID, b.ClientHost)
	case !slices.Equal(a.SubscribedTopicNames, b.SubscribedTopicNames) || str(a.SubscribedTopicRegex) != str(b.SubscribedTopicRegex) || re(a) != re(b):
		return fmt.Sprintf("subscription %v %s %s vs %v %s %s", a.SubscribedTopicNames, str(a.SubscribedTopicRegex), re(a), b.SubscribedTopicNames, str(b.SubscribedTopicRegex), re(b))
	case a.RebalanceTimeout != b.RebalanceTimeout || str(a.ServerAssignor) != str(b.ServerAssignor):
		return fmt.Sprintf("rebalance timeout/assignor %v %s vs %v %s", a.RebalanceTimeout, str(a.ServerAssignor), b.RebalanceTimeout, str(b.ServerAssignor))
	case a.Epoch != b.Epoch || a.PreviousEpoch != b.PreviousEpoch || a.State != b.State:
		return fmt.Sprintf("epoch %d (previous %d) %v vs %d (previous %d) %v", a.Epoch, a.PreviousEpoch, a.State, b.Epoch, b.PreviousEpoch, b.State)
	case !a.Assigned.equal(b.Assigned) || !a.PendingRevocation.equal(b.PendingRevocation):
		return fmt.Sprintf("assigned %v pending %v vs %v pending %v", a.Assigned, a.PendingRevocation, b.Assigned, b.PendingRevocation)
	case !maps.Equal(a.assignmentEpochs, b.assignmentEpochs):
		return fmt.Sprintf("assignment epochs %v vs %v", a.assignmentEpochs, b.assignmentEpochs)
	}
	return ""
}
