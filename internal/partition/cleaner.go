package partition

import (
	"context"
	"fmt"
	"time"

	"github.com/fjordstream/fjord/internal/log"
)

// CleanDirtiest compacts the one hosted log that gains most from it: logs
// past max.compaction.lag.ms first, then the highest dirty ratio at or above
// min.cleanable.dirty.ratio. Only data below the high watermark is cleaned.
// It returns the cleaned partition (nil when nothing was cleanable) and what
// the clean did.
func (m *Manager) CleanDirtiest(ctx context.Context, now time.Time, throttle *log.Throttle) (*Partition, log.CleanStats, error) {
	var (
		best      *Partition
		bestScore log.Cleanability
	)
	for _, p := range m.All() {
		c := p.Log().Cleanability(now, p.HighWatermark())
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
	stats, err := best.Log().Clean(ctx, log.CleanOptions{Now: now, HighWatermark: best.HighWatermark(), Throttle: throttle})
	if err != nil {
		return best, stats, fmt.Errorf("partition %s: clean: %w", best.ID, err)
	}
	return best, stats, nil
}
