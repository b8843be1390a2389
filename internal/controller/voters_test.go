package controller

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
)

// waitVoters waits until node id reports voters want.
func (rc *raftCluster) waitVoters(id int32, want ...int32) {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.net.mu.Lock()
		q := rc.net.nodes[id]
		rc.net.mu.Unlock()
		var got []int32
		if q != nil {
			got = q.Status().Voters
			if slices.Equal(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("node %d has voters %v, want %v", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeVoter removes a voter through the active controller, sending the
// request again to the next one when the active one hands over to be
// removed itself (as forwarding does).
func (rc *raftCluster) removeVoter(ctx context.Context, id int32) {
	rc.t.Helper()
	for {
		err := rc.leader().RemoveVoter(ctx, id, [16]byte{})
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotController) || ctx.Err() != nil {
			rc.t.Fatalf("removing voter %d: %v", id, err)
		}
	}
}

// A controller not among the initial voters joins the running quorum as a
// learner, is promoted once caught up, and counts: with a voter removed and
// the leader stopped, the new voter makes the majority that elects the
// next leader and commits. The change survives snapshots and restarts,
// and the removed voter's disk, wiped, serves a fresh node added back.
func TestRaft_VotersAddedAndRemoved(t *testing.T) {
	rc := newRaftCluster(t, 5, 1, 2, 3) // a snapshot every 5 entries: the learner gets one
	for _, id := range []int32{1, 2, 3} {
		rc.start(id).ReleaseVotes() // a cluster forming
	}
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		rc.createTopic(name)
	}
	rc.dirs[4] = t.TempDir()
	t.Cleanup(func() { rc.stop(4) })
	joiner := rc.start(4)
	if st := joiner.Status(); slices.Contains(st.Voters, 4) {
		t.Fatalf("a node not among the initial voters starts as a voter: %v", st.Voters)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader := rc.leader()
	if err := leader.AddVoter(ctx, metadata.Voter{ID: 2, Host: "h2", Port: 2}); !errors.Is(err, ErrDuplicateVoter) {
		t.Fatalf("adding a voter twice: %v, want DUPLICATE_VOTER", err)
	}
	if err := leader.RemoveVoter(ctx, 9, [16]byte{}); !errors.Is(err, ErrVoterNotFound) {
		t.Fatalf("removing a node that is not a voter: %v, want VOTER_NOT_FOUND", err)
	}
	if err := leader.AddVoter(ctx, metadata.Voter{ID: 4, DirectoryID: [16]byte{4}, Host: "h4", Port: 4}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{1, 2, 3, 4} {
		rc.waitVoters(id, 1, 2, 3, 4)
	}
	rc.waitSame(6)
	if got := rc.loaders[4].Image().Voters(); len(got) != 4 || got[3] != (metadata.Voter{ID: 4, DirectoryID: [16]byte{4}, Host: "h4", Port: 4}) {
		t.Fatalf("the new voter's image holds members %v", got)
	}

	rc.removeVoter(ctx, 3)
	for _, id := range []int32{1, 2, 4} {
		rc.waitVoters(id, 1, 2, 4)
	}
	rc.stop(3)
	// Two of the three voters left, one of them the new one, elect a
	// leader and commit without the old leader.
	old := rc.leader()
	rc.stop(old.cfg.NodeID)
	rc.createTopic("g")
	rc.start(old.cfg.NodeID)
	rc.waitSame(7)

	// The new voter restarts with its membership from its own log.
	rc.stop(4)
	rc.start(4)
	rc.waitVoters(4, 1, 2, 4)

	// Node 3's disk is wiped and reused for a fresh node 3: not a voter
	// until added back, then one with the whole log.
	if err := os.RemoveAll(rc.dirs[3]); err != nil {
		t.Fatal(err)
	}
	rc.start(3)
	if err := rc.leader().AddVoter(ctx, metadata.Voter{ID: 3, DirectoryID: [16]byte{3}, Host: "h3", Port: 3}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{1, 2, 3, 4} {
		rc.waitVoters(id, 1, 2, 3, 4)
	}
	rc.createTopic("h")
	rc.waitSame(8)
}

// A node that never catches up (it is not running) is not made a voter:
// AddVoter fails at its deadline and takes the learner out again, so the
// quorum's majority never waits on it.
func TestRaft_AddVoterThatNeverCatchesUpIsRolledBack(t *testing.T) {
	rc := newRaftCluster(t, 0, 1, 2, 3)
	for _, id := range []int32{1, 2, 3} {
		rc.start(id).ReleaseVotes() // a cluster forming
	}
	rc.createTopic("a")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := rc.leader().AddVoter(ctx, metadata.Voter{ID: 5, Host: "h5", Port: 5})
	if err == nil {
		t.Fatal("a node that is not running was made a voter")
	}
	for _, id := range []int32{1, 2, 3} {
		rc.waitVoters(id, 1, 2, 3)
	}
	rc.createTopic("b")
	rc.waitSame(2)
}

// A change of voters proposed while an earlier one is unapplied is refused
// at once (raft would drop it silently, leaving its caller waiting out its
// deadline); a learner left behind by a failed add is removed by
// RemoveVoter; and the leader asked to remove itself hands over and is
// removed by the next leader.
func TestRaft_VoterChangeEdgeCases(t *testing.T) {
	rc := newRaftCluster(t, 0, 1, 2, 3)
	for _, id := range []int32{1, 2, 3} {
		rc.start(id).ReleaseVotes()
	}
	rc.createTopic("a")
	leader := rc.leader()
	members := leader.members()

	for i := range 20 {
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		// Proposed or not, this call gives up at once; the next change
		// must not wait out its own deadline behind it.
		_ = leader.changeConf(expired, pb.ConfChangeAddLearnerNode, 7, append(slices.Clone(members), metadata.Voter{ID: 7, Host: "h7", Port: 7}))
		ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := leader.changeConf(ctx, pb.ConfChangeRemoveNode, 7, slices.Clone(members))
		cancel2()
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("attempt %d: the second change took %v (%v): dropped behind the first", i, took, err)
		}
	}
	// Learner 7 may be left over from the last attempts: RemoveVoter
	// takes a learner out too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := leader.changeConf(ctx, pb.ConfChangeAddLearnerNode, 8, append(slices.Clone(members), metadata.Voter{ID: 8, Host: "h8", Port: 8}))
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.RequestTimedOut) || ctx.Err() != nil {
			t.Fatal(err) // only "the previous change is not applied yet" is retried
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := leader.Status(); !slices.Contains(st.Learners, 8) {
		t.Fatalf("learners %v, want 8 among them", st.Learners)
	}
	if err := leader.RemoveVoter(ctx, 8, [16]byte{}); err != nil {
		t.Fatalf("removing learner 8: %v", err)
	}
	if st := leader.Status(); slices.Contains(st.Learners, 8) {
		t.Fatalf("learner 8 still there: %v", st.Learners)
	}

	// The leader removes itself: it hands over, and the next leader
	// removes it.
	self := leader.cfg.NodeID
	err := leader.RemoveVoter(ctx, self, [16]byte{})
	if !errors.Is(err, ErrHandedOver) {
		t.Fatalf("the leader removing itself: %v, want ErrHandedOver", err)
	}
	next := rc.leader()
	if next.cfg.NodeID == self {
		t.Fatal("the leader did not hand over")
	}
	if err := next.RemoveVoter(ctx, self, [16]byte{}); err != nil {
		t.Fatal(err)
	}
	var rest []int32
	for _, id := range []int32{1, 2, 3} {
		if id != self {
			rest = append(rest, id)
		}
	}
	for _, id := range rest {
		rc.waitVoters(id, rest...)
	}
	rc.stop(self)
	rc.createTopic("b")
}
