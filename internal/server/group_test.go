package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupNodeConfig keeps group tests quick: no initial rebalance delay and a
// few __consumer_offsets partitions.
var groupNodeConfig = []string{"group.initial.rebalance.delay.ms", "0", "offsets.topic.num.partitions", "5"}

// member is one kgo group consumer and the partitions it owns now.
type member struct {
	cl    *kgo.Client
	close func() // closes cl once (leaving the group)

	mu    sync.Mutex
	owned map[int32]bool
}

func newMember(t *testing.T, addr, group, topic, clientID string, extra ...kgo.Opt) *member {
	t.Helper()
	m := &member{owned: map[int32]bool{}}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RetryTimeout(10 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
		}),
	}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl, m.close = cl, sync.OnceFunc(cl.Close)
	t.Cleanup(m.close)
	return m
}

func (m *member) ownedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.owned)
}

// pollUntil polls the members concurrently until want records arrived in
// total (or ctx ends) and returns them.
func pollUntil(ctx context.Context, t *testing.T, want int, members ...*member) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []*kgo.Record
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := m.cl.PollFetches(ctx)
				mu.Lock()
				got = append(got, fs.Records()...)
				if len(got) >= want {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) < want {
		t.Fatalf("consumed %d records, want %d", len(got), want)
	}
	return got
}

func produceSpread(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestGroup_ConsumeCommitRestart runs two cooperative-sticky kgo members of
// one group on a 4-partition topic: they share the partitions, consume each
// record once, and their commits are visible through OffsetFetch, survive a
// broker restart and are where a new member resumes.
func TestGroup_ConsumeCommitRestart(t *testing.T) {
	const topic, grp = "group-orders", "g-orders"
	dir := t.TempDir()
	n := startNode(t, dir, groupNodeConfig...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	a := newMember(t, n.Addr(), grp, topic, "member-a")
	b := newMember(t, n.Addr(), grp, topic, "member-b")
	// Members only join once they poll: poll (nothing is produced yet)
	// until both own partitions and together own all four.
	for a.ownedCount() == 0 || b.ownedCount() == 0 || a.ownedCount()+b.ownedCount() != 4 {
		if ctx.Err() != nil {
			t.Fatalf("members own %d and %d partitions", a.ownedCount(), b.ownedCount())
		}
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		for _, m := range []*member{a, b} {
			if fs := m.cl.PollFetches(pctx); len(fs.Records()) > 0 {
				t.Fatalf("records before any was produced: %v", fs.Records())
			}
		}
		cancel()
	}

	described, err := adm.DescribeGroups(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	dg := described[grp]
	if dg.Err != nil || dg.State != "Stable" || dg.Protocol != "cooperative-sticky" || len(dg.Members) != 2 {
		t.Fatalf("DescribeGroups: err %v, state %q, protocol %q, %d members", dg.Err, dg.State, dg.Protocol, len(dg.Members))
	}
	for _, m := range dg.Members {
		if !strings.HasPrefix(m.ClientID, "member-") || !strings.HasPrefix(m.ClientHost, "/127.0.0.1") {
			t.Errorf("member %s: client ID %q, host %q", m.MemberID, m.ClientID, m.ClientHost)
		}
	}

	const total = 400
	produceSpread(ctx, t, cl, topic, 0, total)
	got := pollUntil(ctx, t, total, a, b)
	seen := map[string]int{}
	for _, r := range got {
		seen[fmt.Sprintf("%d@%d", r.Partition, r.Offset)]++
	}
	if len(seen) != total || len(got) != total {
		t.Fatalf("consumed %d records, %d distinct, want %d once each", len(got), len(seen), total)
	}
	for _, m := range []*member{a, b} {
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	checkCommitted := func(adm *kadm.Client) {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, grp)
		if err != nil {
			t.Fatal(err)
		}
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(topic, e.Partition)
			if !ok || o.Err != nil || o.At != e.Offset {
				t.Errorf("partition %d: committed %+v (found %v), want %d", e.Partition, o, ok, e.Offset)
			}
		})
	}
	checkCommitted(adm)
	a.close() // leaves the group
	b.close()

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, dir, groupNodeConfig...)
	cl, adm = newClient(t, n.Addr())
	checkCommitted(adm)

	produceSpread(ctx, t, cl, topic, total, 40)
	c := newMember(t, n.Addr(), grp, topic, "member-c")
	for _, r := range pollUntil(ctx, t, 40, c) {
		if e, _ := ends.Lookup(topic, r.Partition); r.Offset < e.Offset {
			t.Errorf("new member read %d@%d, below the committed offset %d", r.Partition, r.Offset, e.Offset)
		}
	}
}

// TestGroup_Admin covers kadm's group administration: a simple commit makes
// an Empty group that ListGroups and DescribeGroups show, OffsetCommit to an
// unknown topic is refused, OffsetDelete and DeleteGroups remove offsets and
// the group.
func TestGroup_Admin(t *testing.T) {
	const topic, grp = "group-admin", "g-admin"
	n := startNode(t, t.TempDir(), groupNodeConfig...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceSpread(ctx, t, cl, topic, 0, 10)

	var offs kadm.Offsets
	offs.AddOffset(topic, 0, 3, -1)
	offs.AddOffset(topic, 1, 4, -1)
	offs.AddOffset("no-such-topic", 0, 1, -1)
	committed, err := adm.CommitOffsets(ctx, grp, offs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic     string
		partition int32
		want      error
	}{{topic, 0, nil}, {topic, 1, nil}, {"no-such-topic", 0, kerr.UnknownTopicOrPartition}} {
		r, ok := committed.Lookup(tc.topic, tc.partition)
		if !ok || !errors.Is(r.Err, tc.want) && r.Err != tc.want {
			t.Errorf("commit %s/%d: %v (found %v), want %v", tc.topic, tc.partition, r.Err, ok, tc.want)
		}
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed[grp]; !ok || lg.State != "Empty" {
		t.Fatalf("ListGroups: %+v", listed)
	}
	described, err := adm.DescribeGroups(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	if dg := described[grp]; dg.Err != nil || dg.State != "Empty" || len(dg.Members) != 0 {
		t.Fatalf("DescribeGroups: %+v", dg)
	}

	del := make(kadm.TopicsSet)
	del.Add(topic, 1)
	deleted, err := adm.DeleteOffsets(ctx, grp, del)
	if err != nil {
		t.Fatal(err)
	}
	if err := deleted.Error(); err != nil {
		t.Fatal(err)
	}
	fetched, err := adm.FetchOffsets(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(topic, 0); !ok || o.At != 3 {
		t.Errorf("offset of partition 0: %+v, want 3", o)
	}
	if o, ok := fetched.Lookup(topic, 1); ok && o.At >= 0 {
		t.Errorf("offset of partition 1 after OffsetDelete: %+v", o)
	}

	dres, err := adm.DeleteGroups(ctx, grp, "never-existed")
	if err != nil {
		t.Fatal(err)
	}
	if dres[grp].Err != nil || !errors.Is(dres["never-existed"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups: %+v", dres)
	}
	if listed, err = adm.ListGroups(ctx); err != nil || len(listed) != 0 {
		t.Fatalf("ListGroups after DeleteGroups: %+v, %v", listed, err)
	}
	if fetched, err = adm.FetchOffsets(ctx, grp); err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(topic, 0); ok && o.At >= 0 {
		t.Errorf("offset left after DeleteGroups: %+v", o)
	}
}

// TestGroup_CoordinatorAndInternalTopic checks FindCoordinator for groups
// (this broker, batched v4+ and single-key v3) and transactions (not
// available yet), and that __consumer_offsets is internal and refuses
// produce.
func TestGroup_CoordinatorAndInternalTopic(t *testing.T) {
	n := startNode(t, t.TempDir(), groupNodeConfig...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())

	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{"a", "b"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Coordinators {
		if c.ErrorCode != 0 || c.NodeID < 0 || fmt.Sprintf("%s:%d", c.Host, c.Port) != n.Addr() {
			t.Errorf("coordinator of %s: %+v", c.Key, c)
		}
	}
	v3 := kmsg.NewPtrFindCoordinatorRequest()
	v3.Version, v3.CoordinatorKey = 3, "a"
	r3, err := v3.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if r3.ErrorCode != 0 || fmt.Sprintf("%s:%d", r3.Host, r3.Port) != n.Addr() {
		t.Errorf("FindCoordinator v3: %+v", r3)
	}
	txn := kmsg.NewPtrFindCoordinatorRequest()
	txn.CoordinatorType, txn.CoordinatorKeys = 1, []string{"tx"}
	rt, err := txn.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Coordinators) != 1 || rt.Coordinators[0].ErrorCode != 0 || fmt.Sprintf("%s:%d", rt.Coordinators[0].Host, rt.Coordinators[0].Port) != n.Addr() {
		t.Errorf("FindCoordinator for a transaction: %+v", rt.Coordinators)
	}
	if md, err := adm.Metadata(ctx, "__transaction_state"); err != nil || md.Topics["__transaction_state"].Err != nil || !md.Topics["__transaction_state"].IsInternal {
		t.Errorf("__transaction_state after the first lookup: %v %+v", err, md.Topics["__transaction_state"])
	}

	md, err := adm.Metadata(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics["__consumer_offsets"]
	if td.Err != nil || !td.IsInternal || len(td.Partitions) != 5 {
		t.Fatalf("__consumer_offsets: err %v, internal %v, %d partitions", td.Err, td.IsInternal, len(td.Partitions))
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.MaybeValue() != "compact" || c.Key == "segment.bytes" && c.MaybeValue() != "104857600" {
				t.Errorf("%s = %s", c.Key, c.MaybeValue())
			}
		}
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Key: []byte("k"), Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
