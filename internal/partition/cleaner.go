package partition

import (
	"context"
	"fmt"
	"time"

	"github.com/fjordstream/fjord/internal/log"
)

// CleanDirtiest compacts the one hosted log that gains most from it: logs
// past max.compaction.lag.ms first, then the highest dirty ratio at or above
// min.cleanable.dirty.ratio. Only data below the last stable offset is
// cleaned (the high watermark, or the first offset of the oldest open
// transaction), so no transaction in the cleaned range is still open.
// It returns the cleaned partition (nil when nothing was cleanable) and what
// the clean did.
func (m *Manager) CleanDirtiest(ctx context.Context, now time.Time, throttle *log.Throttle) (*Partition, log.CleanStats, error) {
	if m.DirFailure() != nil {
		return nil, log.CleanStats{}, nil // nothing is written to a failed directory
	}
	var (
		best      *Partition
		bestScore log.Cleanability
	)
	for _, p := range m.All() {
		c := p.log.Cleanability(now, p.LastStableOffset())
		if !c.Cleanable {
			continue
		}
		if best == nil || (c.MaxLagExceeded && !bestScore.MaxLagExceeded) ||
			(c.MaxLagExceeded == bestScore.MaxLagExceeded && c.Ratio > bestScore.Ratio) {
			best, bestScore = p, c
		}
	}
	if best == nil {
		return nil, log.CleanStats{}, nil
	}
	stats, err := best.log.Clean(ctx, log.CleanOptions{Now: now, HighWatermark: best.LastStableOffset(), Throttle: throttle,
		ActiveProducers: best.producerLastOffsets()})
	if err != nil {
		return best, stats, fmt.Errorf("partition %s: clean: %w", best.ID, err)
	}
	return best, stats, nil
}

// producerLastOffsets maps each producer the partition remembers to the
// last offset of its newest batch: the batches a clean must keep (emptied
// if need be) so that producer state rebuilt from the log still knows the
// producer's epoch and last sequence (log.CleanOptions.ActiveProducers,
// Kafka's lastRecordsOfActiveProducers). A batch appended after this
// snapshot lands past the cleaned segments, so a stale entry only keeps
// a batch one clean longer.
func (p *Partition) producerLastOffsets() map[int64]int64 {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	out := make(map[int64]int64, p.producers.len())
	for id, e := range p.producers.m {
		if n := len(e.batches); n > 0 {
			out[id] = e.batches[n-1].lastOffset()
		}
	}
	return out
}
