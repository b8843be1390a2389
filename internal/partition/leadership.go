package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// DefaultReplicaLagTimeMax is Kafka's replica.lag.time.max.ms default.
const DefaultReplicaLagTimeMax = 30 * time.Second

// Role returns the replica's role.
func (p *Partition) Role() Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.Role()
}

// Leader returns the partition leader's broker ID as this replica knows it.
func (p *Partition) Leader() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.Leader()
}

// InISR reports whether replica is in the committed in-sync replica set,
// without copying it (the leader's replication throttle asks on every
// fetch of a throttled partition).
func (p *Partition) InISR(replica int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.replica.ISR(), replica)
}

// ISR returns the committed in-sync replica set.
func (p *Partition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int32(nil), p.replica.ISR()...)
}

// CheckProduce refuses a write this replica must not take now: any write
// unless it leads (ErrNotLeader), acks=all (-1) while the ISR is smaller
// than min.insync.replicas (ErrNotEnoughReplicas).
func (p *Partition) CheckProduce(acks int16) error {
	if err := p.offline(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.CheckProduce(acks)
}

// checkLeader refuses a write unless the replica leads (in leaderEpoch,
// when >= 0). The caller holds leaderMu.
func (p *Partition) checkLeader(leaderEpoch int32) error {
	if err := p.offline(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.replica.CheckProduce(1); err != nil {
		return fmt.Errorf("partition %s: %w", p.ID, err)
	}
	if leaderEpoch >= 0 && p.replica.LeaderEpoch() != leaderEpoch {
		return fmt.Errorf("partition %s: %w: leader epoch is %d, the write was fenced at %d", p.ID, ErrNotLeader, p.replica.LeaderEpoch(), leaderEpoch)
	}
	return nil
}

// ApplyLeadership adopts the leadership committed in the metadata.
func (p *Partition) ApplyLeadership(l Leadership, now time.Time) {
	p.leaderMu.Lock()
	defer p.leaderMu.Unlock()
	p.mu.Lock()
	roleBefore, pepochBefore := p.replica.Role(), p.replica.partitionEpoch
	epochBefore, isrBefore := p.replica.LeaderEpoch(), len(p.replica.ISR())
	d := p.replica.ApplyLeadership(l, now)
	leads, epoch := p.replica.Role() == RoleLeader, p.replica.LeaderEpoch()
	role, isr := p.replica.Role(), slices.Clone(p.replica.ISR())
	applied := role != roleBefore || p.replica.partitionEpoch != pepochBefore
	if st := p.isrStats; st != nil && roleBefore == RoleLeader && role == RoleLeader && epoch == epochBefore {
		// The same leadership with another ISR: this leader's change
		// (or the controller's, fencing a follower) committed.
		switch {
		case len(isr) < isrBefore:
			st.Shrinks.Add(1)
		case len(isr) > isrBefore:
			st.Expands.Add(1)
		}
	}
	leo, hw := p.replica.LogEndOffset(), p.replica.HighWatermark()
	p.mu.Unlock()
	if applied {
		// As Kafka's brokers log each leadership and ISR change they
		// apply: what an operator reads to follow a failover.
		p.logger.Info("partition state applied", "role", role.String(), "leader", l.Leader, "leader_epoch", l.LeaderEpoch,
			"partition_epoch", l.PartitionEpoch, "isr", isr, "log_end_offset", leo, "high_watermark", hw)
	}
	if leads {
		// The new epoch starts at this log's end, before any append:
		// a returning old leader asking where its epoch ended learns it
		// from here (KIP-101).
		if err := p.log.AssignEpoch(epoch); err != nil {
			p.logger.Warn("recording the leader epoch's start failed", "leader_epoch", epoch, "err", err)
		}
	}
	p.act(d)
	// acks=all produces parked on the high watermark re-check leadership
	// and the ISR.
	p.delayed.Notify(p.ID, HighWatermarkMoved)
}

// setReplicaConfig applies the replica settings of a topic config change
// and of the node (replica.lag.time.max.ms).
func (p *Partition) setReplicaConfig(minISR int, lag time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replica.cfg.MinISR = minISR
	if lag > 0 {
		p.replica.cfg.ReplicaLagTimeMax = lag
	}
}

// FollowerFetched records a follower's fetch from this leader at
// fetchOffset (everything below is durable on the follower).
//
// leaderEpoch is the fetch's current leader epoch (-1: unchecked, as Kafka
// takes it): the report counts only in that epoch, checked under the same
// lock as the update, so a leader that changed epochs since the request was
// checked (it lost and won back leadership, and its log may have been cut
// and rewritten meanwhile) does not count offsets of a log it no longer has.
func (p *Partition) FollowerFetched(id, leaderEpoch int32, fetchOffset, logStart int64, now time.Time) error {
	p.mu.Lock()
	stale := fetchOffset > p.replica.LogEndOffset()
	p.mu.Unlock()
	if stale {
		// The replica's view of the log end may lag the log (appends
		// report it after they return): bring it up to date before a
		// follower is judged ahead of this leader.
		p.localProgress()
	}
	p.mu.Lock()
	if ours := p.replica.LeaderEpoch(); leaderEpoch >= 0 && leaderEpoch != ours {
		p.mu.Unlock()
		return fmt.Errorf("partition %s: %w: fetched in leader epoch %d, the replica is in epoch %d", p.ID, ErrNotLeader, leaderEpoch, ours)
	}
	p.replica.followerLogStart(id, logStart)
	d, err := p.replica.FollowerFetched(id, fetchOffset, now)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("partition %s: %w", p.ID, err)
	}
	p.act(d)
	return nil
}

// Tick lets a leader shrink its ISR of followers that stopped catching up.
func (p *Partition) Tick(now time.Time) {
	p.mu.Lock()
	d := p.replica.Tick(now)
	p.mu.Unlock()
	p.act(d)
}

// FollowerHighWatermark adopts the high watermark of leader in epoch (a
// follower), unless the replica no longer follows that leader in that
// epoch: a late answer's high watermark counts another log.
func (p *Partition) FollowerHighWatermark(leader, epoch int32, hw int64) {
	p.mu.Lock()
	var d Decision
	if r := p.replica; r.Leader() == leader && r.LeaderEpoch() == epoch {
		d = r.FollowerHighWatermark(hw)
	}
	p.mu.Unlock()
	p.act(d)
}

// AppendAsFollower appends batches copied from the leader, byte for byte
// (offsets and leader epochs as the leader stamped them), and applies
// their producer fields, so a follower that becomes leader de-duplicates
// retries exactly as the old leader would have. The caller makes the
// append durable (Sync) before fetching past it: a follower's fetch
// offset is its durable log end offset.
//
// leader and epoch name the leadership the batches were fetched under:
// the append is refused unless this replica still follows that leader in
// that epoch, so a response that arrives after a leadership change (a
// late answer of an old leader) never lands.
func (p *Partition) AppendAsFollower(leader, epoch int32, batches []byte, now time.Time) (log.AppendInfo, error) {
	p.leaderMu.RLock()
	defer p.leaderMu.RUnlock()
	if err := p.checkFollowing(leader, epoch); err != nil {
		return log.AppendInfo{}, err
	}
	if err := p.offline(); err != nil {
		return log.AppendInfo{}, err
	}
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	// Consumers reading from this follower must not read the copied
	// transactions' records before they are registered (the high
	// watermark, the leader's, may already cover them).
	p.holdStableBelow(batches)
	defer p.releaseStable()
	info, err := p.log.AppendAsFollower(batches)
	if err != nil {
		return info, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	for b := batches; len(b) >= record.HeaderSize; {
		h, err := record.PeekHeader(b)
		if err != nil || h.Size() <= 0 || h.Size() > int64(len(b)) {
			break // AppendAsFollower validated the framing
		}
		p.observeBatch(h, b[:h.Size()], now.UnixMilli())
		b = b[h.Size():]
	}
	p.delayed.Notify(p.ID, LogEndMoved)
	p.localProgress()
	return info, nil
}

// SyncTo makes the log durable up to offset (a follower before it reports
// the offset to its leader) and records the progress.
func (p *Partition) SyncTo(ctx context.Context, offset int64) error {
	if err := p.log.Sync(ctx, offset); err != nil {
		return fmt.Errorf("partition %s: %w", p.ID, err)
	}
	p.localProgress()
	return nil
}

// TruncateTo cuts the log to end at offset (a follower dropping a tail the
// leader does not have, KIP-101) and rebuilds the producer state from the
// log, since the cut batches' sequences are gone.
//
// It is refused unless this replica still follows leader in epoch (a
// leader never truncates its own log: a late answer to a follower's
// question must not cut a replica that leads now).
func (p *Partition) TruncateTo(leader, epoch int32, offset int64) error {
	p.leaderMu.Lock()
	defer p.leaderMu.Unlock()
	if err := p.checkFollowing(leader, epoch); err != nil {
		return err
	}
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if offset >= p.log.LogEndOffset() {
		// Nothing to cut, but the log still drops an epoch entry starting
		// at its end (one this replica assigned as a leader that never
		// appended): the new leader never had that epoch.
		if err := p.log.Truncate(offset); err != nil {
			return fmt.Errorf("partition %s: truncate to %d: %w", p.ID, offset, err)
		}
		return nil
	}
	leo := p.log.LogEndOffset()
	if err := p.log.Truncate(offset); err != nil {
		return fmt.Errorf("partition %s: truncate to %d: %w", p.ID, offset, err)
	}
	p.mu.Lock()
	hw := p.replica.HighWatermark()
	p.replica.Truncated(offset)
	p.mu.Unlock()
	// As Kafka logs "Truncating partition ... to offset": records leave
	// a log only here, so a lost record is traced from these lines.
	level, msg := slog.LevelInfo, "truncated the log to the leader's"
	if offset < hw {
		// Below the high watermark: records counted as committed are
		// gone from this replica. Only an unclean election explains it.
		level, msg = slog.LevelWarn, "truncated the log below its high watermark"
	}
	p.logger.Log(context.Background(), level, msg, "leader", leader, "leader_epoch", epoch,
		"offset", offset, "log_end_offset_before", leo, "high_watermark_before", hw)
	if err := p.loadProducers(); err != nil {
		return fmt.Errorf("partition %s: producer state after truncation: %w", p.ID, err)
	}
	return nil
}

// ISRProposal is an ISR change a leader asks the controller for
// (AlterPartition), with the epochs it is based on.
type ISRProposal struct {
	Partition      *Partition
	ISR            []int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// ISRProposalRefused forgets an ISR proposal the controller refused (or
// that was never sent), if it is still the one in flight; the next tick or
// fetch proposes again.
func (p *Partition) ISRProposalRefused(prop ISRProposal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replica.ISRProposalRefused(prop.ISR, prop.LeaderEpoch, prop.PartitionEpoch)
}

// ISRProposalInFlight reports whether prop is still the proposal in flight
// (an unanswered one is sent again only while it is).
func (p *Partition) ISRProposalInFlight(prop ISRProposal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.ISRProposalInFlight(prop.ISR, prop.LeaderEpoch, prop.PartitionEpoch)
}

// DurableEnd is the offset below which this replica's log is durable: what
// a follower may report to its leader as held (its fetch offset), since
// the leader counts it towards the high watermark.
func (p *Partition) DurableEnd() int64 {
	_, durable := p.localOffsets()
	return durable
}

// FetchPosition returns what a follower of leader in epoch reports in its
// next fetch: its durable end (the fetch offset, which the leader counts
// towards its high watermark) and its log start offset. It refuses
// (ErrNotFollowing) once the replica no longer follows that leader in that
// epoch, atomically with leadership changes (leaderMu): a fetch built by a
// round that began before this replica led, or followed another leader,
// would otherwise report a log end holding that epoch's records to the old
// leader, which, not yet told it was replaced, would count records it does
// not have at those offsets as replicated and acknowledge its own.
func (p *Partition) FetchPosition(leader, epoch int32) (fetchOffset, logStart int64, err error) {
	p.leaderMu.RLock()
	defer p.leaderMu.RUnlock()
	if err := p.checkFollowing(leader, epoch); err != nil {
		return 0, 0, err
	}
	return p.DurableEnd(), p.log.LogStartOffset(), nil
}

// ReadToEnd reads whole batches from offset up to the log end offset, for
// a coordinator replaying the partition it now leads: as in Kafka, records
// the previous leader acknowledged may sit above the new leader's high
// watermark for a moment, and a coordinator that skipped them would forget
// committed offsets.
func (p *Partition) ReadToEnd(offset int64, maxBytes int32, dst []byte) ([]byte, error) {
	if err := p.offline(); err != nil {
		return dst, err
	}
	return p.log.Read(offset, maxBytes, p.log.LogEndOffset(), true, dst)
}

// FollowerEndOffset returns what this leader knows of a follower's log end
// offset (-1: unknown).
func (p *Partition) FollowerEndOffset(id int32) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.FollowerEndOffset(id)
}

// FollowerCaughtUp returns when this leader last saw follower id caught
// up with its log end; zero when unknown.
func (p *Partition) FollowerCaughtUp(id int32) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.FollowerCaughtUp(id)
}

// ReadForFollower reads whole batches from offset up to the log end
// offset (followers copy what consumers may not see yet), pinned as
// ReadSlices pins them.
func (p *Partition) ReadForFollower(offset int64, maxBytes int32) (*log.FileSlices, error) {
	if err := p.offline(); err != nil {
		return nil, err
	}
	return p.log.ReadSlices(offset, maxBytes, p.log.LogEndOffset(), true)
}

// LatestEpoch returns the leader epoch of the last batch in the log (-1:
// empty), which a follower asks its leader about (OffsetForLeaderEpoch)
// before fetching, to find where their logs diverge.
func (p *Partition) LatestEpoch() int32 { return p.log.LatestEpoch() }

// Tick lets every hosted leader shrink its ISR of followers that stopped
// catching up (replica.lag.time.max.ms).
func (m *Manager) Tick(now time.Time) {
	for _, p := range m.All() {
		p.Tick(now)
	}
}

// SetISRProposer sets who sends the hosted leaders' ISR changes to the
// controller, for the replicas hosted now and later.
func (m *Manager) SetISRProposer(f func(ISRProposal)) {
	m.mu.Lock()
	m.proposer = &f
	for _, p := range m.parts {
		p.proposer.Store(m.proposer)
	}
	m.mu.Unlock()
}

// ResetTo empties the log and restarts it at offset (a follower that fell
// behind the leader's log start offset), with no producer state.
func (p *Partition) ResetTo(leader, epoch int32, offset int64) error {
	p.leaderMu.Lock()
	defer p.leaderMu.Unlock()
	if err := p.checkFollowing(leader, epoch); err != nil {
		return err
	}
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return fmt.Errorf("partition %s: reset to %d: %w", p.ID, offset, err)
	}
	p.mu.Lock()
	p.replica.Truncated(offset)
	p.replica.LocalAppended(offset, offset)
	p.mu.Unlock()
	return p.loadProducers()
}

// highWatermarkFile holds a partition's high watermark as last
// checkpointed: "0" (the format version) and the offset, one per line.
const highWatermarkFile = "high-watermark-checkpoint"

// highWatermarkCheckpointInterval is Kafka's
// replica.high.watermark.checkpoint.interval.ms default.
const highWatermarkCheckpointInterval = 5 * time.Second

// readHighWatermark reads the checkpoint in dir (false: none, or damaged).
func readHighWatermark(fsys vfs.FS, dir string) (int64, bool) {
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, highWatermarkFile))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "0" {
		return 0, false
	}
	hw, err := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err != nil || hw < 0 {
		return 0, false
	}
	return hw, true
}

// checkpointHighWatermark writes the high watermark when it moved since
// the last checkpoint. A failure only costs a lower start after a crash.
// Caller holds hwMu.
func (p *Partition) checkpointHighWatermark() {
	hw := p.HighWatermark()
	if hw == p.hwCheckpoint {
		return
	}
	if err := metadata.WriteFileAtomic(p.fs, filepath.Join(p.log.Dir(), highWatermarkFile), []byte("0\n"+strconv.FormatInt(hw, 10)+"\n")); err != nil {
		p.logger.Warn("writing the high-watermark checkpoint failed", "err", err)
		return
	}
	p.hwCheckpoint = hw
}

// ErrNotFollowing: a replica was asked to copy from or truncate for a
// leadership it no longer follows.
var ErrNotFollowing = errors.New("the replica no longer follows that leader in that epoch")

// checkFollowing refuses unless the replica follows leader in epoch; the
// caller holds leaderMu.
func (p *Partition) checkFollowing(leader, epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.replica
	if r.Role() != RoleFollower || r.Leader() != leader || r.LeaderEpoch() != epoch {
		return fmt.Errorf("partition %s: %w: asked for leader %d epoch %d, the replica is %s of %d in epoch %d",
			p.ID, ErrNotFollowing, leader, epoch, r.Role(), r.Leader(), r.LeaderEpoch())
	}
	return nil
}
