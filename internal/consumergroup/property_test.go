package consumergroup

// A model-based property test of the protocol: simulated clients join,
// heartbeat (full, partial or keepalive), lose responses, leave (also as
// static members), crash and restart, while sessions expire and topics are
// created, grown and deleted. After every step:
//   - safety: no partition is owned (client side) by two members at once;
//   - every client owns only what its member holds at the coordinator;
//   - the coordinator's invariants of doc.go hold.
//
// At random points the log of records is replayed into a fresh Groups and
// compared with the live one (sometimes the run carries on from the
// replayed copy, as after a coordinator failover). At the end the chaos
// stops and the remaining clients heartbeat with accurate owned sets: the
// group must become Stable within a bounded number of rounds with every
// subscribed partition owned by exactly one client.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// simClient is a consumer as the coordinator sees it through heartbeats.
type simClient struct {
	name     string
	instance *string // static member when set
	memberID string
	gen      int  // process incarnation: a restart takes a new member ID
	active   bool // a running member of the group
	epoch    int32
	// owned is exactly the last assignment a response gave it.
	owned Partitions
	// reported: the coordinator saw owned in a request (a client sends
	// its owned partitions whenever they changed).
	reported bool
	// needFull: a response was lost; the next heartbeat is full.
	needFull bool
	subs     []string
	regex    *string
	// subsChanged: the next heartbeat carries the subscription.
	subsChanged bool
}

type sim struct {
	t       *rapid.T
	h       *harness
	clients []*simClient
}

const simGroup = "g"

// topicNames are the topics the simulation may create; clients subscribe
// to some of them by name or to "r-.*".
var topicNames = []string{"a", "b", "c", "r-1", "r-2", "x"}

func TestProperty_Protocol(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &sim{t: rt, h: newHarness(rt, Config{})}
		for _, name := range rapid.SliceOfNDistinct(rapid.SampledFrom(topicNames), 1, 3, rapid.ID[string]).Draw(rt, "initial topics") {
			s.h.topics.create(name, int32(rapid.IntRange(1, 6).Draw(rt, "partitions")))
		}
		n := rapid.IntRange(3, 6).Draw(rt, "clients")
		for i := range n {
			c := &simClient{name: fmt.Sprintf("c%d", i)}
			if rapid.IntRange(0, 2).Draw(rt, "static") == 0 {
				c.instance = strp("inst-" + c.name)
			}
			c.subs, c.regex = s.drawSubscription()
			s.clients = append(s.clients, c)
		}
		// Heartbeats dominate, as in a real group.
		actions := []struct {
			name   string
			weight int
			do     func(*rapid.T)
		}{
			// rapid draws small indexes more often: most frequent first.
			{"heartbeat", 12, s.heartbeat},
			{"join", 3, s.join},
			{"leave", 1, s.leave},
			{"crash", 1, s.crash},
			{"expire", 2, s.expire},
			{"topics", 1, s.changeTopics},
			{"subscription", 1, s.changeSubscription},
			{"delete", 1, s.deleteGroup},
			{"replay", 1, s.replay},
		}
		var names []string
		do := map[string]func(*rapid.T){}
		for _, a := range actions {
			do[a.name] = a.do
			for range a.weight {
				names = append(names, a.name)
			}
		}
		for range rapid.IntRange(10, 400).Draw(rt, "steps") {
			do[rapid.SampledFrom(names).Draw(rt, "action")](rt)
			s.check(rt)
		}
		s.settle()
		if d := diffGroups(s.h.gs, replay(rt, s.h.gs.Config(), s.h.log)); d != "" {
			rt.Fatalf("final replay differs: %s", d)
		}
	})
}

func (s *sim) drawSubscription() ([]string, *string) {
	if rapid.IntRange(0, 3).Draw(s.t, "regex subscription") == 0 {
		return nil, strp("r-.*")
	}
	return rapid.SliceOfNDistinct(rapid.SampledFrom(topicNames[:4]), 1, 3, rapid.ID[string]).Draw(s.t, "subscribed"), nil
}

func (s *sim) pick(filter func(*simClient) bool) *simClient {
	var cs []*simClient
	for _, c := range s.clients {
		if filter(c) {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil
	}
	return rapid.SampledFrom(cs).Draw(s.t, "client")
}

// lose drops the client's partitions: it stopped (crash, fenced, left).
func (c *simClient) lose() {
	c.owned, c.reported = Partitions{}, false
}

// join starts an inactive client, as a new process (new member ID) or as
// the same consumer subscribing again (same member ID).
func (s *sim) join(t *rapid.T) {
	c := s.pick(func(c *simClient) bool { return !c.active })
	if c == nil {
		return
	}
	if c.memberID == "" || rapid.Bool().Draw(t, "new process") {
		c.gen++
		c.memberID = fmt.Sprintf("%s-%d", c.name, c.gen)
	}
	c.active, c.epoch, c.needFull = true, 0, false
	c.lose()
	s.send(c, rapid.IntRange(0, 4).Draw(t, "lose join response") == 0)
}

func (s *sim) heartbeat(t *rapid.T) {
	c := s.pick(func(c *simClient) bool { return c.active })
	if c == nil {
		return
	}
	s.send(c, rapid.IntRange(0, 4).Draw(t, "lose response") == 0)
}

// send builds the client's next heartbeat as a real client would and
// applies the response unless it is lost.
func (s *sim) send(c *simClient, lost bool) {
	b := hb{group: simGroup, member: c.memberID, epoch: c.epoch, instance: c.instance}
	kind := "join"
	switch {
	case c.epoch == joinEpoch:
		b.subs, b.regex = c.joinSubscription()
	case c.needFull:
		kind = "full"
	default:
		kind = rapid.SampledFrom([]string{"full", "owned", "keepalive"}).Draw(s.t, "heartbeat kind")
		if kind == "keepalive" && (!c.reported || c.subsChanged) {
			kind = "owned"
		}
	}
	switch kind {
	case "full":
		b.full, b.owned = true, c.owned
		b.subs, b.regex = c.joinSubscription()
	case "owned":
		b.owned = c.owned
	}
	if c.subsChanged && kind != "join" && kind != "full" {
		b.subs, b.regex = c.joinSubscription()
	}
	o := s.h.heartbeat(b)
	if b.owned != nil || kind == "join" {
		c.reported = true
	}
	if b.subs != nil || b.regex != nil {
		c.subsChanged = false
	}
	if lost {
		// The coordinator acted on it; the client never hears.
		c.needFull = true
		return
	}
	s.apply(c, o.Response)
}

// joinSubscription is the full subscription: names (empty but non-nil
// when by regex) and the regex ("" clears one).
func (c *simClient) joinSubscription() ([]string, *string) {
	if c.regex != nil {
		return []string{}, c.regex
	}
	return slices.Clone(c.subs), strp("")
}

func (s *sim) apply(c *simClient, resp *kmsg.ConsumerGroupHeartbeatResponse) {
	c.needFull = false
	switch resp.ErrorCode {
	case errNone:
	case errFencedMemberEpoch, errUnknownMemberID, errGroupIDNotFound:
		// Fenced or forgotten: give everything up and join again (same
		// member ID, KIP-1082).
		c.lose()
		c.epoch = joinEpoch
		return
	case errUnreleasedInstanceID:
		// The previous incarnation still holds the instance ID: retry
		// the join later.
		c.epoch = joinEpoch
		return
	default:
		s.t.Fatalf("%s: unexpected error %d", c.memberID, resp.ErrorCode)
	}
	if resp.MemberID == nil || *resp.MemberID != c.memberID {
		s.t.Fatalf("%s: response for member %v", c.memberID, resp.MemberID)
	}
	c.epoch = resp.MemberEpoch
	if a := assignment(resp); a != nil && !a.equal(c.owned) {
		c.owned, c.reported = a, false
	}
}

func (s *sim) leave(t *rapid.T) {
	c := s.pick(func(c *simClient) bool { return c.active && c.epoch > 0 })
	if c == nil {
		return
	}
	epoch := int32(leaveEpoch)
	if c.instance != nil && rapid.Bool().Draw(t, "static leave") {
		epoch = staticLeaveEpoch
	}
	o := s.h.heartbeat(hb{group: simGroup, member: c.memberID, instance: c.instance, epoch: epoch})
	switch o.Response.ErrorCode {
	case errNone, errUnknownMemberID, errGroupIDNotFound:
	default:
		t.Fatalf("leave of %s: error %d", c.memberID, o.Response.ErrorCode)
	}
	c.active = false
	c.lose()
}

// crash stops a client without a leave; its member stays until expired.
func (s *sim) crash(t *rapid.T) {
	c := s.pick(func(c *simClient) bool { return c.active })
	if c == nil {
		return
	}
	c.active = false
	c.lose()
}

// expire runs a member's session or revocation deadline. The expired
// member's client has stopped processing by then (its poll deadline is
// shorter than the session): it owns nothing and learns of it on its next
// heartbeat.
func (s *sim) expire(t *rapid.T) {
	members := s.h.gs.Members()
	if len(members) == 0 {
		return
	}
	gm := rapid.SampledFrom(members).Draw(t, "member")
	if s.h.expire(gm[0], gm[1], rapid.Bool().Draw(t, "revocation")) == nil {
		return
	}
	for _, c := range s.clients {
		if c.active && c.memberID == gm[1] {
			c.lose()
		}
	}
}

func (s *sim) changeTopics(t *rapid.T) {
	name := rapid.SampledFrom(topicNames).Draw(t, "topic")
	_, n, exists := s.h.topics.ByName(name)
	switch {
	case !exists:
		s.h.topics.create(name, int32(rapid.IntRange(1, 6).Draw(t, "partitions")))
	case rapid.IntRange(0, 4).Draw(t, "delete topic") == 0:
		s.h.topics.remove(name)
	default:
		s.h.topics.grow(name, n+int32(rapid.IntRange(1, 3).Draw(t, "more partitions")))
	}
}

func (s *sim) changeSubscription(t *rapid.T) {
	c := s.pick(func(c *simClient) bool { return c.active })
	if c == nil {
		return
	}
	c.subs, c.regex = s.drawSubscription()
	c.subsChanged = true
}

func (s *sim) deleteGroup(t *rapid.T) {
	g := s.h.gs.Get(simGroup)
	if g == nil || !g.Empty() {
		return
	}
	s.h.delete(simGroup)
}

// replay rebuilds the groups from the log (whole or compacted) and
// compares; sometimes the run goes on from the copy.
func (s *sim) replay(t *rapid.T) {
	log := s.h.log
	if rapid.Bool().Draw(t, "compacted") {
		log = compact(log, rapid.Bool().Draw(t, "drop tombstones"))
	}
	gs := replay(t, s.h.gs.Config(), log)
	if d := diffGroups(s.h.gs, gs); d != "" {
		t.Fatalf("replay differs from the live state: %s", d)
	}
	if rapid.Bool().Draw(t, "fail over") {
		s.h.gs = gs
	}
}

func (s *sim) check(t *rapid.T) {
	if err := invariants(s.h.gs); err != nil {
		t.Fatal(err)
	}
	g := s.h.gs.Get(simGroup)
	owner := map[TopicPartition]string{}
	for _, c := range s.clients {
		for tp := range c.owned.each() {
			if other, ok := owner[tp]; ok {
				t.Fatalf("partition %v owned by %s and %s", tp, other, c.memberID)
			}
			owner[tp] = c.memberID
		}
		if c.owned.count() == 0 {
			continue
		}
		var m *Member
		if g != nil {
			m = g.Members[c.memberID]
		}
		if m == nil || !subset(c.owned, union(m.Assigned, m.PendingRevocation)) {
			t.Fatalf("%s owns %v, which its member does not hold (%v)", c.memberID, c.owned, m)
		}
	}
}

// settle stops the chaos: the sessions of members without a running
// client expire, then every running client heartbeats in turn with
// accurate owned sets. The group must be Stable within a few rounds, with
// each subscribed partition owned by exactly one client.
func (s *sim) settle() {
	t := s.t
	if g := s.h.gs.Get(simGroup); g != nil {
		for _, m := range g.sortedMembers() {
			if !slices.ContainsFunc(s.clients, func(c *simClient) bool { return c.active && c.memberID == m.ID }) {
				s.h.expire(simGroup, m.ID, false)
			}
		}
	}
	// Enough for a rejoin's epoch bump, a revocation, its release and the
	// pickup, with a round to spare.
	const rounds = 8
	for round := range rounds {
		for _, c := range s.clients {
			if c.active {
				c.needFull = true // accurate owned set, nothing lost
				s.send(c, false)
			}
		}
		s.check(t)
		if round >= 1 && s.settled() == "" {
			return
		}
	}
	t.Fatalf("not settled after %d rounds: %s", rounds, s.settled())
}

// settled says why the group is not settled ("" when it is).
func (s *sim) settled() string {
	g := s.h.gs.Get(simGroup)
	var running []*simClient
	for _, c := range s.clients {
		if c.active {
			running = append(running, c)
		}
	}
	if g == nil {
		if len(running) > 0 {
			return "no group"
		}
		return ""
	}
	if st := g.State(); st != GroupStable && !(st == GroupEmpty && len(running) == 0) {
		return fmt.Sprintf("group %s", st)
	}
	subscribed := map[TopicID]int32{}
	owned := map[TopicPartition]int{}
	for _, c := range running {
		m := g.Members[c.memberID]
		if m == nil || c.epoch != m.Epoch || !c.owned.equal(m.Assigned) {
			return fmt.Sprintf("%s at %d owns %v, member %v", c.memberID, c.epoch, c.owned, m)
		}
		for tp := range c.owned.each() {
			owned[tp]++
		}
		names := s.h.topics.Names()
		for _, id := range m.subscribedTopics(s.h.topics, names) {
			_, n, _ := s.h.topics.ByID(id)
			subscribed[id] = n
		}
	}
	for id, n := range subscribed {
		for q := range n {
			if k := owned[TopicPartition{id, q}]; k != 1 {
				return fmt.Sprintf("partition %x-%d owned %d times", id[12:], q, k)
			}
		}
	}
	if len(owned) != 0 {
		for tp := range owned {
			if _, ok := subscribed[tp.Topic]; !ok {
				return fmt.Sprintf("partition %v of an unsubscribed topic is owned", tp)
			}
		}
	}
	return ""
}
