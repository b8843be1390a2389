package bench

import (
	"math"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestHistogram_BucketBoundsHoldValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64Range(0, math.MaxInt64).Draw(t, "v")
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d outside [0,%d)", v, i, numBuckets)
		}
		hi := bucketHigh(i)
		if hi < v {
			t.Fatalf("bucketHigh(bucketOf(%d)) = %d < value", v, hi)
		}
		if rel := float64(hi-v) / float64(max(v, 1)); rel > 1.0/subCount {
			t.Fatalf("value %d reported as %d: relative error %g over %g", v, hi, rel, 1.0/subCount)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (high %d)", v, i-1, bucketHigh(i-1))
		}
	})
}

func TestHistogram_Quantiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.999, 99900 * time.Microsecond},
		{1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if d := math.Abs(float64(got-tt.want)) / float64(tt.want); d > 1.0/subCount {
			t.Errorf("Quantile(%v) = %v, want %v within %.2f%%", tt.q, got, tt.want, 100.0/subCount)
		}
	}
	if h.Count() != 100000 {
		t.Errorf("Count = %d, want 100000", h.Count())
	}
	if h.Max() != 100*time.Millisecond || h.Min() != time.Microsecond {
		t.Errorf("Min, Max = %v, %v; want 1µs, 100ms", h.Min(), h.Max())
	}
	if want := 50000500 * time.Nanosecond; h.Mean() != want {
		t.Errorf("Mean = %v, want %v", h.Mean(), want)
	}
}

func TestHistogram_EmptyAndNegative(t *testing.T) {
	h := NewHistogram()
	if s := h.Summary(); s != (LatencySummary{}) {
		t.Errorf("empty Summary = %+v, want zero", s)
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(0.5) != 0 {
		t.Errorf("negative value: count %d max %v p50 %v; want 1, 0, 0", h.Count(), h.Max(), h.Quantile(0.5))
	}
}

func TestHistogram_ConcurrentRecordCountsAll(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 {
		t.Fatalf("Count = %d, want 4000", h.Count())
	}
	if h.Max() != 3999*time.Microsecond || h.Min() != 0 {
		t.Fatalf("Min, Max = %v, %v; want 0, 3.999ms", h.Min(), h.Max())
	}
}
