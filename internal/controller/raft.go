package controller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/vfs"
)

// ErrNotController: this node is not the active controller; it is Kafka's
// NOT_CONTROLLER, on which a client retries on the active one.
var ErrNotController = fmt.Errorf("not the active controller: %w", kerr.NotController)

// ErrQuorumStopped: the quorum was closed or failed.
var ErrQuorumStopped = errors.New("metadata quorum stopped")

// Transport carries raft messages between the voters. Send must not
// block for long: raft tolerates lost messages, not a stuck sender.
type Transport interface {
	Send(msgs []pb.Message)
}

// RaftConfig configures a voter of the metadata quorum.
type RaftConfig struct {
	// NodeID is this voter's node.id.
	NodeID int32
	// Voters are the node IDs of controller.quorum.voters: the voters a
	// new metadata log starts with. A node not among them joins an
	// existing quorum: it waits, as a non-member, until the active
	// controller adds it (AddVoter). Once the voters have changed, the
	// metadata log's own configuration rules.
	Voters []int32
	// Endpoints are controller.quorum.voters with their addresses: the
	// members' endpoints until a change of voters records new ones.
	Endpoints []metadata.Voter
	// Dir is the metadata log folder (__cluster_metadata-0).
	Dir string
	// FS holds Dir: the metadata log, quorum-state and the snapshot are
	// reached only through it. Nil is the operating system's.
	FS vfs.FS
	// Tick is the raft tick (default 50ms); an election starts after
	// ElectionTicks (default 20: 1 s) without a leader, heartbeats every
	// HeartbeatTicks (default 2).
	Tick           time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries is how many entries may follow the last snapshot
	// before a new one is taken (default 10,000), bounding the log and
	// the replay at start-up.
	SnapshotEntries uint64
	// Bootstrap holds records for a brand-new metadata log (the image of
	// a legacy standalone folder); only a lone voter may have any.
	Bootstrap []metadata.Record
	Transport Transport
	Logger    *slog.Logger
}

// RaftQuorum is a voter of the metadata quorum on etcd-io/raft. One
// goroutine (run) owns the raft state machine: it ticks, steps messages,
// proposes, persists each Ready to the metadata log before sending its
// messages, and applies committed entries to the loader in order.
//
// Every node starts its log from the same bootstrap snapshot at index 1
// holding the initial voters (controller.quorum.voters), so a node added
// later shares the leader's log from its first entry; voters change
// only through AddVoter and RemoveVoter (voters.go), as raft
// configuration changes in the log.
type RaftQuorum struct {
	cfg    RaftConfig
	rn     *raft.RawNode // owned by run
	rl     *raftLog
	loader *metadata.Loader
	logger *slog.Logger

	recvc chan pb.Message
	propc chan proposal
	funcc chan func()
	stop  chan struct{}
	done  chan struct{}

	mu sync.Mutex // guards waiters, status, failed
	// waiters are the local proposals not yet applied, by proposal ID.
	waiters map[uint64]chan applied
	// unresolved are the local proposals whose Commit gave up at its
	// caller's deadline while they might still commit: until each is
	// applied or this node stops leading, the node does not act as the
	// active controller (Status().Active is false), since its image may
	// lack them. Guarded by mu.
	unresolved map[uint64]struct{}
	status     QuorumStatus
	failed     error
	// commitChanged is closed and replaced whenever the commit index
	// moves: metadata fetches from brokers wait on it.
	commitChanged chan struct{}
	// lastHeard is when a message from each voter last arrived, and
	// observers each broker's last metadata fetch (DescribeQuorum).
	lastHeard map[int32]time.Time
	observers map[int32]observerState

	// holdVotes: this voter's log is brand new (a new cluster, or a wiped
	// disk): it neither campaigns nor grants votes until it has heard from
	// a leader or learned that a majority of voters are brand new too (a
	// cluster forming). A wiped voter cannot then vote twice in a term it
	// voted in before it lost its disk.
	holdVotes atomic.Bool

	applied     uint64 // owned by run
	appliedTerm uint64 // owned by run: term of the last applied entry
	confState   pb.ConfState
	// confApplied is the last configuration change raft applied (owned by
	// run): a restart replays the records of every committed entry
	// before raft starts, but raft learns the changes after the last
	// snapshot only as they are delivered again.
	confApplied uint64
	// delivered is the last entry raft handed to apply (owned by run); it
	// trails applied while a restart's entries are delivered again.
	delivered uint64
	snapNow   bool   // owned by run: a new change of members asks for a snapshot
	lastSnap  uint64 // owned by run

	confc  chan confProposal
	confMu sync.Mutex // one voter change (AddVoter, RemoveVoter) at a time
}

// applied answers a local proposal: the entry's index, or why it failed.
type applied struct {
	index uint64
	err   error
}

type proposal struct {
	id   uint64
	term uint64 // the term it was made for: proposed only if this node still leads in it
	data []byte
}

// QuorumStatus is a voter's view of the quorum (DescribeQuorum).
type QuorumStatus struct {
	NodeID int32
	// Leader is the raft leader (-1: none known); Active reports that this
	// node is the leader and has applied everything before its term, so
	// its controller may decide.
	Leader int32
	Active bool
	Term   uint64
	// Commit is the quorum's high watermark (committed index), Applied
	// what this node has applied.
	Commit, Applied uint64
	// Voters' log end (match) index as the leader sees it; only on the
	// leader.
	Progress map[int32]uint64
	Voters   []int32
	// Learners are the nodes being added (AddVoter), not yet voters.
	Learners []int32
}

// OpenRaft opens (creating on first start) the metadata log in cfg.Dir,
// replays its snapshot and committed entries into loader, and starts the
// voter. A new log is bootstrapped with a snapshot of the voters (and
// cfg.Bootstrap's records).
func OpenRaft(cfg RaftConfig, loader *metadata.Loader) (*RaftQuorum, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 20
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 2
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 10_000
	}
	if len(cfg.Bootstrap) > 0 && len(cfg.Voters) != 1 {
		return nil, errors.New("only a lone voter can bootstrap from a legacy image")
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS()
	}
	if err := metadata.MkdirAll(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("metadata log folder: %w", err)
	}
	fresh, err := bootstrapIfNew(cfg)
	if err != nil {
		return nil, err
	}
	rl, err := openRaftLog(cfg.FS, cfg.Dir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	q := &RaftQuorum{cfg: cfg, rl: rl, loader: loader, logger: cfg.Logger,
		recvc: make(chan pb.Message, 1024), propc: make(chan proposal, 256), funcc: make(chan func(), 16),
		confc: make(chan confProposal, 1),
		stop:  make(chan struct{}), done: make(chan struct{}), waiters: map[uint64]chan applied{}, unresolved: map[uint64]struct{}{},
		commitChanged: make(chan struct{}), lastHeard: map[int32]time.Time{}, observers: map[int32]observerState{}}
	q.status.NodeID, q.status.Leader, q.status.Voters = cfg.NodeID, -1, slices.Clone(cfg.Voters)
	q.holdVotes.Store(fresh && len(cfg.Voters) > 1)
	if err := q.replay(); err != nil {
		_ = rl.close()
		return nil, err
	}
	q.status.Voters, q.status.Learners = idsOf(q.confState.Voters), idsOf(q.confState.Learners)
	if !slices.Contains(q.status.Voters, cfg.NodeID) && !slices.Contains(q.confState.Learners, uint64(cfg.NodeID)) {
		cfg.Logger.Info("this controller is not a voter of the metadata quorum: it waits to be added (fjord cluster quorum add)",
			"node", cfg.NodeID, "voters", q.status.Voters)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: uint64(cfg.NodeID), ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks,
		// Applied is the snapshot's index, not the replayed end: raft
		// delivers the committed entries after it again, so it applies the
		// configuration changes among them (apply skips their records).
		Storage: rl.mem, Applied: q.lastSnap, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		MaxUncommittedEntriesSize: 64 << 20, CheckQuorum: true, PreVote: true, Logger: raftLogger{cfg.Logger},
		// A follower's proposals are dropped, never forwarded: the
		// controller made them from its own image, which only the leader
		// may decide from.
		DisableProposalForwarding: true,
		// A leader that removed itself hands over at once (KIP-853's
		// leader resigns once its removal is committed).
		StepDownOnRemoval: true,
	})
	if err != nil {
		_ = rl.close()
		return nil, fmt.Errorf("metadata quorum: %w", err)
	}
	q.rn = rn
	if len(q.status.Voters) == 1 && q.status.Voters[0] == cfg.NodeID {
		// A lone voter need not wait out an election timeout.
		_ = rn.Campaign()
	}
	go q.run()
	return q, nil
}

// replay loads the snapshot and the committed entries into the loader.
func (q *RaftQuorum) replay() error {
	snap, err := q.rl.mem.Snapshot()
	if err != nil {
		return err
	}
	recs, err := decodeRecords(snap.Data)
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	q.confState, q.confApplied, q.delivered = snap.Metadata.ConfState, snap.Metadata.Index, snap.Metadata.Index
	q.applied, q.appliedTerm, q.lastSnap = snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.Index
	var batch []metadata.Record
	batch = append(batch, recs...)
	hs, _, _ := q.rl.mem.InitialState()
	last := int64(snap.Metadata.Index) - 1
	if hs.Commit > snap.Metadata.Index {
		ents, err := q.rl.mem.Entries(snap.Metadata.Index+1, hs.Commit+1, 1<<62)
		if err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
		for _, e := range ents {
			_, rs, _, err := entryRecords(e)
			if err != nil {
				return fmt.Errorf("metadata log entry %d: %w", e.Index, err)
			}
			batch = append(batch, rs...)
			q.applied, q.appliedTerm, last = e.Index, e.Term, int64(e.Index)-1
		}
	}
	if len(batch) == 0 && last < 0 {
		return nil // a joining node's empty log
	}
	if _, err := q.loader.Apply(batch, last); err != nil {
		return fmt.Errorf("metadata log: %w", err)
	}
	q.setStatus()
	return nil
}

// Step hands a message from a peer to raft; dropped when the inbox is
// full (raft retransmits).
func (q *RaftQuorum) Step(m pb.Message) {
	q.mu.Lock()
	q.lastHeard[int32(m.From)] = time.Now()
	q.mu.Unlock()
	select {
	case q.recvc <- m:
	default:
	}
}

// Status returns the voter's view of the quorum.
func (q *RaftQuorum) Status() QuorumStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.status
	s.Active = s.Active && len(q.unresolved) == 0
	s.Progress = make(map[int32]uint64, len(q.status.Progress))
	for k, v := range q.status.Progress {
		s.Progress[k] = v
	}
	return s
}

// Commit implements Quorum: it proposes records as one entry and returns
// once the entry is committed and applied here, or with ErrNotController
// once this node stops leading (the entry may still commit under the next
// leader) or when ctx ends first (the entry may still commit: until it is
// applied or this node stops leading, the node is not the active
// controller, so nothing is decided from an image that may lack it). Only
// the active controller proposes (ErrNotController otherwise).
func (q *RaftQuorum) Commit(ctx context.Context, records []metadata.Record) (int64, error) {
	if len(records) == 0 || len(records) > maxBatchRecords {
		return 0, fmt.Errorf("metadata batch of %d records", len(records))
	}
	st := q.Status()
	if !st.Active {
		return 0, fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
	}
	// IDs are random, not a counter: every voter applies every entry and
	// answers the local waiter of the entry's ID, so an ID another node
	// (or this node before a restart) used must not match a waiter here.
	id := rand.Uint64() | 1
	ch := make(chan applied, 1)
	q.mu.Lock()
	if q.failed != nil {
		q.mu.Unlock()
		return 0, q.failed
	}
	q.waiters[id] = ch
	q.mu.Unlock()
	keep := false // the waiter outlives this call (unresolved)
	defer func() {
		if !keep {
			q.mu.Lock()
			delete(q.waiters, id)
			q.mu.Unlock()
		}
	}()
	data := binary.BigEndian.AppendUint64(nil, id)
	data = append(data, encodeRecords(records)...)
	select {
	case q.propc <- proposal{id: id, term: st.Term, data: data}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-q.done:
		return 0, ErrQuorumStopped
	}
	// Once handed to raft, the proposal may commit even if this call
	// gives up: the controller computes its next records from the image,
	// which must include it (records computed from an image without it
	// would overwrite its changes: an ISR dropping the leader, say). So a
	// call that gives up at ctx's deadline leaves the proposal unresolved,
	// and the node is not active until it is applied or the node stops
	// leading (a leader cut off from the quorum steps down within an
	// election timeout: CheckQuorum).
	select {
	case a := <-ch:
		if a.err != nil {
			return 0, a.err
		}
		return int64(a.index) - 1, nil
	case <-q.done:
		return 0, ErrQuorumStopped
	case <-ctx.Done():
		q.mu.Lock()
		select {
		case a := <-ch: // answered meanwhile
			q.mu.Unlock()
			if a.err != nil {
				return 0, a.err
			}
			return int64(a.index) - 1, nil
		default:
		}
		q.unresolved[id] = struct{}{}
		keep = true
		q.mu.Unlock()
		q.logger.Warn("a proposed metadata change outlived its request; this controller decides nothing until it is applied or it steps down", "err", ctx.Err())
		// REQUEST_TIMED_OUT, as Kafka's controller answers a write it could
		// not complete in time (the change may still happen); the next
		// requests get NOT_CONTROLLER until the outcome is known.
		return 0, fmt.Errorf("%w: the metadata change was proposed but not applied in time; its outcome is not known yet (%w)", kerr.RequestTimedOut, ctx.Err())
	}
}

// WaitActive returns once this node is the active controller, or when ctx
// ends.
func (q *RaftQuorum) WaitActive(ctx context.Context) error {
	for {
		if q.Status().Active {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting to become the active controller: %w", ctx.Err())
		case <-q.done:
			return ErrQuorumStopped
		case <-time.After(q.cfg.Tick / 2):
		}
	}
}

// TransferLeadership asks raft to hand leadership to another voter (a
// controlled shutdown of the active controller).
func (q *RaftQuorum) TransferLeadership(to int32) {
	select {
	case q.funcc <- func() { q.rn.TransferLeader(uint64(to)) }:
	case <-q.done:
	}
}

// Close stops the voter and closes its log.
func (q *RaftQuorum) Close() error {
	select {
	case <-q.stop:
	default:
		close(q.stop)
	}
	<-q.done
	return q.rl.close()
}

func (q *RaftQuorum) run() {
	defer close(q.done)
	ticker := time.NewTicker(q.cfg.Tick)
	defer ticker.Stop()
	if err := q.handleReady(); err != nil { // a lone voter's campaign
		q.logger.Error("metadata quorum stopped: the metadata log cannot be written", "err", err)
		q.fail(fmt.Errorf("%w: %w", ErrQuorumStopped, err))
		return
	}
	for {
		select {
		case <-q.stop:
			q.fail(ErrQuorumStopped)
			return
		case <-ticker.C:
			q.rn.Tick()
		case m := <-q.recvc:
			if err := q.checkLost(m); err != nil {
				q.logger.Error("metadata quorum stopped", "err", err)
				q.fail(err)
				return
			}
			_ = q.rn.Step(m) // messages of another term or group are refused by raft
		case p := <-q.propc:
			// Only a leader still in the term the records were made in
			// proposes them: a node that stepped down meanwhile (its
			// waiter would never hear of the entry) or leads a later
			// term (its image may lack entries) refuses.
			if bs := q.rn.BasicStatus(); bs.RaftState != raft.StateLeader || bs.Term != p.term {
				q.finish(p.id, 0, fmt.Errorf("%w: leadership moved before the proposal", ErrNotController))
				break
			}
			if err := q.rn.Propose(p.data); err != nil {
				q.finish(p.id, 0, fmt.Errorf("%w: %w", ErrNotController, err))
			}
		case c := <-q.confc:
			q.proposeConf(c)
		case f := <-q.funcc:
			f()
		}
		if err := q.handleReady(); err != nil {
			q.logger.Error("metadata quorum stopped: the metadata log cannot be written", "err", err)
			q.fail(fmt.Errorf("%w: %w", ErrQuorumStopped, err))
			return
		}
	}
}

// handleReady runs every pending Ready: persist, send, apply, advance.
func (q *RaftQuorum) handleReady() error {
	for q.rn.HasReady() {
		rd := q.rn.Ready()
		if err := q.rl.save(rd.Snapshot, rd.Entries, rd.HardState); err != nil {
			return err
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := q.applySnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		if rd.SoftState != nil && rd.SoftState.Lead != 0 && rd.SoftState.Lead != uint64(q.cfg.NodeID) && q.holdVotes.Load() {
			q.holdVotes.Store(false)
			q.logger.Info("heard from the quorum's leader: this voter votes from now on", "leader", rd.SoftState.Lead)
		}
		msgs := rd.Messages
		if q.holdVotes.Load() {
			msgs = slices.DeleteFunc(slices.Clone(msgs), isVote)
		}
		if len(msgs) > 0 && q.cfg.Transport != nil {
			q.cfg.Transport.Send(msgs)
		}
		for _, e := range rd.CommittedEntries {
			if err := q.apply(e); err != nil {
				return err
			}
		}
		lostLead := rd.SoftState != nil && rd.SoftState.RaftState != raft.StateLeader
		q.rn.Advance(rd)
		q.setStatus()
		if lostLead {
			q.failWaiters(fmt.Errorf("%w: leadership lost", ErrNotController))
		}
	}
	return q.maybeSnapshot()
}

// apply applies one committed entry to the loader and answers its
// proposer if it is local.
func (q *RaftQuorum) apply(e pb.Entry) error {
	id, recs, cc, err := entryRecords(e)
	if err != nil {
		return fmt.Errorf("metadata log entry %d: %w", e.Index, err)
	}
	q.delivered = max(q.delivered, e.Index)
	if cc != nil {
		q.applyConf(e.Index, *cc)
	}
	if e.Index <= q.applied {
		return nil
	}
	q.applied, q.appliedTerm = e.Index, e.Term
	if id == 0 && len(recs) == 0 {
		return nil // the leader's empty entry of its term
	}
	var aerr error
	if len(recs) > 0 {
		_, aerr = q.loader.Apply(recs, int64(e.Index)-1)
	}
	if aerr != nil {
		// The proposer dry-ran the records: reaching this is a bug. The
		// entry is skipped on every node alike, so images stay equal.
		q.logger.Error("committed metadata entry does not apply; skipped", "index", e.Index, "err", aerr)
	}
	q.setStatusLocked(func(s *QuorumStatus) { s.Applied = e.Index })
	q.finish(id, e.Index, aerr)
	return nil
}

func (q *RaftQuorum) applySnapshot(snap pb.Snapshot) error {
	recs, err := decodeRecords(snap.Data)
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	if _, err := q.loader.ApplySnapshot(recs, int64(snap.Metadata.Index)-1); err != nil {
		return err
	}
	q.applied, q.appliedTerm, q.lastSnap = snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.Index
	q.confState, q.confApplied, q.delivered = snap.Metadata.ConfState, snap.Metadata.Index, snap.Metadata.Index
	voters, learners := idsOf(q.confState.Voters), idsOf(q.confState.Learners)
	q.setStatusLocked(func(s *QuorumStatus) { s.Voters, s.Learners = voters, learners })
	return nil
}

// maybeSnapshot compacts the log once SnapshotEntries entries were applied
// since the last snapshot.
//
// Not while raft is still delivering again the entries a restart replayed
// (their configuration changes are not all applied to confState yet, and
// a snapshot must hold the configuration of its index); at once after a
// new change of members, so that a learner being added, which the leader
// brings up to date with a snapshot, finds itself in the snapshot's
// configuration (raft refuses one that does not name it).
func (q *RaftQuorum) maybeSnapshot() error {
	if q.delivered < q.applied || q.applied == q.lastSnap {
		return nil
	}
	if !q.snapNow && q.applied-q.lastSnap < q.cfg.SnapshotEntries {
		return nil
	}
	q.snapNow = false
	data := encodeRecords(q.loader.Image().Records())
	if err := q.rl.compact(q.applied, &q.confState, data); err != nil {
		return fmt.Errorf("metadata snapshot at %d: %w", q.applied, err)
	}
	q.lastSnap = q.applied
	q.logger.Info("wrote metadata snapshot", "index", q.applied, "bytes", len(data))
	return nil
}

func (q *RaftQuorum) setStatus() {
	q.setStatusLocked(func(*QuorumStatus) {})
}

func (q *RaftQuorum) setStatusLocked(f func(*QuorumStatus)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := &q.status
	if q.rn != nil {
		st := q.rn.Status()
		s.Leader = int32(st.Lead)
		if st.Lead == 0 {
			s.Leader = -1
		}
		if st.Commit != s.Commit {
			close(q.commitChanged)
			q.commitChanged = make(chan struct{})
		}
		s.Term, s.Commit = st.Term, st.Commit
		s.Active = st.RaftState == raft.StateLeader && q.appliedTerm == st.Term
		s.Progress = map[int32]uint64{}
		for id, pr := range st.Progress {
			s.Progress[int32(id)] = pr.Match
		}
	}
	s.Applied = q.applied
	f(s)
}

// finish answers a local proposal's waiter. The answer is sent under mu
// (the channel holds one answer, so the send never blocks): a Commit that
// gives up checks for it under mu before it records the proposal as
// unresolved, so an answer is never lost between the two, which would
// leave the node inactive for good.
func (q *RaftQuorum) finish(id, index uint64, err error) {
	q.mu.Lock()
	ch := q.waiters[id]
	delete(q.waiters, id)
	_, was := q.unresolved[id]
	delete(q.unresolved, id)
	if ch != nil {
		ch <- applied{index: index, err: err}
	}
	q.mu.Unlock()
	if was {
		q.logger.Info("the metadata change that outlived its request is resolved", "index", index, "err", err)
	}
}

// failWaiters answers every local proposal with err (this node stopped
// leading), under mu as finish does.
func (q *RaftQuorum) failWaiters(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ch := range q.waiters {
		ch <- applied{err: err}
	}
	q.waiters = map[uint64]chan applied{}
	clear(q.unresolved)
}

func (q *RaftQuorum) fail(err error) {
	q.mu.Lock()
	q.failed = err
	q.status.Active = false
	q.mu.Unlock()
	q.failWaiters(err)
}

// encodeRecords frames records for an entry or a snapshot: each as an
// unsigned varint length and the record.
func encodeRecords(recs []metadata.Record) []byte {
	var b []byte
	for _, r := range recs {
		enc := metadata.EncodeRecord(nil, r)
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b
}

func decodeRecords(b []byte) ([]metadata.Record, error) {
	var out []metadata.Record
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: bad record frame", metadata.ErrBadRecord)
		}
		r, err := metadata.DecodeRecord(b[k : k+int(n)])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		b = b[k+int(n):]
	}
	return out, nil
}

// decodeEntry splits an entry's data: proposal ID, then records.
func decodeEntry(b []byte) (uint64, []metadata.Record, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: entry of %d bytes", metadata.ErrBadRecord, len(b))
	}
	recs, err := decodeRecords(b[8:])
	return binary.BigEndian.Uint64(b), recs, err
}
