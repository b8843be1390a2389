package controller

// Changes of the metadata quorum's voters while it runs (KIP-853's
// AddRaftVoter and RemoveRaftVoter), on etcd-io/raft's configuration
// changes.
//
// Safety: every change adds or removes one member and raft allows one
// unapplied change at a time, so any majority of the old voter set and any
// majority of the new one share a voter: the two sets can never both elect
// a leader. A new voter first joins as a learner, which the leader brings
// up to date without counting it for commits or elections, and is
// promoted only once its log has caught up with the commit index, so
// adding it never leaves the quorum waiting on a voter with an empty log.
//
// Endpoints: a configuration change carries, in its context, the proposal
// ID and a VotersRecord (the members' endpoints after the change), applied
// to the metadata image at the entry's offset; every node, brokers
// included, learns from the image how to reach a voter that
// controller.quorum.voters does not name, and a snapshot keeps it.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
)

// Errors of voter changes, with their Kafka codes.
var (
	ErrDuplicateVoter = fmt.Errorf("%w", kerr.DuplicateVoter)
	ErrVoterNotFound  = fmt.Errorf("%w", kerr.VoterNotFound)
)

// confProposal is a configuration change for run to propose.
type confProposal struct {
	id   uint64
	term uint64
	cc   pb.ConfChange
}

// entryRecords returns what an entry carries for the metadata image: the
// proposal ID and records of a normal entry, or those in the context of a
// configuration change, which is returned too (nil for a normal entry).
func entryRecords(e pb.Entry) (id uint64, recs []metadata.Record, cc *pb.ConfChange, err error) {
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return 0, nil, nil, nil // a leader's empty entry of its term
		}
		id, recs, err = decodeEntry(e.Data)
		return id, recs, nil, err
	case pb.EntryConfChange:
		cc = &pb.ConfChange{}
		if err := cc.Unmarshal(e.Data); err != nil {
			return 0, nil, nil, fmt.Errorf("%w: configuration change: %w", metadata.ErrBadRecord, err)
		}
		if len(cc.Context) > 0 {
			id, recs, err = decodeEntry(cc.Context)
		}
		return id, recs, cc, err
	}
	return 0, nil, nil, fmt.Errorf("%w: entry type %v", metadata.ErrBadRecord, e.Type)
}

// applyConf applies a committed configuration change to raft's view of the
// members (run's goroutine). Called for every such entry past the last
// snapshot, including the ones a restart replays, since raft's restored
// configuration is the snapshot's.
func (q *RaftQuorum) applyConf(index uint64, cc pb.ConfChange) {
	if index <= q.confApplied {
		return
	}
	q.confState, q.confApplied = *q.rn.ApplyConfChange(cc), index
	if index > q.applied {
		q.snapNow = true // a change new to this node, not one a restart delivers again
	}
	voters, learners := idsOf(q.confState.Voters), idsOf(q.confState.Learners)
	q.setStatusLocked(func(s *QuorumStatus) { s.Voters, s.Learners = voters, learners })
	q.logger.Info("metadata quorum membership changed", "change", cc.Type.String(), "node", cc.NodeID,
		"voters", voters, "learners", idsOf(q.confState.Learners), "index", index)
}

func idsOf(ids []uint64) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		out = append(out, int32(id))
	}
	slices.Sort(out)
	return out
}

// members returns the quorum's members with their endpoints: the image's
// voter set once it was changed, else the configured voters.
func (q *RaftQuorum) members() []metadata.Voter {
	if v := q.loader.Image().Voters(); v != nil {
		return v
	}
	return slices.Clone(q.cfg.Endpoints)
}

// AddVoter makes node v.ID a voter of the quorum (AddRaftVoter): a learner
// first, then, once its log has caught up with the commit index, a voter.
// Only the active controller adds; a node that does not catch up before
// ctx ends is taken out again and the call fails.
func (q *RaftQuorum) AddVoter(ctx context.Context, v metadata.Voter) error {
	q.confMu.Lock()
	defer q.confMu.Unlock()
	st := q.Status()
	if !st.Active {
		return fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
	}
	if slices.Contains(st.Voters, v.ID) {
		return fmt.Errorf("%w: node %d is a voter already (voters %v)", ErrDuplicateVoter, v.ID, st.Voters)
	}
	if v.ID <= 0 || v.Host == "" || v.Port == 0 {
		return fmt.Errorf("%w: voter %d needs a node ID and a controller endpoint host:port", kerr.InvalidRequest, v.ID)
	}
	members := slices.DeleteFunc(q.members(), func(m metadata.Voter) bool { return m.ID == v.ID })
	withNew := append(slices.Clone(members), v)
	// The catch-up wait ends early enough for taking the learner out
	// again to be answered within the caller's deadline too.
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-time.Until(dl)/5))
	}
	defer cancel()
	if !slices.Contains(st.Learners, v.ID) {
		if err := q.changeConf(wctx, pb.ConfChangeAddLearnerNode, v.ID, withNew); err != nil {
			return fmt.Errorf("adding node %d as a learner: %w", v.ID, err)
		}
	}
	if err := q.waitCaughtUp(wctx, v.ID); err != nil {
		// Not a voter after all: take the learner out, so the quorum's
		// members are what the caller was told. If that fails too (the
		// leadership moved), the learner stays, listed by DescribeQuorum
		// as an observer; RemoveRaftVoter takes it out.
		if rerr := q.changeConf(ctx, pb.ConfChangeRemoveNode, v.ID, members); rerr != nil {
			q.logger.Warn("removing a learner that did not catch up failed; remove it with fjord cluster quorum remove", "node", v.ID, "err", rerr)
		}
		return fmt.Errorf("node %d did not catch up with the metadata log: %w", v.ID, err)
	}
	if err := q.changeConf(ctx, pb.ConfChangeAddNode, v.ID, withNew); err != nil {
		return fmt.Errorf("promoting node %d to voter: %w", v.ID, err)
	}
	return nil
}

// RemoveVoter takes node id out of the voters (RemoveRaftVoter). dir, when
// not zero, must be the directory ID the voter was added with, as Kafka
// checks it, so a command meant for an old incarnation of a node does not
// remove its replacement. The last voter cannot be removed. The leader may
// remove itself: it steps down once the change is applied.
func (q *RaftQuorum) RemoveVoter(ctx context.Context, id int32, dir [16]byte) error {
	q.confMu.Lock()
	defer q.confMu.Unlock()
	st := q.Status()
	if !st.Active {
		return fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
	}
	if !slices.Contains(st.Voters, id) && !slices.Contains(st.Learners, id) {
		return fmt.Errorf("%w: node %d is not a voter (voters %v)", ErrVoterNotFound, id, st.Voters)
	}
	if len(st.Voters) == 1 && st.Voters[0] == id {
		return fmt.Errorf("%w: node %d is the only voter", kerr.InvalidRequest, id)
	}
	if id == q.cfg.NodeID && slices.Contains(st.Voters, id) {
		// The leader removing itself hands its leadership over first and
		// has the new leader remove it: a leader that applied its own
		// removal steps down at once, and a voter that missed the commit
		// (a two-voter quorum) would wait for the removed node's vote.
		return q.handOver(ctx, st)
	}
	members := q.members()
	if i := slices.IndexFunc(members, func(m metadata.Voter) bool { return m.ID == id }); i >= 0 &&
		dir != ([16]byte{}) && members[i].DirectoryID != ([16]byte{}) && members[i].DirectoryID != dir {
		return fmt.Errorf("%w: voter %d has another directory ID than the one given", ErrVoterNotFound, id)
	}
	rest := slices.DeleteFunc(members, func(m metadata.Voter) bool { return m.ID == id })
	if err := q.changeConf(ctx, pb.ConfChangeRemoveNode, id, rest); err != nil {
		return fmt.Errorf("removing voter %d: %w", id, err)
	}
	return nil
}

// ErrHandedOver: the active controller was asked to remove itself and
// handed its leadership to another voter; the request is to be sent again
// to the new active controller (NOT_CONTROLLER, which forwarding retries).
var ErrHandedOver = fmt.Errorf("%w: this controller handed its leadership over to be removed by the next one", ErrNotController)

// handOver transfers the leadership to the most caught-up other voter and
// waits (a few election timeouts at most) until this node no longer leads.
func (q *RaftQuorum) handOver(ctx context.Context, st QuorumStatus) error {
	to, best := int32(-1), uint64(0)
	for _, id := range st.Voters {
		if m := st.Progress[id]; id != q.cfg.NodeID && (to < 0 || m > best) {
			to, best = id, m
		}
	}
	q.TransferLeadership(to)
	deadline := time.Now().Add(time.Duration(q.cfg.ElectionTicks*3) * q.cfg.Tick)
	for q.Status().Leader == q.cfg.NodeID {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: handing the leadership to voter %d before removing this one did not complete", kerr.RequestTimedOut, to)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", kerr.RequestTimedOut, ctx.Err())
		case <-q.done:
			return ErrQuorumStopped
		case <-time.After(q.cfg.Tick):
		}
	}
	return ErrHandedOver
}

// changeConf proposes one configuration change carrying the members'
// endpoints after it, and returns once it is applied here.
func (q *RaftQuorum) changeConf(ctx context.Context, typ pb.ConfChangeType, node int32, members []metadata.Voter) error {
	st := q.Status()
	if !st.Active {
		return fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
	}
	slices.SortFunc(members, func(a, b metadata.Voter) int { return int(a.ID) - int(b.ID) })
	id := rand.Uint64() | 1
	ch := make(chan applied, 1)
	q.mu.Lock()
	if q.failed != nil {
		q.mu.Unlock()
		return q.failed
	}
	q.waiters[id] = ch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.waiters, id)
		q.mu.Unlock()
	}()
	ctxData := binaryID(id)
	ctxData = append(ctxData, encodeRecords([]metadata.Record{&metadata.VotersRecord{Voters: members}})...)
	p := confProposal{id: id, term: st.Term, cc: pb.ConfChange{Type: typ, NodeID: uint64(node), Context: ctxData}}
	select {
	case q.confc <- p:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, ctx.Err())
	case <-q.done:
		return ErrQuorumStopped
	}
	select {
	case a := <-ch:
		return a.err
	case <-ctx.Done():
		// The change may still be applied; the caller reads the outcome
		// from DescribeQuorum. No other change starts before it is
		// (raft refuses a second pending one).
		return fmt.Errorf("%w: the voter change was proposed but not applied in time; its outcome is not known yet (%w)", kerr.RequestTimedOut, ctx.Err())
	case <-q.done:
		return ErrQuorumStopped
	}
}

// proposeConf hands a configuration change to raft (run's goroutine).
func (q *RaftQuorum) proposeConf(p confProposal) {
	if bs := q.rn.BasicStatus(); bs.RaftState != raft.StateLeader || bs.Term != p.term {
		q.finish(p.id, 0, fmt.Errorf("%w: leadership moved before the proposal", ErrNotController))
		return
	}
	// Raft turns a change proposed while another is unapplied into an
	// empty entry, silently: refuse it here instead, as Kafka refuses a
	// voter change while one is pending.
	if pending, err := q.confPending(); err != nil || pending {
		q.finish(p.id, 0, fmt.Errorf("%w: a previous change of voters is not applied yet; try again", kerr.RequestTimedOut))
		return
	}
	if err := q.rn.ProposeConfChange(p.cc); err != nil {
		q.finish(p.id, 0, fmt.Errorf("%w: %w", ErrNotController, err))
	}
}

// confPending reports whether the log holds a configuration change raft
// has not yet handed to apply (run's goroutine).
func (q *RaftQuorum) confPending() (bool, error) {
	last, err := q.rl.mem.LastIndex()
	if err != nil || last <= q.delivered {
		return false, err
	}
	ents, err := q.rl.mem.Entries(q.delivered+1, last+1, 1<<62)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ents, func(e pb.Entry) bool { return e.Type != pb.EntryNormal }), nil
}

// waitCaughtUp returns once learner id's log, as the leader tracks it,
// reaches the commit index the leader had when the wait began.
func (q *RaftQuorum) waitCaughtUp(ctx context.Context, id int32) error {
	target := q.Status().Commit
	for {
		st := q.Status()
		if !st.Active {
			return fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
		}
		if m, ok := st.Progress[id]; ok && m >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: its log ends at %d, the commit index is %d (is the node running, with this controller endpoint?)",
				kerr.RequestTimedOut, st.Progress[id], target)
		case <-q.done:
			return ErrQuorumStopped
		case <-time.After(q.cfg.Tick):
		}
	}
}

// binaryID starts an entry's data (or a change's context) with its
// proposal ID.
func binaryID(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// errOf maps a voter-change error to its Kafka error code.
func errOf(err error) *kerr.Error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, ErrQuorumStopped):
		return kerr.NotController
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}
