package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// ID names a topic partition.
type ID struct {
	Topic     string
	Partition int32
}

func (id ID) String() string { return fmt.Sprintf("%s-%d", id.Topic, id.Partition) }

// Partition is one hosted replica; in standalone mode always the leader.
type Partition struct {
	ID      ID
	TopicID [16]byte
	log     *log.Log
	fs      vfs.FS               // the log's (opts.FS), for the files beside it; never nil
	decomp  *record.Decompressor // shared by the node's partitions
	logger  *slog.Logger

	// produceMu makes the sequence check of an idempotent batch, its log
	// append and the producer state update one step, so two retries of
	// one batch cannot both pass the check. It is held across log.Append
	// (and snapshot writes); mu may be taken under it, never the reverse.
	// It guards the fields below up to mu.
	produceMu  sync.Mutex
	producers  producerStates
	snapOffset int64 // offset of the newest snapshot written or loaded, -1 if none
	dirty      bool  // producers changed since that snapshot
	closed     bool  // Close ran: no more snapshots
	// producerIDExpiration is producer.id.expiration.ms.
	producerIDExpiration time.Duration
	lastExpiryCheck      time.Time

	// txnMu guards txns, which changes under produceMu too (taken under
	// it, never held across I/O), so a read_committed fetch asking the
	// last stable offset never waits for an append's fsync.
	txnMu sync.Mutex
	txns  txnState
	// guards are the verifications of producers' next transactions
	// (VerificationGuard, AllowTransaction), until their first batch
	// here or a marker. Guarded by produceMu.
	guards   map[int64]txnGuard
	guardSeq uint64

	// delayed wakes the operations parked on this partition; shared by
	// the Manager's replicas.
	delayed *Delayed
	// health is the log directory's (nil for a replica opened alone).
	health *dirHealth

	// hwMu orders the high-watermark checkpoint writes (Maintain, then the
	// last one in Close) against Close and Delete: a closed or deleted
	// partition's folder (perhaps reused by a new topic of the same name)
	// never gets a late checkpoint. It guards the fields below; it is
	// taken under produceMu (Close), never the reverse, and is not held by
	// produces, so a checkpoint's fsync does not stall them.
	hwMu           sync.Mutex
	hwCheckpoint   int64 // the high watermark last written
	hwCheckpointAt time.Time
	hwClosed       bool

	// proposer sends ISR changes to the controller (set by the Manager).
	proposer atomic.Pointer[func(ISRProposal)]
	// isrStats counts this node's committed ISR changes as a leader;
	// shared by the Manager's partitions, nil for a lone partition.
	isrStats *ISRStats

	// leaderMu is held shared by appends (from the leadership check to
	// the end of the write) and exclusively by leadership changes and
	// truncation, so no write straddles a change of leader epoch (Kafka's
	// leaderIsrUpdateLock). Order: leaderMu, then produceMu, then mu.
	leaderMu sync.RWMutex

	mu      sync.Mutex // guards the fields below
	cfg     config.Topic
	replica *Replica // role, leader epoch, ISR, high watermark: the pure core
}

// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms default
// (one day).
const DefaultProducerIDExpiration = 24 * time.Hour

// producerExpiryCheckInterval is how often idle producers are looked for:
// Kafka's producer.id.expiration.check.interval.ms default.
const producerExpiryCheckInterval = 10 * time.Minute

// Open opens (recovering if needed) the replica's log in dir and rebuilds
// the idempotent producers' state: the newest usable snapshot, then the
// batch headers after it (see loadProducers). The replica starts as the
// leader of a partition of one replica, localID, at leaderEpoch: a
// standalone partition's state, which ApplyLeadership then replaces with
// what the metadata says. Every file, the log's and those beside it
// (producer snapshots, the high-watermark checkpoint), is reached through
// opts.FS (nil: the operating system's).
func Open(id ID, topicID [16]byte, dir string, cfg config.Topic, localID, leaderEpoch int32, opts log.Options, decomp *record.Decompressor) (*Partition, error) {
	p, err := openReplica(id, topicID, dir, cfg, localID, opts, decomp)
	if err != nil {
		return nil, err
	}
	p.replica.ApplyLeadership(Leadership{Leader: localID, LeaderEpoch: leaderEpoch, Replicas: []int32{localID}, ISR: []int32{localID}}, time.Now())
	return p, nil
}

// openReplica is Open without a leadership: the replica has no role until
// ApplyLeadership gives it the metadata's (so a follower's high watermark
// never moves on its own copy first).
func openReplica(id ID, topicID [16]byte, dir string, cfg config.Topic, localID int32, opts log.Options, decomp *record.Decompressor) (*Partition, error) {
	if opts.FS == nil {
		opts.FS = vfs.OS()
	}
	l, err := log.Open(dir, LogConfig(cfg), opts)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Partition{ID: id, TopicID: topicID, log: l, fs: opts.FS, decomp: decomp, cfg: cfg, delayed: NewDelayed(0), guards: map[int64]txnGuard{},
		logger: logger.With("topic", id.Topic, "partition", id.Partition), producerIDExpiration: DefaultProducerIDExpiration}
	if err := p.loadProducers(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	// The high watermark restarts from its checkpoint (a lower bound of
	// what was committed: Kafka's replication-offset-checkpoint), never
	// above what is durable here; without one, from the log start. It is
	// never raised on this replica's own copy alone except by a leader
	// whose ISR is itself (a standalone partition: at once, to its
	// durable end), so a follower cannot truncate to an inflated one.
	leo, durable := p.localOffsets()
	hw := min(l.LogStartOffset(), durable)
	if ck, ok := readHighWatermark(p.fs, dir); ok {
		hw = max(hw, min(ck, durable))
	}
	p.hwCheckpoint = hw
	p.replica = NewReplica(ReplicaConfig{LocalID: localID, MinISR: int(cfg.MinInsyncReplicas), ReplicaLagTimeMax: DefaultReplicaLagTimeMax},
		hw, leo, durable)
	return p, nil
}

// SetProducerIDExpiration sets producer.id.expiration.ms: producers that
// have not written for d are forgotten by Maintain. Non-positive values
// are ignored.
func (p *Partition) SetProducerIDExpiration(d time.Duration) {
	if d <= 0 {
		return
	}
	p.produceMu.Lock()
	p.producerIDExpiration = d
	p.produceMu.Unlock()
}

// ProducerCount returns how many idempotent producers the partition
// remembers.
func (p *Partition) ProducerCount() int {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	return p.producers.len()
}

// LogConfig translates topic configuration into the storage engine's.
func LogConfig(c config.Topic) log.Config {
	policy, err := log.ParseCleanupPolicy(strings.Join(c.CleanupPolicy, ","))
	if err != nil {
		policy = log.PolicyDelete // config validated the list; unreachable
	}
	return log.Config{
		SegmentBytes:           int64(c.SegmentBytes),
		SegmentMs:              c.SegmentMs,
		RetentionMs:            c.RetentionMs,
		RetentionBytes:         c.RetentionBytes,
		IndexIntervalBytes:     c.IndexIntervalBytes,
		SegmentIndexBytes:      c.SegmentIndexBytes,
		FlushMessages:          c.FlushMessages,
		FlushMs:                c.FlushMs,
		CleanupPolicy:          policy,
		DeleteRetention:        c.DeleteRetention,
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
		MinCompactionLag:       c.MinCompactionLag,
		MaxCompactionLag:       c.MaxCompactionLag,
	}
}

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the offset the next appended record gets.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// Size is the log's size on disk in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// MaxTimestamp returns the largest record timestamp and its offset
// (ListOffsets -3).
func (p *Partition) MaxTimestamp() (timestamp, offset int64) { return p.log.MaxTimestamp() }

// OffsetForTimestamp finds the first record at or after ts (log.Log's).
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	return p.log.OffsetForTimestamp(ts)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader-epoch
// cache: the largest epoch at or below epoch and the offset where the
// epoch after it begins (or the log end offset).
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.log.EndOffsetForEpoch(epoch)
}

// Config returns the topic configuration in force.
func (p *Partition) Config() config.Topic {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// SetConfig applies a live topic configuration change.
func (p *Partition) SetConfig(cfg config.Topic) {
	p.mu.Lock()
	p.cfg = cfg
	p.replica.SetMinISR(int(cfg.MinInsyncReplicas))
	p.mu.Unlock()
	p.log.SetConfig(LogConfig(cfg))
}

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.LeaderEpoch()
}

// HighWatermark returns the offset below which records are committed and
// visible to consumers.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.HighWatermark()
}

// Delayed returns the registry that wakes operations parked on this
// partition.
func (p *Partition) Delayed() *Delayed { return p.delayed }

// localOffsets returns the log end offset and the offset below which the
// log counts as durable: the flushed offset when appends must be fsynced
// before they count (Fjord's default), else the log end offset (Kafka's
// page-cache durability).
func (p *Partition) localOffsets() (leo, durable int64) {
	leo = p.log.LogEndOffset()
	if p.log.DurableOnAppend() {
		return leo, p.log.FlushedOffset()
	}
	return leo, leo
}

// localProgress hands the log's end and durable offsets to the replica
// state machine and acts on what it decides.
func (p *Partition) localProgress() {
	leo, durable := p.localOffsets()
	p.mu.Lock()
	d := p.replica.LocalAppended(leo, durable)
	p.mu.Unlock()
	p.act(d)
}

// act carries out a decision of the replica state machine.
func (p *Partition) act(d Decision) {
	if d.HighWatermarkMoved {
		p.delayed.Notify(p.ID, HighWatermarkMoved)
	}
	if d.ProposeISR != nil {
		// As Kafka logs "Shrinking ISR" and "Expanding ISR".
		p.logger.Info("proposing an ISR change", "isr", d.ProposeISR, "leader_epoch", d.LeaderEpoch, "partition_epoch", d.PartitionEpoch)
		prop := ISRProposal{Partition: p, ISR: d.ProposeISR, LeaderEpoch: d.LeaderEpoch, PartitionEpoch: d.PartitionEpoch}
		if f := p.proposer.Load(); f != nil {
			(*f)(prop)
		} else {
			// Nobody to tell (a partition opened outside a manager):
			// forget it, the next tick proposes again.
			p.ISRProposalRefused(prop)
		}
	}
}

// Append validates batches (the Records of one produce partition) against
// the topic configuration, stamps broker offsets and writes them. The
// returned Pending must be awaited before acknowledging with acks != 0.
//
// A batch from an idempotent producer (producer ID >= 0) must come alone.
// Its sequence is checked against the producer's state: a retry of one of
// the producer's last five batches is not written again but answered with
// the original's offsets (Pending.Duplicate; Wait still waits for the
// original to be durable); other violations return errors wrapping
// ErrOutOfOrderSequence or ErrInvalidProducerEpoch.
func (p *Partition) Append(batches []byte, now time.Time) (Pending, error) {
	return p.AppendAt(batches, -1, now)
}

// AppendAt is Append fenced by a leader epoch: with leaderEpoch >= 0 the
// write is refused (ErrNotLeader) unless the replica still leads in that
// epoch. A coordinator appends with the epoch it loaded its partition in,
// so none of its writes lands after leadership moved on; its
// transactional batches (TxnOffsetCommit) have their producer epoch
// checked, not their sequences, and still need AllowTransaction to open
// a transaction. The check and
// the append happen under leaderMu, which a leadership change takes
// exclusively: no append straddles one.
func (p *Partition) AppendAt(batches []byte, leaderEpoch int32, now time.Time) (Pending, error) {
	cfg := p.Config()
	opts := record.ValidateOptions{
		MaxBatchBytes:      cfg.MaxMessageBytes,
		MaxTimestampBefore: timestampWindow(cfg.MessageTimestampBeforeMax),
		MaxTimestampAfter:  timestampWindow(cfg.MessageTimestampAfterMax),
		Now:                now,
		RequireKeys:        cfg.Compact(),
		Decompressor:       p.decomp,
	}
	if cfg.MessageTimestampType == "LogAppendTime" {
		opts.TimestampType = record.LogAppendTime
	}
	sum, err := record.Validate(batches, opts)
	if err != nil {
		return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	if sum.HeaderMaxTimestampMismatch && opts.TimestampType == record.CreateTime {
		// The time index trusts batch headers; correct a client's wrong
		// maxTimestamp from the records, as Kafka does.
		if err := fixMaxTimestamps(batches, p.decomp); err != nil {
			return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
		}
	}
	appendTime := int64(-1)
	if cfg.MessageTimestampType == "LogAppendTime" {
		appendTime = now.UnixMilli()
	}
	p.leaderMu.RLock()
	defer p.leaderMu.RUnlock()
	if err := p.checkLeader(leaderEpoch); err != nil {
		return Pending{}, err
	}
	var info log.AppendInfo
	if sum.First.HasProducerID() || sum.Batches > 1 && anyProducerID(batches) {
		if sum.Batches != 1 {
			return Pending{}, fmt.Errorf("partition %s: %w: %d batches in one append, one from an idempotent producer: such batches come one per partition",
				p.ID, record.ErrInvalidRecord, sum.Batches)
		}
		var dup bool
		info, dup, err = p.appendIdempotent(batches, sum.First, appendTime, now, leaderEpoch >= 0)
		if err != nil {
			return Pending{}, err
		}
		if dup {
			return p.pending(info, true), nil
		}
	} else {
		info, err = p.log.Append(batches, p.LeaderEpoch(), appendTime)
		if err != nil {
			return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
		}
	}
	if info.Rolled {
		// A new segment: snapshot the producer state, so that recovery
		// after a crash replays at most about one segment of headers.
		p.produceMu.Lock()
		if err := p.snapshotLocked(); err != nil {
			p.logger.Warn("writing producer state snapshot failed; recovery will replay more of the log", "err", err)
		}
		p.produceMu.Unlock()
	}
	return p.pending(info, false), nil
}

// anyProducerID reports whether any of the (validated) batches carries a
// producer ID.
func anyProducerID(batches []byte) bool {
	for len(batches) >= record.HeaderSize {
		h, err := record.PeekHeader(batches)
		if err != nil || h.HasProducerID() {
			return err == nil
		}
		batches = batches[min(h.Size(), int64(len(batches))):]
	}
	return false
}

// appendIdempotent checks the batch of an idempotent producer against its
// state, appends it unless it is a duplicate, and records it, all under
// produceMu. A duplicate returns the original's offsets and dup=true.
func (p *Partition) appendIdempotent(batch []byte, h record.Header, appendTime int64, now time.Time, byCoordinator bool) (log.AppendInfo, bool, error) {
	pb := producerBatchOf(h)
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	var orig batchMetadata
	var dup bool
	var err error
	if byCoordinator {
		// A coordinator's transactional write (TxnOffsetCommit): only
		// the epoch is checked, as Kafka checks an AppendOrigin
		// COORDINATOR batch; its sequences mean nothing.
		if e := p.producers.m[pb.producerID]; e != nil && pb.epoch < e.epoch {
			err = fmt.Errorf("%w: producer %d epoch %d is older than its current epoch %d", ErrInvalidProducerEpoch, pb.producerID, pb.epoch, e.epoch)
		}
	} else {
		orig, dup, err = p.producers.check(pb)
	}
	opens := false // the batch opens the producer's transaction here
	if err == nil && !dup {
		open := p.inTransaction(pb.producerID)
		switch {
		case open:
			err = p.joinsOpenTransaction(pb.producerID, pb.epoch, h.IsTransactional())
		case h.IsTransactional() && !open:
			if g, ok := p.guards[pb.producerID]; !ok || g.epoch != pb.epoch {
				err = fmt.Errorf("%w: producer %d epoch %d: no transaction verified with its coordinator for this partition", ErrInvalidTxnState, pb.producerID, pb.epoch)
			}
			opens = true
		}
	}
	if err == nil && opens {
		// The transaction counts as open from before the append: the
		// high watermark may pass the batch before this returns, and a
		// read_committed fetch must not read it meanwhile. The log end
		// now is a lower bound of the batch's offset.
		p.txnMu.Lock()
		p.txns.data(pb.producerID, p.log.LogEndOffset())
		p.txnMu.Unlock()
	}
	if err != nil {
		return log.AppendInfo{}, false, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	if dup {
		return log.AppendInfo{
			BaseOffset:           orig.firstOffset,
			LastOffset:           orig.lastOffset(),
			LogAppendTime:        orig.appendTime,
			MaxTimestamp:         record.NoTimestamp,
			OffsetOfMaxTimestamp: -1,
			LogStartOffset:       p.log.LogStartOffset(),
		}, true, nil
	}
	info, err := p.log.Append(batch, p.LeaderEpoch(), appendTime)
	if err != nil {
		if opens {
			p.txnMu.Lock()
			delete(p.txns.ongoing, pb.producerID)
			p.txnMu.Unlock()
		}
		return info, false, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	p.producers.apply(pb, info.BaseOffset, info.LastOffset, info.LogAppendTime, now.UnixMilli())
	if opens {
		p.txnMu.Lock()
		p.txns.ongoing[pb.producerID] = info.BaseOffset
		p.txnMu.Unlock()
		delete(p.guards, pb.producerID)
	}
	p.dirty = true
	return info, false, nil
}

// pending wraps the result of an append (or the original of a duplicate)
// for the caller to await.
func (p *Partition) pending(info log.AppendInfo, dup bool) Pending {
	// Called under leaderMu (shared): the epoch is the one the append
	// was made in.
	pend := Pending{p: p, Info: info, Duplicate: dup, epoch: p.LeaderEpoch()}
	if !dup {
		// The replica state learns the new log end at once (followers
		// may copy and report it before this leader's own fsync; their
		// reports are capped at the log end it knows), and parked
		// follower fetches wake.
		p.localProgress()
		p.delayed.Notify(p.ID, LogEndMoved)
	}
	if !p.log.DurableOnAppend() {
		// Page-cache mode: counted at once, as Kafka's replicas count it.
		pend.done = p.HighWatermark() > info.LastOffset
	}
	return pend
}

// fixMaxTimestamps rewrites each batch's header maxTimestamp to the largest
// record timestamp (recomputing the CRC).
func fixMaxTimestamps(batches []byte, d *record.Decompressor) error {
	for len(batches) > 0 {
		n := record.BatchSize(batches)
		h, err := record.ParseHeader(batches)
		if err != nil {
			return err
		}
		// Validate streams a compressed batch (within the decompression
		// budget) instead of inflating it whole, and finds its largest
		// timestamp on the way.
		s, err := record.Validate(batches[:n], record.ValidateOptions{Decompressor: d, AllowControl: true, AllowEmpty: true})
		if err != nil {
			return err
		}
		if maxTS := s.MaxTimestamp; maxTS != h.MaxTimestamp {
			record.SetMaxTimestamp(batches[:n], maxTS)
		}
		batches = batches[n:]
	}
	return nil
}

// timestampWindow turns Kafka's "unlimited" (Long.MAX_VALUE ms, about 292
// million years) into 0, which Validate reads as unchecked.
func timestampWindow(d time.Duration) time.Duration {
	if d <= 0 || d > 100*365*24*time.Hour {
		return 0
	}
	return d
}

// Pending is an append not yet known to be durable.
type Pending struct {
	p     *Partition
	done  bool
	epoch int32 // the leader epoch the append was made (or found) in
	// Info describes where the batches landed. For a duplicate it holds
	// the original batch's offsets and log append time only.
	Info log.AppendInfo
	// Duplicate reports a retried idempotent batch that was already in
	// the log: nothing was written, Info names the original.
	Duplicate bool
}

// LeaderEpoch is the leader epoch the append was made (or the duplicate
// found) in.
func (w Pending) LeaderEpoch() int32 { return w.epoch }

// Wait blocks until the append (for a duplicate, the original) is durable
// as configured (group commit: concurrent waiters share one fsync) and the
// high watermark has passed it: acks=all's promise. A single replica's
// high watermark follows its flushed offset, so the wait ends with the
// fsync; the delayed-operation registry carries the wait when something
// else moves the high watermark.
func (w Pending) Wait(ctx context.Context) error {
	if w.done || w.p == nil {
		return nil
	}
	p, upTo := w.p, w.Info.LastOffset+1
	if p.log.DurableOnAppend() {
		if err := p.log.Sync(ctx, upTo); err != nil {
			return w.stillLeading(fmt.Errorf("partition %s: %w", p.ID, err))
		}
		p.localProgress()
	}
	if p.HighWatermark() >= upTo {
		return w.stillLeading(nil)
	}
	wt, err := p.delayed.Watch(HighWatermarkMoved, []ID{p.ID})
	if err != nil {
		return fmt.Errorf("partition %s: %w", p.ID, err)
	}
	defer p.delayed.Cancel(wt)
	for {
		// As Kafka's delayed produce: a replica that stopped leading (in
		// the epoch of the append: a demoted leader truncates the batch
		// and adopts its new leader's high watermark, which may pass the
		// offsets with other records), or whose ISR fell below
		// min.insync.replicas, answers at once.
		if err := w.stillLeading(nil); err != nil {
			return err
		}
		if err := p.CheckProduce(-1); err != nil {
			if errors.Is(err, ErrNotEnoughReplicas) {
				err = fmt.Errorf("%w: %w", ErrNotEnoughReplicasAfterAppend, err)
			}
			return fmt.Errorf("partition %s: %w", p.ID, err)
		}
		if p.HighWatermark() >= upTo {
			return w.stillLeading(nil)
		}
		select {
		case <-wt.C():
		case <-ctx.Done():
			return fmt.Errorf("partition %s: waiting for the high watermark to pass %d: %w", p.ID, upTo-1, ctx.Err())
		}
	}
}

// stillLeading returns err, or ErrNotLeader when the replica no longer
// leads in the epoch the append was made in: whatever its log or high
// watermark say now, the batch may have been truncated and its offsets
// reused, so it must not be acknowledged.
func (w Pending) stillLeading(err error) error {
	p := w.p
	p.mu.Lock()
	role, epoch := p.replica.Role(), p.replica.LeaderEpoch()
	p.mu.Unlock()
	if role != RoleLeader || epoch != w.epoch {
		return fmt.Errorf("partition %s: %w: the append was made in leader epoch %d, the replica is now %s in epoch %d", p.ID, ErrNotLeader, w.epoch, role, epoch)
	}
	return err
}

// WaitLeader is acks=1's wait: until the append (for a duplicate, the
// original) is durable on this leader as configured, not for the
// followers; refused as Wait is when leadership moved meanwhile.
func (w Pending) WaitLeader(ctx context.Context) error {
	if w.done || w.p == nil {
		return nil
	}
	p, upTo := w.p, w.Info.LastOffset+1
	if p.log.DurableOnAppend() {
		if err := p.log.Sync(ctx, upTo); err != nil {
			return w.stillLeading(fmt.Errorf("partition %s: %w", p.ID, err))
		}
		p.localProgress()
	}
	return w.stillLeading(nil)
}

// Read returns whole batches from offset, bounded by the high watermark
// (consumers) or the log end offset (followers, later).
func (p *Partition) Read(offset int64, maxBytes int32, minOneBatch bool, dst []byte) ([]byte, error) {
	if err := p.offline(); err != nil {
		return dst, err
	}
	return p.log.Read(offset, maxBytes, p.HighWatermark(), minOneBatch, dst)
}

// ReadSlices is Read without the copy: the file regions of the batches,
// pinned until the caller releases them (log.Log.ReadSlices).
func (p *Partition) ReadSlices(offset int64, maxBytes int32, minOneBatch bool) (*log.FileSlices, error) {
	if err := p.offline(); err != nil {
		return nil, err
	}
	return p.log.ReadSlices(offset, maxBytes, p.HighWatermark(), minOneBatch)
}

// DeleteRecordsBefore advances the log start offset; offsets above the high
// watermark are refused as Kafka refuses them, and it stops at the first
// offset of the oldest open transaction (Fjord's choice: Kafka does not
// stop there, and a read_committed consumer would then lose the start of
// a transaction it has not been allowed to read yet).
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	if !p.Config().Delete() {
		// As Kafka, and checked first as Kafka does: only a topic whose
		// cleanup.policy includes delete lets clients delete records.
		return 0, fmt.Errorf("records of partition %s can not be deleted due to the configured policy (cleanup.policy=%s): %w",
			p.ID, strings.Join(p.Config().CleanupPolicy, ","), log.ErrPolicyViolation)
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset > hw || offset < 0 {
		return 0, fmt.Errorf("partition %s: offset %d beyond high watermark %d: %w", p.ID, offset, hw, log.ErrOffsetOutOfRange)
	}
	// Never into an open transaction: its records stay until it ends.
	// The answer's low watermark says where the log now starts.
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if err := p.log.DeleteRecordsBefore(min(offset, p.firstUnstableOffset())); err != nil {
		return 0, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	return p.log.LogStartOffset(), nil
}

// Maintain runs periodic work: age-based roll, flush.ms, and retention
// when enforceRetention is set (log.retention.check.interval.ms).
func (p *Partition) Maintain(now time.Time, enforceRetention bool) error {
	if err := p.log.MaybeRoll(now); err != nil {
		return fmt.Errorf("partition %s: roll: %w", p.ID, err)
	}
	if err := p.log.FlushIfDue(now); err != nil {
		return fmt.Errorf("partition %s: flush: %w", p.ID, err)
	}
	if enforceRetention {
		// Under produceMu, so no transaction opens in between: retention
		// never deletes the records of an open transaction.
		p.produceMu.Lock()
		_, err := p.log.EnforceRetentionBelow(now, p.firstUnstableOffset())
		p.produceMu.Unlock()
		if err != nil {
			return fmt.Errorf("partition %s: retention: %w", p.ID, err)
		}
	}
	p.localProgress()
	p.Tick(now)
	p.hwMu.Lock()
	if !p.hwClosed && now.Sub(p.hwCheckpointAt) >= highWatermarkCheckpointInterval {
		p.hwCheckpointAt = now
		p.checkpointHighWatermark()
	}
	p.hwMu.Unlock()
	return p.maintainProducers(now)
}

// maintainProducers forgets producers idle for producer.id.expiration.ms
// (checked every producerExpiryCheckInterval at most) and snapshots the
// producer state when it changed and a segment was rolled since the last
// snapshot (segment.ms rolls happen here, not in Append).
func (p *Partition) maintainProducers(now time.Time) error {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if p.closed {
		return nil
	}
	if now.Sub(p.lastExpiryCheck) >= min(producerExpiryCheckInterval, p.producerIDExpiration) {
		p.lastExpiryCheck = now
		if n := p.producers.expire(now.UnixMilli(), p.producerIDExpiration.Milliseconds(), p.inTransaction); n > 0 {
			p.dirty = true
			p.logger.Debug("expired idle producers", "producers", n)
		}
	}
	if !p.dirty {
		return nil
	}
	if segs := p.log.Segments(); len(segs) > 0 && segs[len(segs)-1].BaseOffset > p.snapOffset {
		if err := p.snapshotLocked(); err != nil {
			return fmt.Errorf("partition %s: %w: %w", p.ID, log.ErrStorage, err)
		}
	}
	return nil
}

// Close closes the log and then writes a producer state snapshot at the
// log end offset, so the next open replays nothing.
func (p *Partition) Close() error {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if p.closed {
		return p.log.Close() // ErrClosed, as before
	}
	p.closed = true
	p.hwMu.Lock()
	p.hwClosed = true
	p.checkpointHighWatermark()
	p.hwMu.Unlock()
	if err := p.log.Close(); err != nil {
		return err
	}
	// A closed log takes no appends: its end offset is final and fsynced.
	if leo := p.log.LogEndOffset(); leo != p.snapOffset || p.dirty {
		if err := p.writeSnapshotLocked(leo); err != nil {
			return fmt.Errorf("partition %s: %w", p.ID, err)
		}
	}
	return nil
}

// deletedSuffix ends the name a partition folder is renamed to before it
// is removed: <topic>-<partition>.<topic ID in hex>-delete, as Kafka names
// the folders it is deleting.
const deletedSuffix = "-delete"

// Delete closes the log and removes its folder. The folder is first
// renamed out of the partition's name (<folder>.<topic ID>-delete) and the
// rename made durable, as Kafka does: a crash in the middle of the removal
// (which on a real file system unlinks one file at a time, partition.metadata
// perhaps first) then leaves a folder that RemoveOrphans deletes at
// start-up, never a partial one under the partition's name, which a topic
// created again under that name would adopt.
func (p *Partition) Delete() error {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	p.closed = true
	p.hwMu.Lock()
	p.hwClosed = true
	p.hwMu.Unlock()
	dir := p.log.Dir()
	gone := fmt.Sprintf("%s.%x%s", dir, p.TopicID, deletedSuffix)
	if err := p.fs.Rename(dir, gone); err != nil {
		return fmt.Errorf("partition %s: delete: %w", p.ID, err)
	}
	if err := metadata.SyncDir(p.fs, filepath.Dir(dir)); err != nil {
		return fmt.Errorf("partition %s: delete: %w", p.ID, err)
	}
	// The log closes its segments; its folder is gone from under it.
	if err := p.log.Delete(); err != nil {
		return fmt.Errorf("partition %s: %w", p.ID, err)
	}
	if err := p.fs.RemoveAll(gone); err != nil {
		return fmt.Errorf("partition %s: delete: %w", p.ID, err)
	}
	return nil
}
