package compat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// groupOverrides make group tests quick: no initial rebalance delay, and
// the 6s minimum session timeout the killed-member test relies on.
var groupOverrides = []string{"group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=6000"}

// seenSet counts every record value consumed, across members.
type seenSet struct {
	mu     sync.Mutex
	counts map[string]int    // guarded by mu: value -> times consumed
	by     map[string]string // guarded by mu: value -> last member that consumed it
}

func newSeenSet() *seenSet {
	return &seenSet{counts: map[string]int{}, by: map[string]string{}}
}

func (s *seenSet) add(member string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[string(v)]++
	s.by[string(v)] = member
}

// has reports whether every value in want was consumed.
func (s *seenSet) has(want []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range want {
		if s.counts[w] == 0 {
			return false
		}
	}
	return true
}

// waitAll waits until every value in want was consumed, or fails t.
func (s *seenSet) waitAll(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(cmdTimeout)
	for !s.has(want) {
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			var missing []string
			for _, w := range want {
				if s.counts[w] == 0 {
					missing = append(missing, w)
				}
			}
			t.Fatalf("%d of %d records never consumed, e.g. %q", len(missing), len(want), missing[:min(5, len(missing))])
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not an assertion
	}
}

// checkOnce fails t for every consumed value not in want exactly once, and
// for any value consumed that is not in want.
func (s *seenSet) checkOnce(t *testing.T, want []string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range want {
		if n := s.counts[w]; n != 1 {
			t.Errorf("record %q consumed %d times, want once", w, n)
		}
	}
	for v := range s.counts {
		if !slices.Contains(want, v) {
			t.Errorf("record %q consumed (by %s), but it was not expected", v, s.by[v])
		}
	}
}

// members returns the names of the members that consumed at least one value
// with the given prefix.
func (s *seenSet) members(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ms []string
	for v, m := range s.by {
		if strings.HasPrefix(v, prefix) && !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	slices.Sort(ms)
	return ms
}

// groupMember is a franz-go group consumer polling in its own goroutine.
type groupMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// startMember joins group with autocommit on, recording what it polls in
// seen. Rebalances are blocked while a poll's records are being recorded,
// so autocommit's commit on revoke covers exactly what was recorded.
func startMember(t *testing.T, addr, group, topic, name string, seen *seenSet, extra ...kgo.Opt) *groupMember {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.ClientID(name),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	m := &groupMember{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for c.Err() == nil {
			fs := cl.PollFetches(c)
			fs.EachError(func(tp string, p int32, err error) {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
					t.Logf("%s: fetch %s/%d: %v", name, tp, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { seen.add(name, r.Value) })
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(m.close)
	return m
}

// stopPolling stops the member's poll loop; the client stays in the group.
func (m *groupMember) stopPolling() {
	m.cancel()
	<-m.done
}

// close stops polling and closes the client, which leaves the group.
// Idempotent.
func (m *groupMember) close() {
	m.stopPolling()
	m.cl.Close()
}

// values returns prefix0..prefix(n-1).
func values(prefix string, n int) []string {
	var vs []string
	for i := range n {
		vs = append(vs, fmt.Sprintf("%s%d", prefix, i))
	}
	return vs
}

// waitStableGroup waits until the classic group is Stable with exactly n
// members, each assigned at least one partition, and returns how many
// partitions each member (by client ID) holds.
func waitStableGroup(t *testing.T, adm *kadm.Client, group string, n int) map[string]int {
	t.Helper()
	return waitStable(t, group, n, func() (string, int, map[string]int, error) {
		dg, err := adm.DescribeGroups(ctx(t), group)
		if err != nil {
			return "", 0, nil, err
		}
		held := map[string]int{}
		for _, m := range dg[group].Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ca.Topics {
					held[m.ClientID] += len(tp.Partitions)
				}
			}
		}
		return dg[group].State, len(dg[group].Members), held, dg[group].Err
	})
}

// waitStable polls describe until the group is Stable with n members that
// all hold partitions, and returns the partitions held per client ID.
func waitStable(t *testing.T, group string, n int, describe func() (state string, members int, held map[string]int, err error)) map[string]int {
	t.Helper()
	deadline := time.Now().Add(cmdTimeout)
	var last string
	for time.Now().Before(deadline) {
		state, members, held, err := describe()
		if err == nil && state == "Stable" && members == n && len(held) == n {
			return held
		}
		last = fmt.Sprintf("state %s, %d members, held %v, err %v", state, members, held, err)
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
	t.Fatalf("group %s never stable with %d members all assigned; last: %s", group, n, last)
	return nil
}

// TestFranzGo_CooperativeGroupRebalanceAndRestart has three cooperative-
// sticky members join one group one by one while records keep arriving on a
// 6-partition topic: every record must be consumed exactly once across the
// incremental rebalances, and once all members commit and leave, the
// committed offsets must be the log end. After a broker restart new members
// of the group must resume from those offsets, seeing only newer records.
func TestFranzGo_CooperativeGroupRebalanceAndRestart(t *testing.T) {
	joinRebalanceRestart(t, groupOverrides, "franz-coop", nil, waitStableGroup,
		func(t *testing.T, b *fjordtest.Process, adm *kadm.Client, group string) {
			if dg, err := adm.DescribeGroups(ctx(t), group); err != nil || dg[group].Protocol != "cooperative-sticky" {
				t.Errorf("group protocol %q (err %v), want cooperative-sticky", dg[group].Protocol, err)
			}
		})
}

// joinRebalanceRestart is the join-one-by-one, commit, restart and resume
// scenario for either group protocol: extra are the members' client
// options, waitStable the protocol's view of a stable group, onStable the
// protocol's own checks once the three members are stable.
func joinRebalanceRestart(t *testing.T, overrides []string, topic string, extra []kgo.Opt,
	waitStable func(t *testing.T, adm *kadm.Client, group string, n int) map[string]int,
	onStable func(t *testing.T, b *fjordtest.Process, adm *kadm.Client, group string),
) {
	b := startBroker(t, overrides...)
	group, perBatch := topic+"-g", 120
	createTopic(t, b.Addr(), topic, 6)
	adm := admin(t, b.Addr())
	seen := newSeenSet()
	var want []string

	// Each member joins while a new batch is produced, so its rebalance
	// runs while records are being fetched and committed.
	var ms []*groupMember
	for i := range 3 {
		ms = append(ms, startMember(t, b.Addr(), group, topic, fmt.Sprintf("m%d", i), seen, extra...))
		prefix := fmt.Sprintf("join%d-", i)
		produceValues(t, b.Addr(), topic, prefix, perBatch, 6)
		want = append(want, values(prefix, perBatch)...)
		seen.waitAll(t, want)
	}
	held := waitStable(t, adm, group, 3)
	onStable(t, b, adm, group)
	for name, n := range held {
		if n != 2 {
			t.Errorf("member %s holds %d partitions, want 2 of 6 (held: %v)", name, n, held)
		}
	}
	// Once stable, every member gets records.
	produceValues(t, b.Addr(), topic, "stable-", perBatch, 6)
	want = append(want, values("stable-", perBatch)...)
	seen.waitAll(t, want)
	if got := seen.members("stable-"); len(got) != 3 {
		t.Errorf("records after the last rebalance consumed by %v, want all 3 members", got)
	}

	for _, m := range ms {
		m.stopPolling()
	}
	for _, m := range ms {
		if err := m.cl.CommitUncommittedOffsets(ctx(t)); err != nil {
			t.Fatalf("%s: commit: %v", m.name, err)
		}
	}
	for _, m := range ms {
		m.close()
	}
	seen.checkOnce(t, want)
	checkCommittedAtEnd(t, adm, group, topic)

	b.Restart(t)
	adm = admin(t, b.Addr()) // fresh client for the restarted broker
	checkCommittedAtEnd(t, adm, group, topic)
	after := newSeenSet()
	produceValues(t, b.Addr(), topic, "after-", perBatch, 6)
	for i := range 2 {
		startMember(t, b.Addr(), group, topic, fmt.Sprintf("r%d", i), after, extra...)
	}
	wantAfter := values("after-", perBatch)
	after.waitAll(t, wantAfter)
	after.checkOnce(t, wantAfter)
}

// checkCommittedAtEnd fails t unless group's committed offset for every
// partition of topic is the partition's end offset.
func checkCommittedAtEnd(t *testing.T, adm *kadm.Client, group, topic string) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx(t), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx(t), group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		o, ok := offs.Lookup(topic, e.Partition)
		if !ok || o.At != e.Offset {
			t.Errorf("%s/%d: committed %+v (found %v), want the end offset %d", topic, e.Partition, o.Offset, ok, e.Offset)
		}
	})
}

// killableDialer dials through connections it can all cut at once, after
// which every dial fails: to the broker the client is gone without a word,
// as if its process had been killed.
type killableDialer struct {
	mu    sync.Mutex
	dead  bool       // guarded by mu
	conns []net.Conn // guarded by mu
}

func (d *killableDialer) dial(c context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errors.New("killed")
	}
	var nd net.Dialer
	conn, err := nd.DialContext(c, network, host)
	if err == nil {
		d.conns = append(d.conns, conn)
	}
	return conn, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// TestFranzGo_GroupMemberKilledLosesPartitions has two members share a
// 6-partition topic; one then vanishes without a LeaveGroup (its connections
// are cut and no new ones succeed). After its 6s session timeout the
// coordinator must evict it and hand all partitions to the survivor, which
// then consumes records on every partition.
func TestFranzGo_GroupMemberKilledLosesPartitions(t *testing.T) {
	memberKilledLosesPartitions(t, groupOverrides, "franz-kill", nil, waitStableGroup)
}

// memberKilledLosesPartitions is the killed-member scenario for either
// group protocol: extra are the members' client options, waitStable the
// protocol's way to see a stable group and who holds how many partitions.
func memberKilledLosesPartitions(t *testing.T, overrides []string, topic string, extra []kgo.Opt,
	waitStable func(t *testing.T, adm *kadm.Client, group string, n int) map[string]int,
) {
	b := startBroker(t, overrides...)
	group, perBatch := topic+"-g", 60
	createTopic(t, b.Addr(), topic, 6)
	adm := admin(t, b.Addr())
	seen := newSeenSet()

	startMember(t, b.Addr(), group, topic, "survivor", seen, extra...)
	d := &killableDialer{}
	victim := startMember(t, b.Addr(), group, topic, "victim", seen, append([]kgo.Opt{kgo.Dialer(d.dial)}, extra...)...)
	held := waitStable(t, adm, group, 2)
	if held["survivor"] != 3 || held["victim"] != 3 {
		t.Fatalf("partitions held %v, want 3 each", held)
	}
	produceValues(t, b.Addr(), topic, "before-", perBatch, 6)
	want := values("before-", perBatch)
	seen.waitAll(t, want)

	// What the victim consumed is committed, so only its session is lost.
	victim.stopPolling()
	if err := victim.cl.CommitUncommittedOffsets(ctx(t)); err != nil {
		t.Fatalf("victim commit: %v", err)
	}
	d.kill()
	held = waitStable(t, adm, group, 1)
	if held["survivor"] != 6 {
		t.Fatalf("after the victim's session timed out the survivor holds %v, want all 6 partitions", held)
	}
	produceValues(t, b.Addr(), topic, "after-", perBatch, 6)
	want = append(want, values("after-", perBatch)...)
	seen.waitAll(t, want)
	if got := seen.members("after-"); !slices.Equal(got, []string{"survivor"}) {
		t.Errorf("records after the eviction consumed by %v, want only the survivor", got)
	}
	seen.checkOnce(t, want)
}
