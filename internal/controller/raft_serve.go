package controller

// The quorum's services beyond raft's own loop: metadata fetches from
// brokers, DescribeQuorum, the transport's reports, the wiped-voter
// guards, and raft's logger.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// raftLogger sends etcd-io/raft's logs to slog (raft's own default logger
// is a global).
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}
func (r raftLogger) Panic(v ...any) { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}

// Metadata fetch reply kinds.
const (
	fetchEntries  byte = 0
	fetchSnapshot byte = 1
)

// FetchMetadata answers a broker's fetch of the committed metadata log
// from offset from: the batches from there (at most maxBytes, whole
// batches), or the snapshot when from is below it, waiting up to wait for
// something new. The reply is: i64 committed end offset, i32 leader, u8
// kind, then batches or the marshaled snapshot.
func (q *RaftQuorum) FetchMetadata(ctx context.Context, node int32, from int64, maxBytes int32, wait time.Duration) ([]byte, error) {
	if node >= 0 {
		q.mu.Lock()
		if len(q.observers) < 10_000 || q.observers[node] != (observerState{}) {
			q.observers[node] = observerState{offset: from, at: time.Now()}
		}
		q.mu.Unlock()
	}
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		changed := q.commitChanged
		st := q.status
		q.mu.Unlock()
		committedEnd := int64(st.Commit) // entry i is at offset i-1
		hdr := binary.BigEndian.AppendUint64(nil, uint64(committedEnd))
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(st.Leader))
		snap, err := q.rl.mem.Snapshot()
		if err != nil {
			return nil, err
		}
		if from < int64(snap.Metadata.Index) {
			b, err := snap.Marshal()
			if err != nil {
				return nil, err
			}
			return append(append(hdr, fetchSnapshot), b...), nil
		}
		if from < committedEnd {
			batches, err := q.rl.log.Read(from, maxBytes, committedEnd, true, nil)
			if err == nil {
				return append(append(hdr, fetchEntries), batches...), nil
			}
			// Compacted meanwhile: the next round sends the snapshot.
		}
		if !time.Now().Before(deadline) {
			return append(hdr, fetchEntries), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.done:
			return nil, ErrQuorumStopped
		case <-time.After(time.Until(deadline)):
		}
	}
}

// Report tells raft what the transport learned: a peer unreachable, or
// the outcome of sending it a snapshot.
func (q *RaftQuorum) Report(id int32, unreachable, snapshot, ok bool) {
	f := func() {
		if unreachable {
			q.rn.ReportUnreachable(uint64(id))
		}
		if snapshot {
			st := raft.SnapshotFinish
			if !ok {
				st = raft.SnapshotFailure
			}
			q.rn.ReportSnapshot(uint64(id), st)
		}
	}
	select {
	case q.funcc <- f:
	default: // raft learns it again from the next failure
	}
}

// observerState is a broker's last metadata fetch.
type observerState struct {
	offset int64
	at     time.Time
}

// Describe answers DescribeQuorum for __cluster_metadata-0 from this
// voter's view (meaningful on the leader, where brokers send it).
func (q *RaftQuorum) Describe(version int16) kmsg.DescribeQuorumResponseTopicPartition {
	st := q.Status()
	q.mu.Lock()
	defer q.mu.Unlock()
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.Leader, int32(st.Term), int64(st.Commit)
	now := time.Now()
	dirs := map[int32][16]byte{}
	for _, m := range q.members() {
		dirs[m.ID] = m.DirectoryID
	}
	for _, id := range st.Voters {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, -1, -1, -1
		r.ReplicaDirectoryID = dirs[id]
		if m, ok := st.Progress[id]; ok {
			r.LogEndOffset = int64(m)
		}
		switch {
		case id == q.cfg.NodeID:
			r.LogEndOffset = int64(st.Applied)
			if m, ok := st.Progress[id]; ok {
				r.LogEndOffset = int64(m)
			}
			r.LastFetchTimestamp, r.LastCaughtUpTimestamp = now.UnixMilli(), now.UnixMilli()
		case !q.lastHeard[id].IsZero():
			r.LastFetchTimestamp = q.lastHeard[id].UnixMilli()
			if r.LogEndOffset >= int64(st.Commit) {
				r.LastCaughtUpTimestamp = r.LastFetchTimestamp
			}
		}
		p.CurrentVoters = append(p.CurrentVoters, r)
	}
	for id, m := range st.Progress {
		if slices.Contains(st.Voters, id) {
			continue
		}
		// A learner (a controller being added) is an observer in
		// Kafka's words.
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.ReplicaDirectoryID, r.LogEndOffset, r.LastCaughtUpTimestamp = id, dirs[id], int64(m), -1
		r.LastFetchTimestamp = -1
		if t := q.lastHeard[id]; !t.IsZero() {
			r.LastFetchTimestamp = t.UnixMilli()
			if m >= st.Commit {
				r.LastCaughtUpTimestamp = r.LastFetchTimestamp
			}
		}
		p.Observers = append(p.Observers, r)
	}
	for id, o := range q.observers {
		if _, learner := st.Progress[id]; learner || slices.Contains(st.Voters, id) {
			continue
		}
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp = id, o.offset, o.at.UnixMilli()
		r.LastCaughtUpTimestamp = -1
		if o.offset >= int64(st.Commit) {
			r.LastCaughtUpTimestamp = r.LastFetchTimestamp
		}
		p.Observers = append(p.Observers, r)
	}
	slices.SortFunc(p.Observers, func(a, b kmsg.DescribeQuorumResponseTopicPartitionReplicaState) int {
		return int(a.ReplicaID - b.ReplicaID)
	})
	return p
}

// ErrLogLost: the quorum's leader counts entries this voter does not
// have: its metadata log was lost (a wiped or replaced disk).
var ErrLogLost = errors.New("this voter's metadata log is missing entries the quorum's leader knows it wrote")

// checkLost refuses to go on when a leader tells this voter of entries it
// should hold but does not (raft would panic: it assumes logs are never
// lost). A voter in that state must not take part in the quorum until an
// operator restores its metadata log (docs/cluster.md).
func (q *RaftQuorum) checkLost(m pb.Message) error {
	if m.Type != pb.MsgHeartbeat && m.Type != pb.MsgApp {
		return nil
	}
	last, _ := q.rl.mem.LastIndex()
	if m.Type == pb.MsgHeartbeat && m.Commit > last {
		return fmt.Errorf("%w: leader %d at term %d says entries up to %d are committed and held here, this log ends at %d; restore __cluster_metadata-0 from the active controller (see docs/cluster.md)",
			ErrLogLost, m.From, m.Term, m.Commit, last)
	}
	return nil
}

// isVote reports an election message, which a holding voter does not send.
func isVote(m pb.Message) bool {
	switch m.Type {
	case pb.MsgVote, pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp:
		return true
	}
	return false
}

// Fresh reports whether the voter holds its votes (see holdVotes).
func (q *RaftQuorum) Fresh() bool { return q.holdVotes.Load() }

// ReleaseVotes lets a holding voter vote: a majority of the voters were
// found brand new, so this is a cluster forming, not a wiped voter
// rejoining an established one.
func (q *RaftQuorum) ReleaseVotes() {
	if q.holdVotes.CompareAndSwap(true, false) {
		q.logger.Info("a majority of voters are new: forming a new quorum")
	}
}

// State is a voter's log position for a peer's fresh-quorum check: its
// last index and term (1 and 1, or less, on a brand-new log).
func (q *RaftQuorum) State() (lastIndex, term uint64) {
	li, _ := q.rl.mem.LastIndex()
	st := q.Status()
	return li, st.Term
}

// LastHeard returns when a message from voter id last arrived here (false:
// never since this voter started).
func (q *RaftQuorum) LastHeard(id int32) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok := q.lastHeard[id]
	return t, ok
}
