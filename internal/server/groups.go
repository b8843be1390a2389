package server

// The group coordinator's partitions: __consumer_offsets is created on first
// start and each of its partitions is handed to the group Service with an
// Appender and a Loader over the hosted partition (coordinatorLog).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/txn"
)

// loadReadBytes bounds one read of a coordinator partition during loading.
const loadReadBytes = 1 << 20

// StartGroups creates __consumer_offsets if it does not exist and enough
// brokers are live for offsets.topic.replication.factor (else the first
// FindCoordinator creates it, with as many replicas as there are live
// brokers, up to that factor), and loads
// the partitions of it that this node leads into the group Service, which
// replays them in the background (requests meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS). From then on PublishMetadata loads and
// unloads partitions as their leadership moves. The Service's runtimes
// stop when ctx ends or the Service is closed. The transaction
// coordinator's partitions are followed the same way.
func (b *Broker) StartGroups(ctx context.Context) error {
	b.coordMu.Lock()
	b.groupsCtx = ctx
	b.coordMu.Unlock()
	// __transaction_state is created by the first FindCoordinator for a
	// transactional ID, as Kafka's; an existing one is served from now.
	if err := b.syncTransactions(b.meta.Image()); err != nil {
		return err
	}
	t := b.meta.Image().Topic(group.OffsetsTopic)
	if t == nil {
		if b.brokerCount() < int(b.cfg.Broker.OffsetsTopicReplicationFactor) {
			// Created on first use (FindCoordinator), once more brokers
			// may have joined, rather than now with too few replicas.
			return nil
		}
		var err error
		if t, err = b.ensureOffsetsTopic(); err != nil {
			return err
		}
	}
	// Groups are routed by offsets.topic.num.partitions, as in Kafka. A
	// topic with fewer partitions cannot serve them all; extra partitions
	// (added by CreatePartitions) are left unused.
	n := b.groups.NumPartitions()
	if int32(len(t.Partitions)) < n {
		return fmt.Errorf("%s has %d partitions but offsets.topic.num.partitions is %d; set it back to %d",
			group.OffsetsTopic, len(t.Partitions), n, len(t.Partitions))
	}
	if int32(len(t.Partitions)) > n {
		b.logger.Warn("__consumer_offsets has more partitions than offsets.topic.num.partitions; the extra ones are not used",
			"partitions", len(t.Partitions), "offsets.topic.num.partitions", n)
	}
	return b.syncCoordinators(b.meta.Image())
}

// PublishMetadata is the broker's metadata publisher: it follows the
// leadership of __consumer_offsets and __transaction_state partitions
// (Kafka's onElection/onResignation).
func (b *Broker) PublishMetadata(d *metadata.Delta, img *metadata.Image) {
	for _, t := range d.RemovedTopics() {
		b.cfg.Metrics.forgetTopic(t.Name)
	}
	for _, t := range d.ChangedTopics() {
		switch t.Name {
		case group.OffsetsTopic:
			if err := b.syncCoordinators(img); err != nil {
				b.logger.Error("following __consumer_offsets leadership failed", "err", err)
			}
		case txn.StateTopic:
			if err := b.syncTransactions(img); err != nil {
				b.logger.Error("following __transaction_state leadership failed", "err", err)
			}
		}
	}
}

// syncCoordinators loads the group coordinator of every __consumer_offsets
// partition this node leads and unloads the others (syncCoordinated).
func (b *Broker) syncCoordinators(img *metadata.Image) error {
	return b.syncCoordinated(img, coordinated{
		topic: group.OffsetsTopic, num: b.groups.NumPartitions(), loaded: b.coordEpochs, what: "group coordinator",
		load:   func(p, epoch int32, cl *coordinatorLog) error { return b.groups.Load(b.groupsCtx, p, cl, cl) },
		unload: b.groups.Unload,
	})
}

// coordinated is a coordinator's partitions as syncCoordinated follows them.
type coordinated struct {
	topic  string
	num    int32           // the partitions routed to
	loaded map[int32]int32 // partition -> leader epoch it was loaded in; guarded by coordMu
	what   string          // for the log
	load   func(partition, leaderEpoch int32, cl *coordinatorLog) error
	unload func(partition int32) error
}

// syncCoordinated loads the coordinator of every partition of c's topic
// this node leads and unloads the others. Each load is fenced by the
// leader epoch it was made in: the coordinator's appends fail once the
// epoch moves on, and the next sync reloads it in the new epoch.
func (b *Broker) syncCoordinated(img *metadata.Image, c coordinated) error {
	b.coordMu.Lock()
	defer b.coordMu.Unlock()
	if b.groupsCtx == nil {
		return nil // StartGroups has not run: nothing is served yet
	}
	t := img.Topic(c.topic)
	var errs []error
	for i := range c.num {
		var leads bool
		var epoch int32
		if t != nil && int(i) < len(t.Partitions) {
			p := t.Partitions[i]
			leads, epoch = p.Leader == b.cfg.NodeID, p.LeaderEpoch
		}
		loaded, ok := c.loaded[i]
		switch {
		case leads && ok && loaded == epoch:
			continue
		case ok:
			if err := c.unload(i); err != nil {
				errs = append(errs, err)
			}
			delete(c.loaded, i)
		}
		if !leads {
			continue
		}
		part := b.partitionFor(c.topic, i)
		if part == nil {
			// The image is published before its deltas are applied: the
			// partition manager is creating it, and this publisher runs
			// again once it has.
			continue
		}
		cl := &coordinatorLog{part: part, now: b.now, leaderEpoch: epoch}
		if err := c.load(i, epoch, cl); err != nil {
			errs = append(errs, err)
			continue
		}
		c.loaded[i] = epoch
		b.logger.Info("loading "+c.what, "topic", c.topic, "partition", i, "leader_epoch", epoch)
	}
	return errors.Join(errs...)
}

// ensureOffsetsTopic returns __consumer_offsets, creating it as Kafka does:
// offsets.topic.num.partitions partitions, replication factor
// min(offsets.topic.replication.factor, brokers), compacted, with
// offsets.topic.segment.bytes segments. Compaction only (no time or size
// retention) keeps the latest group metadata and offsets of every group.
func (b *Broker) ensureOffsetsTopic() (*metadata.Topic, error) {
	if t := b.meta.Image().Topic(group.OffsetsTopic); t != nil {
		return t, nil
	}
	rf := min(b.cfg.Broker.OffsetsTopicReplicationFactor, int16(b.brokerCount()))
	ctx, cancel := adminCtx(0)
	defer cancel()
	t, err := b.ensureTopic(ctx, group.OffsetsTopic, b.groups.NumPartitions(), max(rf, 1), map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    strconv.Itoa(int(b.cfg.Broker.OffsetsTopicSegmentBytes)),
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", group.OffsetsTopic, err)
	}
	return t, nil
}

// coordinatorLog is a __consumer_offsets partition as the coordinator
// runtime sees it: the coordinator.Appender and coordinator.Loader of one
// Runtime, called from its event loop only.
type coordinatorLog struct {
	part *partition.Partition
	now  func() time.Time
	// leaderEpoch fences appends: the partition must still be led in
	// the epoch the coordinator was loaded in.
	leaderEpoch int32
}

// Append writes records as one batch per run of records of the same
// producer (plain records, or one transactional producer's: their batch
// carries its ID and epoch), each split in halves while larger than the
// topic's max.message.bytes, and waits until they are durable. It returns
// the offset of the last record.
func (c *coordinatorLog) Append(ctx context.Context, records []coordinator.Record) (int64, error) {
	if len(records) == 0 {
		return -1, nil
	}
	now := c.now()
	last := int64(-1)
	for start := 0; start < len(records); {
		prod := records[start].Producer
		end := start + 1
		for end < len(records) && sameProducer(records[end].Producer, prod) {
			end++
		}
		recs := make([]record.Record, end-start)
		for i, r := range records[start:end] {
			recs[i] = record.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		}
		var err error
		if last, err = c.append(ctx, recs, prod, now); err != nil {
			return -1, err
		}
		start = end
	}
	return last, nil
}

func sameProducer(a, b *coordinator.Producer) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func (c *coordinatorLog) append(ctx context.Context, recs []record.Record, prod *coordinator.Producer, now time.Time) (int64, error) {
	opts := record.BuildOptions{BaseTimestamp: now.UnixMilli()}
	if prod != nil {
		// The sequence is not checked for a coordinator's transactional
		// writes (Partition.AppendAt), as in Kafka.
		opts.Transactional, opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = true, prod.ID, prod.Epoch, 0
	}
	batch := record.Build(recs, opts)
	if len(batch) > int(c.part.Config().MaxMessageBytes) && len(recs) > 1 {
		half := len(recs) / 2
		first := renumber(recs[:half])
		if _, err := c.append(ctx, first, prod, now); err != nil {
			return -1, err
		}
		return c.append(ctx, renumber(recs[half:]), prod, now)
	}
	pend, err := c.part.AppendAt(batch, c.leaderEpoch, now)
	if err != nil {
		return -1, fmt.Errorf("append to %s: %w", c.part.ID, err)
	}
	if err := pend.Wait(ctx); err != nil {
		return -1, fmt.Errorf("append to %s: %w", c.part.ID, err)
	}
	return pend.Info.LastOffset, nil
}

// renumber returns a copy of recs with offset deltas 0..n-1.
func renumber(recs []record.Record) []record.Record {
	out := make([]record.Record, len(recs))
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		out[i] = r
	}
	return out
}

// Load replays the partition from its log start offset to its log end
// offset (a new leader's whole log will be committed: records acknowledged
// by the previous leader may sit above its high watermark for a moment):
// records of transactional batches go with their producer, transaction
// markers as markers, other control batches are skipped.
func (c *coordinatorLog) Load(ctx context.Context, rp coordinator.Replayer) error {
	offset := c.part.LogStartOffset()
	end := c.part.LogEndOffset() // all of a leader's log will be committed: replay it whole
	for offset < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A fresh buffer per read: replay may keep the slices it is given.
		buf, err := c.part.ReadToEnd(offset, loadReadBytes, nil)
		if errors.Is(err, log.ErrOffsetOutOfRange) && offset < c.part.LogStartOffset() {
			offset = c.part.LogStartOffset() // records deleted under us
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", c.part.ID, offset, err)
		}
		if len(buf) == 0 {
			return nil
		}
		for len(buf) > 0 {
			n := record.BatchSize(buf)
			if n <= 0 || n > int64(len(buf)) {
				return fmt.Errorf("read %s at %d: %w: truncated batch", c.part.ID, offset, record.ErrCorrupt)
			}
			batch := buf[:n]
			buf = buf[n:]
			h, recs, err := record.Records(batch)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w", c.part.ID, offset, err)
			}
			switch {
			case h.IsControl() && h.IsTransactional() && h.BaseOffset >= offset:
				if m, err := record.ParseMarker(batch); err == nil {
					rp.Marker(h.ProducerID, m.Commit)
				}
			case h.IsControl():
			default:
				var prod *coordinator.Producer
				if h.IsTransactional() {
					prod = &coordinator.Producer{ID: h.ProducerID, Epoch: h.ProducerEpoch}
				}
				for _, r := range recs {
					if h.BaseOffset+int64(r.OffsetDelta) >= offset {
						// The runtime counts and logs bad records.
						_ = rp.Replay(coordinator.Record{Key: r.Key, Value: r.Value, Producer: prod})
					}
				}
			}
			offset = max(offset, h.NextOffset())
		}
	}
	return nil
}

// clientHost is the client address as Kafka shows it in DescribeGroups:
// "/" and the IP.
func clientHost(remote net.Addr) string {
	if remote == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		host = remote.String()
	}
	return "/" + host
}
