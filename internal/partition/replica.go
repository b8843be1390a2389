package partition

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/log"
)

// Role is what a replica is for its partition.
type Role uint8

// Replica roles.
const (
	// RoleNone: not (yet) told, or no longer a replica.
	RoleNone Role = iota
	// RoleLeader takes writes and keeps the ISR and high watermark.
	RoleLeader
	// RoleFollower copies the leader's log.
	RoleFollower
)

func (r Role) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	}
	return "none"
}

// Errors of the replica state machine; protocol maps them to Kafka codes.
var (
	// ErrNotLeader: the replica is not the partition's leader
	// (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("not the leader of the partition")
	// ErrNotEnoughReplicas: acks=all with an ISR smaller than
	// min.insync.replicas (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: an acks=all write is in the
	// leader's log but the ISR fell below min.insync.replicas before it
	// was committed (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("the ISR shrank below min.insync.replicas after the append")
	// ErrFollowerAhead: a follower fetches past the leader's log end: it
	// holds records the leader does not (OFFSET_OUT_OF_RANGE).
	ErrFollowerAhead = fmt.Errorf("follower ahead of the leader: %w", log.ErrOffsetOutOfRange)
	// ErrUnknownReplica: a fetch from a broker that is not a replica.
	ErrUnknownReplica = errors.New("fetch from a broker that is not a replica")
)

// ReplicaConfig is what a replica's decisions depend on besides events.
type ReplicaConfig struct {
	// LocalID is this node's broker ID.
	LocalID int32
	// MinISR is min.insync.replicas.
	MinISR int
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower that has
	// not caught up for this long leaves the ISR.
	ReplicaLagTimeMax time.Duration
}

// Leadership is a partition's leader and ISR as the metadata says.
type Leadership struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// followerState is what a leader knows of one follower.
type followerState struct {
	// leo is the offset the follower last fetched from: everything below
	// is on its disk (followers fetch only past what they made durable).
	// -1 until it fetches in this leader epoch.
	leo                int64
	lastFetchTime      time.Time
	lastFetchLeaderLEO int64 // the leader's log end offset at that fetch
	lastCaughtUpTime   time.Time
	// logStart is the log start offset the follower last reported (its
	// retention runs on its own); -1 until it reports one.
	logStart int64
}

// Replica is the pure state machine of one partition replica: role, leader
// epoch, ISR, each follower's log end offset, and the high watermark. It
// takes events (leadership from the metadata, local appends and fsyncs,
// follower fetches, ticks) with the time they happen and returns
// decisions; it does no I/O, takes no locks and starts no goroutines, so
// tests drive it step by step (testdata/replica).
//
// Invariants: the high watermark never decreases while the replica leads
// and never passes the durable log end offset of any member of the ISR
// (the leader's own included), so an acknowledged acks=all write is on the
// disk of every ISR replica counted for it; it advances only while the ISR
// has at least min.insync.replicas members (KIP-966), so the last replica
// standing cannot acknowledge alone what min.insync.replicas forbids; the
// leader is never removed from the ISR by its own proposal; at most one ISR
// change is in flight (Kafka's AlterPartition discipline).
type Replica struct {
	cfg            ReplicaConfig
	role           Role
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32 // committed
	pendingISR     []int32 // proposed to the controller; nil when none in flight
	followers      map[int32]*followerState

	leo              int64 // local log end offset
	durable          int64 // local offset below which the log is durable
	hw               int64
	epochStartOffset int64 // the log end offset when this leadership began
}

// NewReplica returns the state of a replica whose log holds everything
// below leo, of which everything below durable is on disk, with high
// watermark hw (from its checkpoint; clamped to durable).
func NewReplica(cfg ReplicaConfig, hw, leo, durable int64) *Replica {
	return &Replica{cfg: cfg, leader: -1, leaderEpoch: -1, partitionEpoch: -1,
		leo: leo, durable: min(durable, leo), hw: min(hw, durable, leo)}
}

// Role returns the replica's role.
func (r *Replica) Role() Role { return r.role }

// Leader returns the leader's broker ID (-1: none known).
func (r *Replica) Leader() int32 { return r.leader }

// LeaderEpoch returns the leader epoch the replica is in.
func (r *Replica) LeaderEpoch() int32 { return r.leaderEpoch }

// HighWatermark returns the high watermark.
func (r *Replica) HighWatermark() int64 { return r.hw }

// LogEndOffset returns the local log end offset.
func (r *Replica) LogEndOffset() int64 { return r.leo }

// ISR returns the committed in-sync replica set.
func (r *Replica) ISR() []int32 { return r.isr }

// PendingISR returns the ISR proposed to the controller, or nil.
func (r *Replica) PendingISR() []int32 { return r.pendingISR }

// SetMinISR applies a min.insync.replicas change.
func (r *Replica) SetMinISR(n int) { r.cfg.MinISR = n }

// FollowerEndOffset returns what the leader knows of a follower's log end
// offset (-1: unknown).
func (r *Replica) FollowerEndOffset(id int32) int64 {
	if f := r.followers[id]; f != nil {
		return f.leo
	}
	return -1
}

// FollowerCaughtUp returns when the leader last saw a follower caught up
// (the clock replica.lag.time.max.ms runs on); zero when unknown.
func (r *Replica) FollowerCaughtUp(id int32) time.Time {
	if f := r.followers[id]; f != nil {
		return f.lastCaughtUpTime
	}
	return time.Time{}
}

// Decision is what an event asks of the shell.
type Decision struct {
	// HighWatermarkMoved: wake consumers (and acks=all produces).
	HighWatermarkMoved bool
	// ProposeISR, when not nil, is an ISR to send to the controller
	// (AlterPartition) with the leader and partition epochs it is based
	// on; its answer comes back as ApplyLeadership or ISRProposalRefused.
	ProposeISR     []int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// ApplyLeadership adopts the partition's leadership from committed
// metadata. A leadership older than the one held (lower leader epoch, or
// lower partition epoch in the same leader epoch) is ignored, and so is
// the one held, again: the metadata hands every partition of a topic over
// when any of them changes, and that is no news. It must not clear an ISR
// proposal in flight: the controller may have committed it, and a leader
// that forgot an expansion would advance its high watermark past the new
// member, whom the controller may elect next.
func (r *Replica) ApplyLeadership(l Leadership, now time.Time) Decision {
	older := l.LeaderEpoch < r.leaderEpoch || (l.LeaderEpoch == r.leaderEpoch && l.PartitionEpoch < r.partitionEpoch)
	if older || r.holds(l) {
		return Decision{}
	}
	newEpoch := l.LeaderEpoch != r.leaderEpoch || r.role == RoleNone
	r.leader, r.leaderEpoch, r.partitionEpoch = l.Leader, l.LeaderEpoch, l.PartitionEpoch
	r.replicas, r.isr = slices.Clone(l.Replicas), slices.Clone(l.ISR)
	r.pendingISR = nil
	switch {
	case l.Leader == r.cfg.LocalID:
		if newEpoch || r.role != RoleLeader {
			r.role = RoleLeader
			r.epochStartOffset = r.leo
			r.followers = map[int32]*followerState{}
		}
		for _, id := range r.replicas {
			if id == r.cfg.LocalID || r.followers[id] != nil {
				continue
			}
			// ISR members get a full lag period to fetch before they can be
			// shrunk away, as Kafka does on a leader change.
			f := &followerState{leo: -1, lastFetchLeaderLEO: -1, logStart: -1}
			if slices.Contains(r.isr, id) {
				f.lastCaughtUpTime = now
			}
			r.followers[id] = f
		}
		for id := range r.followers {
			if !slices.Contains(r.replicas, id) {
				delete(r.followers, id)
			}
		}
		return r.maybeAdvanceHW()
	case slices.Contains(r.replicas, r.cfg.LocalID):
		r.role, r.followers = RoleFollower, nil
	default:
		r.role, r.followers = RoleNone, nil
	}
	return Decision{}
}

// holds reports whether l is the leadership the replica already holds:
// the same epochs and the same leader, replicas and ISR (a standalone
// partition's own leadership shares its epochs with the metadata's first
// one, which must still be applied).
func (r *Replica) holds(l Leadership) bool {
	return r.role != RoleNone && l.LeaderEpoch == r.leaderEpoch && l.PartitionEpoch == r.partitionEpoch &&
		l.Leader == r.leader && slices.Equal(l.Replicas, r.replicas) && slices.Equal(l.ISR, r.isr)
}

// LocalAppended records the new local log end offset; durable is the
// offset below which the log is now on disk (equal to leo when the log
// counts page-cache writes as durable).
//
// Offsets only grow here (callers read the log without a lock, so reports
// may arrive out of order); Truncated is how they shrink.
func (r *Replica) LocalAppended(leo, durable int64) Decision {
	r.leo = max(r.leo, leo)
	r.durable = max(r.durable, min(durable, leo))
	if r.role == RoleLeader {
		return r.maybeAdvanceHW()
	}
	return Decision{}
}

// FollowerFetched records a follower's fetch at fetchOffset: everything
// below is durable on the follower. It may expand the ISR and advance the
// high watermark.
func (r *Replica) FollowerFetched(id int32, fetchOffset int64, now time.Time) (Decision, error) {
	if r.role != RoleLeader {
		return Decision{}, fmt.Errorf("%w: leader is %d", ErrNotLeader, r.leader)
	}
	f := r.followers[id]
	if f == nil {
		return Decision{}, fmt.Errorf("%w: broker %d (replicas %v)", ErrUnknownReplica, id, r.replicas)
	}
	if fetchOffset > r.leo {
		// The follower holds records this leader does not: they must
		// not count as replicated. It is answered OFFSET_OUT_OF_RANGE
		// and checks where it diverged (OffsetForLeaderEpoch).
		return Decision{}, fmt.Errorf("%w: broker %d fetches at %d, past this leader's log end %d", ErrFollowerAhead, id, fetchOffset, r.leo)
	}
	switch {
	case fetchOffset >= r.leo:
		f.lastCaughtUpTime = now
	case f.lastFetchLeaderLEO >= 0 && fetchOffset >= f.lastFetchLeaderLEO:
		f.lastCaughtUpTime = f.lastFetchTime
	}
	f.leo = fetchOffset
	f.lastFetchTime, f.lastFetchLeaderLEO = now, r.leo
	d := r.maybeAdvanceHW()
	if r.pendingISR == nil && !slices.Contains(r.isr, id) &&
		fetchOffset >= r.hw && fetchOffset >= r.epochStartOffset {
		r.pendingISR = sortedISR(append(slices.Clone(r.isr), id))
		d.ProposeISR, d.LeaderEpoch, d.PartitionEpoch = r.pendingISR, r.leaderEpoch, r.partitionEpoch
	}
	return d, nil
}

// Tick checks the ISR: followers that have not caught up for
// replica.lag.time.max.ms are proposed out of it.
func (r *Replica) Tick(now time.Time) Decision {
	if r.role != RoleLeader || r.pendingISR != nil {
		return Decision{}
	}
	var keep []int32
	shrink := false
	for _, id := range r.isr {
		f := r.followers[id]
		if id != r.cfg.LocalID && f != nil && now.Sub(f.lastCaughtUpTime) > r.cfg.ReplicaLagTimeMax {
			shrink = true
			continue
		}
		keep = append(keep, id)
	}
	if !shrink {
		return Decision{}
	}
	r.pendingISR = sortedISR(keep)
	return Decision{ProposeISR: r.pendingISR, LeaderEpoch: r.leaderEpoch, PartitionEpoch: r.partitionEpoch}
}

// ISRProposalRefused forgets the proposal in flight if it is the one the
// controller refused (same ISR, same epochs): the late answer to an older
// proposal must not clear a newer one. The next tick or fetch proposes
// again. A proposal the controller did not answer stays in flight (it may
// have been committed) and is sent again: see ISRProposalInFlight.
func (r *Replica) ISRProposalRefused(isr []int32, leaderEpoch, partitionEpoch int32) {
	if r.ISRProposalInFlight(isr, leaderEpoch, partitionEpoch) {
		r.pendingISR = nil
	}
}

// ISRProposalInFlight reports whether this proposal is still the one in
// flight: the sender retries an unanswered proposal only while it is.
func (r *Replica) ISRProposalInFlight(isr []int32, leaderEpoch, partitionEpoch int32) bool {
	return r.role == RoleLeader && r.pendingISR != nil && slices.Equal(r.pendingISR, isr) &&
		r.leaderEpoch == leaderEpoch && r.partitionEpoch == partitionEpoch
}

// FollowerHighWatermark adopts the leader's high watermark as a follower:
// never past what this replica holds durably.
func (r *Replica) FollowerHighWatermark(leaderHW int64) Decision {
	if r.role != RoleFollower {
		return Decision{}
	}
	hw := min(leaderHW, r.durable)
	if hw <= r.hw {
		return Decision{}
	}
	r.hw = hw
	return Decision{HighWatermarkMoved: true}
}

// Truncated records that the local log was cut to end at offset (a
// follower dropping a divergent tail, KIP-101).
func (r *Replica) Truncated(offset int64) {
	r.leo = min(r.leo, offset)
	r.durable = min(r.durable, offset)
	r.hw = min(r.hw, offset)
}

// CheckProduce refuses a write this replica must not take: any write when
// it is not the leader, and acks=all (acks -1) when the committed ISR is
// smaller than min.insync.replicas.
func (r *Replica) CheckProduce(acks int16) error {
	if r.role != RoleLeader {
		return fmt.Errorf("%w: leader is %d", ErrNotLeader, r.leader)
	}
	if acks == -1 && len(r.isr) < r.cfg.MinISR {
		return fmt.Errorf("%w: the ISR %v has %d replica(s), min.insync.replicas is %d", ErrNotEnoughReplicas, r.isr, len(r.isr), r.cfg.MinISR)
	}
	return nil
}

// maximalISR is the ISR the high watermark waits for: the committed ISR
// plus any member a pending expansion adds (a pending shrink still waits
// for the members it would remove), Kafka's "maximal ISR".
func (r *Replica) maximalISR() []int32 {
	out := slices.Clone(r.isr)
	for _, id := range r.pendingISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeAdvanceHW moves the leader's high watermark to the smallest durable
// log end offset of the maximal ISR, when that is higher and the committed
// ISR has at least min.insync.replicas members.
//
// The committed ISR, not the maximal one, as Kafka's isUnderMinIsr: a
// pending expansion may never commit, and KIP-966's election trusts that
// the high watermark did not move while the committed ISR was below
// min.insync.replicas: the replicas that left it then (the ELR) hold
// everything below it, and one of them may be elected. Counting a pending
// member let a leader with ISR [1] and a proposed [1 3] acknowledge records
// only 1 and 3 held; the proposal never committed, 1 was fenced, and 2,
// elected from the ELR, lacked them (TestNemesis_IsolateNode).
func (r *Replica) maybeAdvanceHW() Decision {
	isr := r.maximalISR()
	// A replication factor below min.insync.replicas caps the rule, or
	// such a partition could never commit anything (acks=all writes are
	// still refused by CheckProduce).
	if len(r.isr) < min(r.cfg.MinISR, len(r.replicas)) || !slices.Contains(isr, r.cfg.LocalID) {
		return Decision{}
	}
	hw := r.durable
	for _, id := range isr {
		if id == r.cfg.LocalID {
			continue
		}
		f := r.followers[id]
		if f == nil || f.leo < 0 {
			return Decision{}
		}
		hw = min(hw, f.leo)
	}
	if hw <= r.hw {
		return Decision{}
	}
	r.hw = hw
	return Decision{HighWatermarkMoved: true}
}

func sortedISR(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}
