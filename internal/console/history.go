package console

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// History bounds: samples kept per series, and groups followed.
const (
	historySamples = 120 // 10 minutes at the default interval
	historyGroups  = 1000
	// DefaultSampleInterval is how often the sampler reads the cluster.
	DefaultSampleInterval = 5 * time.Second
)

// point is one sample: its time and value.
type point struct {
	at    time.Time
	value float64
}

// series is a bounded ring of samples, oldest first.
type series struct{ points []point }

func (s *series) add(p point) {
	if len(s.points) == historySamples {
		copy(s.points, s.points[1:])
		s.points = s.points[:historySamples-1]
	}
	s.points = append(s.points, p)
}

// history is what the sampler read: the cluster's records produced per
// second, and each group's total lag, over the last samples. Safe for
// concurrent use.
type history struct {
	mu     sync.Mutex
	last   map[partitionKey]int64 // end offsets at the last sample
	lastAt time.Time
	rate   series             // records/s into the cluster
	lag    map[string]*series // total lag per group
}

type partitionKey struct {
	topic     string
	partition int32
}

func newHistory() *history {
	return &history{last: map[partitionKey]int64{}, lag: map[string]*series{}}
}

// internalTopic reports the topics left out of the records produced:
// offset commits and transaction markers are not what producers send.
func internalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// sample reads the end offsets and the groups' lag once. The rate counts
// only partitions read without error in this sample and the last, so a
// partition missing once makes no spike.
func (h *history) sample(ctx context.Context, adm *kadm.Client, now time.Time) error {
	ends, err := adm.ListEndOffsets(ctx)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	cur := map[partitionKey]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && !internalTopic(o.Topic) {
			cur[partitionKey{o.Topic, o.Partition}] = o.Offset
		}
	})
	lags, lerr := adm.Lag(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.last) > 0 && now.After(h.lastAt) {
		var delta int64
		for k, off := range cur {
			if before, ok := h.last[k]; ok {
				delta += max(off-before, 0)
			}
		}
		h.rate.add(point{at: now, value: float64(delta) / now.Sub(h.lastAt).Seconds()})
	}
	h.last, h.lastAt = cur, now
	if lerr != nil {
		return fmt.Errorf("group lag: %w", lerr)
	}
	seen := map[string]bool{}
	for _, l := range lags.Sorted() {
		if l.Error() != nil {
			continue
		}
		seen[l.Group] = true
		s := h.lag[l.Group]
		if s == nil {
			if len(h.lag) >= historyGroups {
				continue
			}
			s = &series{}
			h.lag[l.Group] = s
		}
		s.add(point{at: now, value: float64(l.Lag.Total())})
	}
	for g := range h.lag {
		if !seen[g] {
			delete(h.lag, g) // deleted (or failing): its room goes to others
		}
	}
	return nil
}

// snapshot copies a series for drawing.
func (h *history) snapshot(rate bool, group string) []point {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rate {
		return append([]point(nil), h.rate.points...)
	}
	if s := h.lag[group]; s != nil {
		return append([]point(nil), s.points...)
	}
	return nil
}

// lineChart is an SVG polyline of points, scaled to w×h, with the
// largest value and the time span as labels.
type lineChart struct {
	Points    string // "x,y x,y ..." for <polyline points>
	Max, Last string
	Span      string
	W, H      int
	NoData    bool
}

func drawLine(ps []point, w, h int) lineChart {
	c := lineChart{W: w, H: h}
	if len(ps) < 2 {
		c.NoData = true
		return c
	}
	most := 1.0
	for _, p := range ps {
		most = max(most, p.value)
	}
	span := ps[len(ps)-1].at.Sub(ps[0].at)
	var b strings.Builder
	for i, p := range ps {
		x := float64(w) * float64(p.at.Sub(ps[0].at)) / float64(max(span, 1))
		y := float64(h) - float64(h)*p.value/most
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	c.Points, c.Max, c.Last = b.String(), fmt.Sprintf("%.0f", most), fmt.Sprintf("%.0f", ps[len(ps)-1].value)
	c.Span = span.Round(time.Second).String()
	return c
}

// run samples every interval until ctx ends (the console's Close).
func (h *history) run(ctx context.Context, adm *kadm.Client, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		if err := h.sample(sctx, adm, time.Now()); err != nil && ctx.Err() == nil {
			report(err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
