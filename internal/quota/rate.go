package quota

import "time"

// Rate is Kafka's SampledStat Rate of a sum: bytes recorded into up to
// num samples of one window each, measured as their total divided by the
// time they span. As in Kafka's Rate.windowSize, the span counts at least
// num-1 full windows, so a quiet quota that starts seeing traffic divides
// by (num-1) windows rather than by the few milliseconds elapsed: a new
// burst is spread over that span instead of tripping the bound at once
// (with Kafka's defaults, 11 samples of 1 s, a 1 MB/s quota lets about
// 10 MB through before it is exceeded). Samples older than num windows
// are forgotten (purgeObsoleteSamples).
type Rate struct {
	window  time.Duration
	num     int
	samples []sample // at most num; grows as Kafka's list does
	cur     int
}

type sample struct {
	start time.Time // Kafka's lastWindowMs: when the sample was (re)started
	bytes float64
}

// NewRate returns a rate of num samples of window each (Kafka's
// replication.quota.window.num and replication.quota.window.size.seconds).
// num below 1 is taken as 1, a window below a millisecond as a second.
func NewRate(num int, window time.Duration) *Rate {
	if num < 1 {
		num = 1
	}
	if window < time.Millisecond {
		window = time.Second
	}
	return &Rate{window: window, num: num, samples: make([]sample, 0, num)}
}

// Record adds n bytes at now (SampledStat.record): into the current
// sample, or a fresh one when the current sample's window has passed.
func (r *Rate) Record(now time.Time, n int64) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
		r.cur = 0
	}
	s := &r.samples[r.cur]
	if now.Sub(s.start) >= r.window {
		r.cur = (r.cur + 1) % r.num
		if r.cur >= len(r.samples) {
			r.samples = append(r.samples, sample{start: now})
		} else {
			r.samples[r.cur] = sample{start: now}
		}
		s = &r.samples[r.cur]
	}
	s.bytes += float64(n)
}

// Measure returns the rate in bytes per second at now (Rate.measure).
func (r *Rate) Measure(now time.Time) float64 {
	r.purge(now)
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
		r.cur = 0
	}
	var total float64
	oldest := r.samples[0].start
	for _, s := range r.samples {
		total += s.bytes
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	return total / r.span(now, oldest).Seconds()
}

// span is Kafka's Rate.windowSize: the time since the oldest sample,
// raised to num-1 full windows, and never zero.
func (r *Rate) span(now, oldest time.Time) time.Duration {
	elapsed := now.Sub(oldest)
	if full, least := int(elapsed/r.window), r.num-1; full < least {
		elapsed += time.Duration(least-full) * r.window
	}
	return max(elapsed, time.Millisecond)
}

// purge restarts, empty, every sample that began num windows or more ago.
func (r *Rate) purge(now time.Time) {
	expire := time.Duration(r.num) * r.window
	for i := range r.samples {
		if now.Sub(r.samples[i].start) >= expire {
			r.samples[i] = sample{start: now}
		}
	}
}
