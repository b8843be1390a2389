package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, as HdrHistogram is: values below 2^subBits
// nanoseconds get one bucket each, and every power of two above that is cut
// into 2^subBits equal buckets. A reported value is therefore within
// 1/2^subBits (under 0.8%) of the recorded one, whatever its magnitude, and
// the memory is fixed (numBuckets counters) however many values are recorded.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numShifts  = 64 - subBits // shifts 0..56 cover every non-negative int64
	numBuckets = subCount + numShifts*subCount
)

// Histogram records latencies in fixed log-linear buckets. It is safe for
// concurrent use: Record is lock-free, so producer callbacks and consumer
// loops on different goroutines can share one. Its memory never grows (about
// 60 KiB), which keeps long runs bounded.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	count  atomic.Uint64
	sumNs  atomic.Uint64
	min    atomic.Int64 // math.MaxInt64 until the first Record
	max    atomic.Int64
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram {
	h := new(Histogram)
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf maps a non-negative nanosecond value to its bucket index.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	u := uint64(v)
	shift := bits.Len64(u) - subBits - 1 // u>>shift lies in [subCount, 2*subCount)
	sub := int(u>>uint(shift)) - subCount
	return subCount + shift*subCount + sub
}

// bucketHigh returns the highest value that maps to bucket i, the value a
// quantile query reports (HdrHistogram's "highest equivalent value").
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := uint((i - subCount) / subCount)
	sub := uint64((i-subCount)%subCount + subCount)
	hi := (sub+1)<<shift - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one latency. Negative values (a clock step between two hosts'
// timestamps) are recorded as zero rather than dropped, so counts stay exact.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sumNs.Add(uint64(v))
	for {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() int64 { return int64(h.count.Load()) }

// Max returns the largest recorded value exactly, or 0 if none was recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest recorded value exactly, or 0 if none was recorded.
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Mean returns the exact mean of the recorded values, or 0 if none.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sumNs.Load() / n)
}

// Quantile returns the value at quantile q (0 < q <= 1, e.g. 0.99), within
// the histogram's precision and never above the recorded maximum. It returns
// 0 if nothing was recorded; q outside (0,1] is clamped.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	if q <= 0 || math.IsNaN(q) {
		return h.Min()
	}
	if q > 1 {
		q = 1
	}
	target := uint64(math.Ceil(q * float64(n)))
	if target == 0 {
		target = 1
	}
	max := h.max.Load()
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= target {
			return time.Duration(min(bucketHigh(i), max))
		}
	}
	// Concurrent Records can make count run ahead of the buckets we summed.
	return time.Duration(max)
}

// Summary returns the usual latency figures in one value.
func (h *Histogram) Summary() LatencySummary {
	return LatencySummary{
		Count: h.Count(),
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.Max(),
	}
}
