package partition

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/record"
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
	decomp  *record.Decompressor // shared by the node's partitions

	mu          sync.Mutex // guards the fields below
	cfg         config.Topic
	leaderEpoch int32
	hw          int64
	hwChanged   chan struct{} // closed and replaced whenever hw advances
}

// Open opens (recovering if needed) the replica's log in dir.
func Open(id ID, topicID [16]byte, dir string, cfg config.Topic, leaderEpoch int32, opts log.Options, decomp *record.Decompressor) (*Partition, error) {
	l, err := log.Open(dir, LogConfig(cfg), opts)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	p := &Partition{ID: id, TopicID: topicID, log: l, decomp: decomp, cfg: cfg, leaderEpoch: leaderEpoch, hwChanged: make(chan struct{})}
	// A single replica's durable prefix is its committed prefix.
	p.hw = l.FlushedOffset()
	if !l.DurableOnAppend() {
		p.hw = l.LogEndOffset()
	}
	return p, nil
}

// LogConfig translates topic configuration into the storage engine's.
func LogConfig(c config.Topic) log.Config {
	return log.Config{
		SegmentBytes:       int64(c.SegmentBytes),
		SegmentMs:          c.SegmentMs,
		RetentionMs:        c.RetentionMs,
		RetentionBytes:     c.RetentionBytes,
		IndexIntervalBytes: c.IndexIntervalBytes,
		SegmentIndexBytes:  c.SegmentIndexBytes,
		FlushMessages:      c.FlushMessages,
		FlushMs:            c.FlushMs,
	}
}

// Log exposes the storage engine for reads that need no partition state.
func (p *Partition) Log() *log.Log { return p.log }

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
	p.mu.Unlock()
	p.log.SetConfig(LogConfig(cfg))
}

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaderEpoch
}

// HighWatermark returns the offset below which records are committed and
// visible to consumers.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// HighWatermarkChanged returns a channel closed the next time the high
// watermark advances; fetch long-polls wait on it.
func (p *Partition) HighWatermarkChanged() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwChanged
}

func (p *Partition) advanceHighWatermark(to int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if to > p.hw {
		p.hw = to
		close(p.hwChanged)
		p.hwChanged = make(chan struct{})
	}
}

// Append validates batches (the Records of one produce partition) against
// the topic configuration, stamps broker offsets and writes them. The
// returned Pending must be awaited before acknowledging with acks != 0.
func (p *Partition) Append(batches []byte, now time.Time) (Pending, error) {
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
	info, err := p.log.Append(batches, p.LeaderEpoch(), appendTime)
	if err != nil {
		return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	pend := Pending{p: p, Info: info}
	if !p.log.DurableOnAppend() {
		// Page-cache mode: visible at once, as Kafka's single replica is.
		p.advanceHighWatermark(info.LastOffset + 1)
		pend.done = true
	}
	return pend, nil
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
		maxTS := int64(record.NoTimestamp)
		err = record.Walk(batches[:n], d, func(r *record.Record) bool {
			maxTS = max(maxTS, h.BaseTimestamp+r.TimestampDelta)
			return true
		})
		if err != nil {
			return err
		}
		if maxTS != h.MaxTimestamp {
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
	p    *Partition
	done bool
	// Info describes where the batches landed.
	Info log.AppendInfo
}

// Wait blocks until the append is durable as configured (group commit:
// concurrent waiters share one fsync) and then advances the high watermark.
func (w Pending) Wait(ctx context.Context) error {
	if w.done || w.p == nil {
		return nil
	}
	if err := w.p.log.Sync(ctx, w.Info.LastOffset+1); err != nil {
		return fmt.Errorf("partition %s: %w", w.p.ID, err)
	}
	w.p.advanceHighWatermark(w.p.log.FlushedOffset())
	return nil
}

// Read returns whole batches from offset, bounded by the high watermark
// (consumers) or the log end offset (followers, later).
func (p *Partition) Read(offset int64, maxBytes int32, minOneBatch bool, dst []byte) ([]byte, error) {
	return p.log.Read(offset, maxBytes, p.HighWatermark(), minOneBatch, dst)
}

// ReadSlices is Read without the copy: the file regions of the batches,
// pinned until the caller releases them (log.Log.ReadSlices).
func (p *Partition) ReadSlices(offset int64, maxBytes int32, minOneBatch bool) (*log.FileSlices, error) {
	return p.log.ReadSlices(offset, maxBytes, p.HighWatermark(), minOneBatch)
}

// DeleteRecordsBefore advances the log start offset; offsets above the high
// watermark are refused as Kafka refuses them.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset > hw || offset < 0 {
		return 0, fmt.Errorf("partition %s: offset %d beyond high watermark %d: %w", p.ID, offset, hw, log.ErrOffsetOutOfRange)
	}
	if err := p.log.DeleteRecordsBefore(offset); err != nil {
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
		if _, err := p.log.EnforceRetention(now); err != nil {
			return fmt.Errorf("partition %s: retention: %w", p.ID, err)
		}
	}
	if p.log.DurableOnAppend() {
		p.advanceHighWatermark(p.log.FlushedOffset())
	}
	return nil
}

// Close closes the log.
func (p *Partition) Close() error { return p.log.Close() }

// Delete closes the log and removes its folder.
func (p *Partition) Delete() error { return p.log.Delete() }
