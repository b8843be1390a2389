package group

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// partitionLog is a fake __consumer_offsets partition.
type partitionLog struct {
	mu       sync.Mutex
	records  []coordinator.Record
	fail     error
	loadGate chan struct{}
}

func (l *partitionLog) Append(_ context.Context, recs []coordinator.Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return 0, l.fail
	}
	l.records = append(l.records, recs...)
	return int64(len(l.records) - 1), nil
}

func (l *partitionLog) Load(ctx context.Context, replay coordinator.Replayer) error {
	if l.loadGate != nil {
		select {
		case <-l.loadGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	recs := slices.Clone(l.records)
	l.mu.Unlock()
	for _, r := range recs {
		_ = replay.Replay(r)
	}
	return nil
}

func (l *partitionLog) setFail(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

type testCluster struct {
	t    *testing.T
	svc  *Service
	logs []*partitionLog
}

func newTestCluster(t *testing.T, logs []*partitionLog, load ...int32) *testCluster {
	t.Helper()
	svc := NewService(ServiceConfig{Group: Config{NumPartitions: int32(len(logs)), NoInitialRebalanceDelay: true}}, nil)
	t.Cleanup(func() { _ = svc.Close() })
	for _, p := range load {
		if err := svc.Load(context.Background(), p, logs[p], logs[p]); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range load {
		for svc.Status(p) == coordinator.StatusLoading && logs[p].loadGate == nil {
			time.Sleep(time.Millisecond)
		}
	}
	return &testCluster{t: t, svc: svc, logs: logs}
}

func newLogs(n int) []*partitionLog {
	logs := make([]*partitionLog, n)
	for i := range logs {
		logs[i] = &partitionLog{}
	}
	return logs
}

func joinReq(group, member string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version, r.Group, r.MemberID = 9, group, member
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
	r.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", consumerSubscription([]string{"t"}, "")
	r.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	return r
}

// join runs the KIP-394 dance and returns the final JoinGroup response.
func (tc *testCluster) join(group, client string) *kmsg.JoinGroupResponse {
	ctx := context.Background()
	resp := tc.svc.JoinGroup(ctx, joinReq(group, ""), Client{ID: client, Host: "/127.0.0.1"})
	if resp.ErrorCode != errMemberIDRequired {
		tc.t.Errorf("first join: %s", codeName(resp.ErrorCode))
		return resp
	}
	return tc.svc.JoinGroup(ctx, joinReq(group, resp.MemberID), Client{ID: client, Host: "/127.0.0.1"})
}

func TestService_GroupLifecycleAndReload(t *testing.T) {
	logs := newLogs(3)
	tc := newTestCluster(t, logs, 0, 1, 2)
	ctx := context.Background()

	// c1 forms generation 1 alone.
	first := tc.join("g1", "c1")
	if first.ErrorCode != 0 || first.Generation != 1 || first.LeaderID != first.MemberID {
		t.Fatalf("first join: %s gen %d", codeName(first.ErrorCode), first.Generation)
	}
	s1 := kmsg.NewPtrSyncGroupRequest()
	s1.Group, s1.Generation, s1.MemberID = "g1", 1, first.MemberID
	if r := tc.svc.SyncGroup(ctx, s1); r.ErrorCode != 0 {
		t.Fatalf("first sync: %s", codeName(r.ErrorCode))
	}
	// c2 joins (its JoinGroup parks); c1 learns of the rebalance from its
	// heartbeat, as clients do, and rejoins: both get generation 2.
	var wg sync.WaitGroup
	var second *kmsg.JoinGroupResponse
	wg.Go(func() { second = tc.join("g1", "c2") })
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "g1", 1, first.MemberID
	for tc.svc.Heartbeat(ctx, hb).ErrorCode != errRebalanceInProgress {
		time.Sleep(time.Millisecond)
	}
	rejoin := tc.svc.JoinGroup(ctx, joinReq("g1", first.MemberID), Client{ID: "c1", Host: "/127.0.0.1"})
	wg.Wait()
	joins := []*kmsg.JoinGroupResponse{rejoin, second}
	for _, j := range joins {
		if j.ErrorCode != 0 || j.Generation != 2 || j.LeaderID != first.MemberID {
			t.Fatalf("join: %s gen %d leader %q", codeName(j.ErrorCode), j.Generation, j.LeaderID)
		}
	}
	leader, follower := rejoin, second
	// The follower's SyncGroup waits for the leader's.
	var followerSync *kmsg.SyncGroupResponse
	wg.Go(func() {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.Generation, r.MemberID = "g1", 2, follower.MemberID
		followerSync = tc.svc.SyncGroup(ctx, r)
	})
	r := kmsg.NewPtrSyncGroupRequest()
	r.Group, r.Generation, r.MemberID = "g1", 2, leader.MemberID
	for _, m := range []string{leader.MemberID, follower.MemberID} {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = m, []byte("for "+m)
		r.GroupAssignment = append(r.GroupAssignment, a)
	}
	if s := tc.svc.SyncGroup(ctx, r); s.ErrorCode != 0 || string(s.MemberAssignment) != "for "+leader.MemberID {
		t.Fatalf("leader sync: %s %q", codeName(s.ErrorCode), s.MemberAssignment)
	}
	wg.Wait()
	if followerSync.ErrorCode != 0 || string(followerSync.MemberAssignment) != "for "+follower.MemberID {
		t.Fatalf("follower sync: %s %q", codeName(followerSync.ErrorCode), followerSync.MemberAssignment)
	}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation, commit.MemberID = 8, "g1", 2, leader.MemberID
	commit.Topics = parseCommitOffsets("t/0@42,t/1@43", nil)
	if c := tc.svc.OffsetCommit(ctx, commit); c.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %s", codeName(c.Topics[0].Partitions[0].ErrorCode))
	}
	simple := kmsg.NewPtrOffsetCommitRequest()
	simple.Version, simple.Group = 2, "tool"
	simple.Topics = parseCommitOffsets("t/0@7", nil)
	tc.svc.OffsetCommit(ctx, simple)

	view := func(svc *Service) []string {
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Groups = []string{"g1", "tool", "missing"}
		f := kmsg.NewPtrOffsetFetchRequest()
		f.Version = 8
		for _, g := range []string{"g1", "tool"} {
			fg := kmsg.NewOffsetFetchRequestGroup()
			fg.Group = g
			f.Groups = append(f.Groups, fg)
		}
		h := &harness{t: t}
		out := h.fmtResponse(svc.DescribeGroups(ctx, d))
		out = append(out, h.fmtResponse(svc.OffsetFetch(ctx, f))...)
		return append(out, h.fmtResponse(svc.ListGroups(ctx, kmsg.NewPtrListGroupsRequest()))...)
	}
	before := view(tc.svc)
	if err := tc.svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Another node takes the partitions over: same answers from the log.
	tc2 := newTestCluster(t, logs, 0, 1, 2)
	if after := view(tc2.svc); !slices.Equal(before, after) {
		t.Fatalf("after reload:\n%v\nbefore:\n%v", after, before)
	}
	hb.Generation, hb.MemberID = 2, follower.MemberID
	if r := tc2.svc.Heartbeat(ctx, hb); r.ErrorCode != 0 {
		t.Fatalf("heartbeat after takeover: %s", codeName(r.ErrorCode))
	}
}

func TestService_RoutingAndLoading(t *testing.T) {
	logs := newLogs(3)
	logs[1].loadGate = make(chan struct{})
	// One group ID per partition of 3.
	byPartition := map[int32]string{}
	for _, g := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if _, ok := byPartition[PartitionFor(g, 3)]; !ok {
			byPartition[PartitionFor(g, 3)] = g
		}
	}
	if len(byPartition) != 3 {
		t.Fatalf("groups per partition: %v", byPartition)
	}
	tc := newTestCluster(t, logs, 0, 1) // partition 2 not served here
	for tc.svc.Status(0) != coordinator.StatusActive {
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	hb := kmsg.NewPtrHeartbeatRequest()
	for p, want := range map[int32]int16{0: errUnknownMemberID, 1: errCoordinatorLoadInProgress, 2: errNotCoordinator} {
		hb.Group = byPartition[p]
		if r := tc.svc.Heartbeat(ctx, hb); r.ErrorCode != want {
			t.Errorf("partition %d: %s, want %s", p, codeName(r.ErrorCode), codeName(want))
		}
	}
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{byPartition[2], byPartition[0], byPartition[1], byPartition[0]}
	resp := tc.svc.DescribeGroups(ctx, d)
	var got []string
	for _, g := range resp.Groups {
		got = append(got, g.Group+":"+codeName(g.ErrorCode)+":"+g.State)
	}
	want := []string{byPartition[2] + ":NOT_COORDINATOR:", byPartition[0] + ":NONE:Dead",
		byPartition[1] + ":COORDINATOR_LOAD_IN_PROGRESS:", byPartition[0] + ":NONE:Dead"}
	if !slices.Equal(got, want) {
		t.Errorf("describe: %v, want %v", got, want)
	}
	if l := tc.svc.ListGroups(ctx, kmsg.NewPtrListGroupsRequest()); l.ErrorCode != errCoordinatorLoadInProgress {
		t.Errorf("list while loading: %s", codeName(l.ErrorCode))
	}
	close(logs[1].loadGate)
	for tc.svc.Status(1) == coordinator.StatusLoading {
		time.Sleep(time.Millisecond)
	}
	if l := tc.svc.ListGroups(ctx, kmsg.NewPtrListGroupsRequest()); l.ErrorCode != 0 {
		t.Errorf("list: %s", codeName(l.ErrorCode))
	}
	if err := tc.svc.Load(ctx, 1, logs[1], logs[1]); !errors.Is(err, ErrAlreadyLoaded) {
		t.Errorf("second load: %v", err)
	}
	if err := tc.svc.Load(ctx, 3, logs[1], logs[1]); !errors.Is(err, ErrNoSuchPartition) {
		t.Errorf("load out of range: %v", err)
	}
	if err := tc.svc.Unload(1); err != nil {
		t.Fatal(err)
	}
	hb.Group = byPartition[1]
	if r := tc.svc.Heartbeat(ctx, hb); r.ErrorCode != errNotCoordinator {
		t.Errorf("after unload: %s", codeName(r.ErrorCode))
	}
	j := joinReq("", "")
	if r := tc.svc.JoinGroup(ctx, j, Client{}); r.ErrorCode != errInvalidGroupID {
		t.Errorf("empty group: %s", codeName(r.ErrorCode))
	}
}

func TestService_FailedWriteKeepsLoggedState(t *testing.T) {
	logs := newLogs(1)
	tc := newTestCluster(t, logs, 0)
	ctx := context.Background()
	commit := func(off string) int16 {
		c := kmsg.NewPtrOffsetCommitRequest()
		c.Version, c.Group = 8, "tool"
		c.Topics = parseCommitOffsets("t/0@"+off, nil)
		return tc.svc.OffsetCommit(ctx, c).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit("1"); code != 0 {
		t.Fatal(codeName(code))
	}
	logs[0].setFail(errors.New("no space left"))
	if code := commit("2"); code != errCoordinatorNotAvailable {
		t.Fatalf("failed write: %s", codeName(code))
	}
	logs[0].setFail(nil)
	for tc.svc.Status(0) != coordinator.StatusActive {
		time.Sleep(time.Millisecond)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version, f.Group = 7, "tool"
	if r := tc.svc.OffsetFetch(ctx, f); len(r.Topics) != 1 || r.Topics[0].Partitions[0].Offset != 1 {
		t.Fatalf("after failed write: %+v", r)
	}
}
