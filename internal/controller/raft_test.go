package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/vfs"
)

// memNet connects in-process voters: Send hands each message to its
// target's Step, or drops it when the target is down.
type memNet struct {
	mu    sync.Mutex
	nodes map[int32]*RaftQuorum
}

type memTransport struct {
	net  *memNet
	self int32
}

func (t memTransport) Send(msgs []pb.Message) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	for _, m := range msgs {
		if q := t.net.nodes[int32(m.To)]; q != nil {
			q.Step(m)
			if m.Type == pb.MsgSnap {
				go t.net.nodes[t.self].Report(int32(m.To), false, true, true)
			}
		}
	}
}

type raftCluster struct {
	t       *testing.T
	net     *memNet
	dirs    map[int32]string
	fss     map[int32]vfs.FS // nil entries: the OS
	loaders map[int32]*metadata.Loader
	voters  []int32
	snapN   uint64
}

func newRaftCluster(t *testing.T, snapshotEntries uint64, ids ...int32) *raftCluster {
	rc := &raftCluster{t: t, net: &memNet{nodes: map[int32]*RaftQuorum{}}, dirs: map[int32]string{}, fss: map[int32]vfs.FS{}, loaders: map[int32]*metadata.Loader{},
		voters: ids, snapN: snapshotEntries}
	for _, id := range ids {
		rc.dirs[id] = t.TempDir()
	}
	t.Cleanup(func() {
		for _, id := range ids {
			rc.stop(id)
		}
	})
	return rc
}

func (rc *raftCluster) start(id int32) *RaftQuorum {
	rc.t.Helper()
	rc.loaders[id] = metadata.NewLoader(metadata.NewImage("c"))
	var endpoints []metadata.Voter
	for _, v := range rc.voters {
		endpoints = append(endpoints, metadata.Voter{ID: v, Host: fmt.Sprintf("h%d", v), Port: uint16(v)})
	}
	q, err := OpenRaft(RaftConfig{NodeID: id, Voters: rc.voters, Endpoints: endpoints, Dir: rc.dirs[id], FS: rc.fss[id], Tick: 10 * time.Millisecond,
		SnapshotEntries: rc.snapN, Transport: memTransport{net: rc.net, self: id}}, rc.loaders[id])
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.net.mu.Lock()
	rc.net.nodes[id] = q
	rc.net.mu.Unlock()
	return q
}

func (rc *raftCluster) stop(id int32) {
	rc.net.mu.Lock()
	q := rc.net.nodes[id]
	delete(rc.net.nodes, id)
	rc.net.mu.Unlock()
	if q != nil {
		_ = q.Close()
	}
}

func (rc *raftCluster) leader() *RaftQuorum {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rc.net.mu.Lock()
		for _, q := range rc.net.nodes {
			if q.Status().Active {
				rc.net.mu.Unlock()
				return q
			}
		}
		rc.net.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	rc.t.Fatal("no active controller within 10 s")
	return nil
}

func (rc *raftCluster) createTopic(name string) {
	rc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := rc.leader().Commit(ctx, []metadata.Record{&metadata.TopicRecord{Name: name, TopicID: metadata.NewTopicID()}})
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			rc.t.Fatalf("commit %s: %v", name, err)
		}
	}
}

// waitSame waits until every running voter's image holds the same topics.
func (rc *raftCluster) waitSame(want int) {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var names [][]string
		rc.net.mu.Lock()
		for id := range rc.net.nodes {
			names = append(names, rc.loaders[id].Image().TopicNames())
		}
		rc.net.mu.Unlock()
		same := len(names) > 0
		for _, n := range names {
			same = same && len(n) == want && reflect.DeepEqual(n, names[0])
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("images differ or lack topics (want %d): %v", want, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three voters form a quorum, commit, lose their leader and elect another,
// and take the old leader back. A voter whose disk was wiped holds its
// votes, and stops with ErrLogLost as soon as the leader shows it entries
// it should have had: it never votes or counts with a log it lost.
func TestRaft_QuorumFailoverAndWipedVoter(t *testing.T) {
	rc := newRaftCluster(t, 5, 1, 2, 3)
	for _, id := range rc.voters {
		q := rc.start(id)
		if !q.Fresh() {
			t.Fatalf("voter %d of a new cluster is not fresh", id)
		}
		q.ReleaseVotes() // a majority is new: what ReleaseWhenForming finds
	}
	for i := range 8 {
		rc.createTopic(fmt.Sprintf("a%d", i))
	}
	rc.waitSame(8)

	old := rc.leader().cfg.NodeID
	rc.stop(old)
	for i := range 8 {
		rc.createTopic(fmt.Sprintf("b%d", i))
	}
	if rc.leader().cfg.NodeID == old {
		t.Fatal("a stopped voter leads")
	}
	if q := rc.start(old); q.Fresh() {
		t.Fatal("a restarted voter with its log is fresh")
	}
	rc.waitSame(16)

	// Wipe a follower's disk.
	var wiped int32
	for _, id := range rc.voters {
		if id != rc.leader().cfg.NodeID {
			wiped = id
			break
		}
	}
	rc.stop(wiped)
	if err := os.RemoveAll(rc.dirs[wiped]); err != nil {
		t.Fatal(err)
	}
	q := rc.start(wiped)
	if !q.Fresh() {
		t.Fatal("a wiped voter does not hold its votes")
	}
	rc.createTopic("c0") // the two others are still a quorum
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		failed := q.failed
		q.mu.Unlock()
		if errors.Is(failed, ErrLogLost) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wiped voter did not stop (failed: %v)", failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.stop(wiped)
	rc.createTopic("c1")
}

// A leader cut off from the other voters gives up on a proposal at the
// caller's deadline, but the proposal may still commit: until it is known
// the node is not the active controller, so nothing is decided from an
// image that may lack it. Deciding on (the old behaviour) let the
// controller compute its next records without that batch, and a late
// commit of it then had its changes overwritten (a leader left out of its
// own ISR).
func TestRaft_UnresolvedCommitDeactivates(t *testing.T) {
	rc := newRaftCluster(t, 0, 1, 2, 3)
	for _, id := range rc.voters {
		rc.start(id).ReleaseVotes() // a new cluster
	}
	rc.createTopic("before")
	l := rc.leader()
	for _, id := range rc.voters {
		if id != l.cfg.NodeID {
			rc.stop(id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Commit(ctx, []metadata.Record{&metadata.TopicRecord{Name: "cut-off", TopicID: metadata.NewTopicID()}})
	if !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("commit on a leader cut off from the quorum: %v, want REQUEST_TIMED_OUT", err)
	}
	if l.Status().Active {
		t.Fatal("the node is still the active controller with a proposal of unknown outcome")
	}
	if _, err := l.Commit(context.Background(), []metadata.Record{&metadata.TopicRecord{Name: "next", TopicID: metadata.NewTopicID()}}); !errors.Is(err, ErrNotController) {
		t.Fatalf("a second commit while the first is unresolved: %v, want ErrNotController", err)
	}
	for _, id := range rc.voters {
		if id != l.cfg.NodeID {
			rc.start(id)
		}
	}
	rc.createTopic("after") // a quorum decides again
}

// Commits that give up at every possible moment (deadlines of a few
// microseconds, racing the entry's application) never leave the node
// inactive for good: an answer that arrives while Commit gives up is
// either taken or resolves the proposal.
func TestRaft_AbandonedCommitsResolve(t *testing.T) {
	rc := newRaftCluster(t, 0, 1)
	rc.start(1).ReleaseVotes()
	q := rc.leader()
	for i := range 3000 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%50)*time.Microsecond)
		_, _ = q.Commit(ctx, []metadata.Record{&metadata.TopicRecord{Name: fmt.Sprintf("t%d", i), TopicID: metadata.NewTopicID()}})
		cancel()
		for deadline := time.Now().Add(5 * time.Second); !q.Status().Active; {
			if time.Now().After(deadline) {
				t.Fatalf("after commit %d the leader stayed inactive (an abandoned proposal never resolved)", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}
