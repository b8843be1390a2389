package replication

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/kconn"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
)

// fetchVersion is the Fetch version followers send: the newest that names
// topics by name (v13 switches to topic IDs).
const fetchVersion = 12

// followed is one partition a fetcher copies.
type followed struct {
	part    *partition.Partition
	topicID metadata.TopicID
	epoch   int32 // the leader epoch it follows in
	// truncated: the log was checked against the leader in this epoch
	// (OffsetForLeaderEpoch) and cut where it diverged.
	truncated bool
	backoff   time.Time // fetch again only after this (after an error)
	// caughtUp: the last fetch left this replica at the leader's high
	// watermark (Kafka's PartitionFetchState.isReplicaInSync, lag 0);
	// such a replica is never held back by the follower throttle.
	caughtUp bool
}

// fetcher copies the partitions one leader leads. Its goroutine (run) owns
// the connection; the partition set is guarded by mu.
type fetcher struct {
	m      *Manager
	leader int32

	mu    sync.Mutex // guards parts and cur
	parts map[partition.ID]*followed
	// cur is the connection of the fetch in flight: a partition added
	// meanwhile cuts its long poll short, so the new partition is not
	// left waiting for replica.fetch.wait.max.ms.
	cur  *kconn.Conn
	gen  uint64        // counts adds: a round built before one is stale
	wake chan struct{} // a partition was added
	// warnedAt is when run last logged that the leader has no address
	// (owned by run).
	warnedAt time.Time
	quit     chan struct{}
	once     sync.Once
}

func newFetcher(m *Manager, leader int32) *fetcher {
	return &fetcher{m: m, leader: leader, parts: map[partition.ID]*followed{}, wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (f *fetcher) add(part *partition.Partition, topicID metadata.TopicID, epoch int32) {
	f.mu.Lock()
	cur := f.parts[part.ID]
	if cur == nil || cur.epoch != epoch || cur.part != part {
		f.parts[part.ID] = &followed{part: part, topicID: topicID, epoch: epoch}
		f.gen++
		if f.cur != nil {
			f.cur.Interrupt() // the round ends; the next one has the partition
		}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// remove stops copying a partition and returns how many are left.
func (f *fetcher) remove(id partition.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, id)
	return len(f.parts)
}

func (f *fetcher) stop() { f.once.Do(func() { close(f.quit) }) }

// snapshot returns the partitions to fetch now, sorted, the add count it
// reflects, and how long until the first partition backing off may be
// fetched again (0 when none is).
func (f *fetcher) snapshot(now time.Time) ([]*followed, uint64, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*followed, 0, len(f.parts))
	var next time.Duration
	for _, p := range f.parts {
		if wait := p.backoff.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].part.ID.Topic != out[j].part.ID.Topic {
			return out[i].part.ID.Topic < out[j].part.ID.Topic
		}
		return out[i].part.ID.Partition < out[j].part.ID.Partition
	})
	return out, f.gen, next
}

func (f *fetcher) sleep(d time.Duration) bool {
	select {
	case <-f.quit:
		return false
	case <-f.m.ctx.Done():
		return false
	case <-f.wake:
		return true
	case <-time.After(d):
		return true
	}
}

func (f *fetcher) run() {
	var c *kconn.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	clientID := fmt.Sprintf("fjord-replica-%d", f.m.cfg.NodeID)
	for {
		select {
		case <-f.quit:
			return
		case <-f.m.ctx.Done():
			return
		default:
		}
		parts, gen, next := f.snapshot(time.Now())
		if len(parts) == 0 {
			// Until the first partition's backoff ends (a short one after
			// a failover), at most replica.fetch.backoff.ms.
			wait := f.m.cfg.Backoff
			if next > 0 {
				wait = min(wait, next)
			}
			if !f.sleep(wait) {
				return
			}
			continue
		}
		if c == nil {
			addr, ok := f.m.leaderAddr(f.leader)
			var err error
			if ok {
				ctx, cancel := context.WithTimeout(f.m.ctx, 3*time.Second)
				c, err = kconn.Dial(ctx, addr, f.m.cfg.SourceHost, clientID)
				cancel()
			}
			if !ok && time.Since(f.warnedAt) > time.Minute {
				f.warnedAt = time.Now()
				f.m.logger.Warn("the leader has no endpoint on the inter-broker listener; its partitions are not copied",
					"leader", f.leader, "listener", f.m.cfg.Listener)
			}
			if !ok || err != nil {
				c = nil
				if !f.sleep(min(f.m.cfg.Backoff, 200*time.Millisecond)) {
					return
				}
				continue
			}
		}
		f.mu.Lock()
		if f.gen != gen {
			// A partition was added since the snapshot, too early for
			// add to cut this round short: take it in now.
			f.mu.Unlock()
			continue
		}
		f.cur = c
		f.mu.Unlock()
		held, err := f.round(c, parts)
		f.mu.Lock()
		f.cur = nil
		f.mu.Unlock()
		if err == nil && held {
			// Every partition ready to fetch is held back by the
			// follower throttle: wait for the rate to fall (Kafka's
			// fetcher waits replica.fetch.backoff.ms on an empty
			// fetch; a shorter wait keeps the rate closer to the bound).
			if !f.sleep(min(f.m.cfg.Backoff, throttleWait)) {
				return
			}
			continue
		}
		if err != nil {
			if f.m.ctx.Err() == nil {
				f.m.logger.Debug("replica fetch failed", "leader", f.leader, "err", err)
			}
			c.Close()
			c = nil
			if !f.sleep(min(f.m.cfg.Backoff, 200*time.Millisecond)) {
				return
			}
		}
	}
}

// throttleWait is the longest a fetcher waits when the follower throttle
// holds back every partition it would fetch.
const throttleWait = 100 * time.Millisecond

// round truncates what needs it, then fetches once and applies the answer.
// held reports that nothing was fetched because the follower throttle held
// every partition back.
//
// Follower throttle (Kafka's ReplicaFetcherThread shouldFollowerThrottle):
// a partition its topic's follower.replication.throttled.replicas lists for
// this node (or "*") is left out of the fetch while the node's follower
// quota is exceeded, unless the replica caught up with the leader's high
// watermark in its last fetch; the others are fetched as usual, so they
// are never starved. The bytes fetched for listed partitions are recorded
// against the quota. Being left out only delays a replica: it keeps its
// log, and the leader's ISR rule (replica.lag.time.max.ms) is unchanged.
func (f *fetcher) round(c *kconn.Conn, parts []*followed) (held bool, err error) {
	if err := f.truncate(c, parts); err != nil {
		return false, err
	}
	now := time.Now()
	q := f.m.cfg.Quota
	exceeded, asked := false, false
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = f.m.cfg.NodeID
	req.MaxWaitMillis = int32(f.m.cfg.WaitMax / time.Millisecond)
	req.MinBytes = max(f.m.cfg.MinBytes, 1)
	req.MaxBytes = f.m.cfg.ResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	byTopic := map[string]int{}
	sent := map[partition.ID]*followed{}
	var throttled map[partition.ID]bool // made only when a partition is throttled
	for _, p := range parts {
		if !p.truncated {
			continue
		}
		if q != nil && p.part.Config().FollowerThrottled(p.part.ID.Partition, f.m.cfg.NodeID) {
			if throttled == nil {
				throttled = map[partition.ID]bool{}
			}
			throttled[p.part.ID] = true
			if !p.caughtUp {
				if !asked {
					asked, exceeded = true, q.Exceeded(now)
				}
				if exceeded {
					held = true
					continue
				}
			}
		}
		// The fetch offset tells the leader what this replica holds
		// durably (it counts towards the high watermark): the durable
		// end, never an unsynced log end (a sync that failed last round
		// leaves the two apart; the leader sends the gap again). Read
		// only while the replica still follows this leader in this
		// epoch: the round's partitions were taken before its
		// OffsetForLeaderEpoch or dial, which can wait seconds on a
		// partitioned network.
		fetchOffset, logStart, err := p.part.FetchPosition(f.leader, p.epoch)
		if err != nil {
			continue // leadership moved: the metadata moves the partition
		}
		i, ok := byTopic[p.part.ID.Topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.part.ID.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.part.ID.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = p.part.ID.Partition, p.epoch
		rp.FetchOffset, rp.LogStartOffset = fetchOffset, logStart
		rp.PartitionMaxBytes = f.m.cfg.FetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		sent[p.part.ID] = p
	}
	if len(sent) == 0 {
		return held, nil
	}
	resp := kmsg.NewPtrFetchResponse()
	if err := c.Request(req, resp, f.m.cfg.WaitMax+10*time.Second); err != nil {
		return false, err
	}
	if resp.ErrorCode != 0 {
		return false, kerr.ErrorForCode(resp.ErrorCode)
	}
	now = time.Now()
	var throttledBytes int64
	var synced []*followed
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := sent[partition.ID{Topic: t.Topic, Partition: rp.Partition}]
			if p == nil {
				continue
			}
			if throttled[p.part.ID] {
				throttledBytes += int64(len(rp.RecordBatches))
			}
			if err := f.apply(p, &rp, now); err != nil {
				f.m.logger.Warn("applying a fetched partition failed", "topic", t.Topic, "partition", rp.Partition, "err", err)
				f.backoff(p)
				continue
			}
			p.caughtUp = rp.ErrorCode == 0 && p.part.LogEndOffset() >= rp.HighWatermark
			if len(rp.RecordBatches) > 0 {
				synced = append(synced, p)
			}
		}
	}
	if q != nil {
		q.Record(now, throttledBytes)
	}
	// Durable before the next fetch reports the new offsets.
	ctx, cancel := context.WithTimeout(f.m.ctx, time.Minute)
	defer cancel()
	for _, p := range synced {
		if err := p.part.SyncTo(ctx, p.part.LogEndOffset()); err != nil {
			return false, err
		}
	}
	return false, nil
}

// apply appends one partition's fetched batches and adopts the leader's
// high watermark.
func (f *fetcher) apply(p *followed, rp *kmsg.FetchResponseTopicPartition, now time.Time) error {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		if p.part.LogEndOffset() < rp.LogStartOffset {
			// Behind the leader's log start (retention): restart there.
			return p.part.ResetTo(f.leader, p.epoch, rp.LogStartOffset)
		}
		p.truncated = false // ahead of the leader: find the divergence again
		return nil
	case epochError(err):
		// The leader has not applied this epoch yet (or has moved on:
		// then the metadata moves the partition): ask again soon.
		f.backoffFor(p, min(f.m.cfg.Backoff, leaderBehindBackoff))
		return nil
	default:
		f.backoff(p)
		return nil
	}
	if len(rp.RecordBatches) > 0 {
		if _, err := p.part.AppendAsFollower(f.leader, p.epoch, rp.RecordBatches, now); err != nil {
			// The leader's batch starts below this log's end: this log
			// ends inside it, so the two differ there. Cut to the
			// leader's batch start (the leader's log is the truth below
			// it too, and the fetch brings it back) and append again.
			h, herr := record.PeekHeader(rp.RecordBatches)
			if herr == nil && h.BaseOffset < p.part.LogEndOffset() {
				if terr := p.part.TruncateTo(f.leader, p.epoch, h.BaseOffset); terr != nil {
					return terr
				}
				if _, err = p.part.AppendAsFollower(f.leader, p.epoch, rp.RecordBatches, now); err == nil {
					p.part.FollowerHighWatermark(f.leader, p.epoch, rp.HighWatermark)
					return nil
				}
			}
			p.truncated = false
			return err
		}
	}
	p.part.FollowerHighWatermark(f.leader, p.epoch, rp.HighWatermark)
	return nil
}

func (f *fetcher) backoff(p *followed) { f.backoffFor(p, min(f.m.cfg.Backoff, 500*time.Millisecond)) }

// leaderBehindBackoff is how long a partition waits after the leader
// answered that it does not lead it in this epoch yet (NOT_LEADER,
// FENCED or UNKNOWN_LEADER_EPOCH): after a failover the follower often
// learns of the new leader before the leader applies the change itself,
// a matter of milliseconds; waiting the full backoff there delayed the new
// leader's first acks=all write by half a second.
const leaderBehindBackoff = 50 * time.Millisecond

func (f *fetcher) backoffFor(p *followed, d time.Duration) {
	f.mu.Lock()
	p.backoff = time.Now().Add(d)
	f.mu.Unlock()
}

// epochError reports errors that mean the leader has not applied (or has
// moved past) the leadership this follower fetches under.
func epochError(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch) || errors.Is(err, kerr.UnknownLeaderEpoch)
}

// truncate asks the leader, for every partition not checked in its epoch,
// where the follower's latest epoch ends on the leader, and cuts the log
// there (KIP-101).
func (f *fetcher) truncate(c *kconn.Conn, parts []*followed) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = f.m.cfg.NodeID
	byTopic := map[string]int{}
	asked := map[partition.ID]*followed{}
	for _, p := range parts {
		if p.truncated {
			continue
		}
		last := p.part.LatestEpoch()
		if last < 0 {
			p.truncated = true // an empty log has nothing to cut
			continue
		}
		i, ok := byTopic[p.part.ID.Topic]
		if !ok {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = p.part.ID.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.part.ID.Topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.part.ID.Partition, p.epoch, last
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[p.part.ID] = p
	}
	if len(asked) == 0 {
		return nil
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := c.Request(req, resp, 10*time.Second); err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := asked[partition.ID{Topic: t.Topic, Partition: rp.Partition}]
			if p == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				if epochError(kerr.ErrorForCode(rp.ErrorCode)) {
					f.backoffFor(p, min(f.m.cfg.Backoff, leaderBehindBackoff))
				} else {
					f.backoff(p)
				}
				continue
			}
			// KIP-279: the leader answers with the largest epoch it has at
			// or below ours and where that epoch ends on it; this log is
			// cut where it and the leader last agree: the smaller of that
			// end and this log's own end of the same epoch.
			to := rp.EndOffset
			switch {
			case rp.LeaderEpoch < 0 || to < 0:
				// The leader has no epoch at or below ours: keep only
				// what is known committed (the high watermark, a true
				// lower bound: checkpointed, never raised by this
				// replica on its own copy).
				to = p.part.HighWatermark()
			default:
				if ep, end := p.part.EndOffsetForEpoch(rp.LeaderEpoch); ep == rp.LeaderEpoch {
					to = min(to, end)
				}
			}
			if err := p.part.TruncateTo(f.leader, p.epoch, min(to, p.part.LogEndOffset())); err != nil {
				if errors.Is(err, partition.ErrNotFollowing) {
					f.backoff(p) // leadership moved: the metadata moves the partition
					continue
				}
				return err
			}
			p.truncated = true
		}
	}
	return nil
}
