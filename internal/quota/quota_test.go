package quota

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// A fresh rate divides by num-1 windows at least, as Kafka's windowSize.
func TestRate_MinimumSpan(t *testing.T) {
	r := NewRate(11, time.Second)
	r.Record(at(0), 10_000)
	if got := r.Measure(at(0)); math.Abs(got-1000) > 1e-9 {
		t.Fatalf("rate after one record = %v, want 1000 (10000 bytes over 10 windows)", got)
	}
	r2 := NewRate(2, time.Second)
	r2.Record(at(0), 10_000)
	if got := r2.Measure(at(500)); math.Abs(got-10_000/1.5) > 1e-6 {
		t.Fatalf("rate = %v, want %v (0.5 s elapsed + 1 window)", got, 10_000/1.5)
	}
}

// Samples advance per window and expire after num windows.
func TestRate_SamplesAdvanceAndExpire(t *testing.T) {
	r := NewRate(3, time.Second)
	for ms := 0; ms < 3000; ms += 100 {
		r.Record(at(ms), 100) // 1000 bytes/s steadily
	}
	if got := r.Measure(at(2999)); got < 900 || got > 1100 {
		t.Fatalf("steady rate = %v, want about 1000", got)
	}
	if len(r.samples) != 3 {
		t.Fatalf("%d samples, want 3", len(r.samples))
	}
	// Quiet for num windows: everything is forgotten.
	if got := r.Measure(at(6500)); got != 0 {
		t.Fatalf("rate after a quiet spell = %v, want 0", got)
	}
}

func TestReplication_Exceeded(t *testing.T) {
	q := NewReplication(2, time.Second)
	q.Record(at(0), 5<<20)
	if q.Exceeded(at(0)) {
		t.Fatal("an unlimited quota was exceeded")
	}
	q.SetBound(1 << 20)
	if !q.Exceeded(at(100)) {
		t.Fatalf("5 MiB in 100 ms is within 1 MiB/s (measured %v)", q.Measure(at(100)))
	}
	// The rate decays as time passes without records; at 5 s the
	// 5 MiB spans 5 s: exactly the bound, which is acceptable.
	if q.Exceeded(at(1500)) != true {
		t.Fatal("still over the bound at 1.5 s")
	}
	if q.Exceeded(at(4500)) {
		t.Fatalf("5 MiB sampled 4.5 s ago, with 2 samples of 1 s, is forgotten (measured %v)", q.Measure(at(4500)))
	}
	q.SetBound(Unlimited)
	q.Record(at(4600), 100<<20)
	if q.Exceeded(at(4600)) {
		t.Fatal("an unlimited quota was exceeded")
	}
	if q.Bound() != Unlimited {
		t.Fatal("bound not kept")
	}
}

// A steady producer of records paced by Exceeded (as the fetchers are)
// stays close to the bound over time.
func TestReplication_PacedRate(t *testing.T) {
	const bound = 1 << 20
	q := NewReplication(11, time.Second)
	q.SetBound(bound)
	var total int64
	for ms := 0; ms < 60_000; ms += 10 {
		if !q.Exceeded(at(ms)) {
			q.Record(at(ms), 64<<10)
			total += 64 << 10
		}
	}
	rate := float64(total) / 60
	// Kafka's 10-window lead lets the first ~10 s of traffic through at
	// once, so the average over a minute is above the bound, but not by
	// more than that lead.
	if rate < 0.9*bound || rate > bound*(1+10.0/60)+64<<10 {
		t.Fatalf("paced rate %v bytes/s against a bound of %v", rate, bound)
	}
}
