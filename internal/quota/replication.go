package quota

import (
	"math"
	"sync"
	"time"
)

// Unlimited is the bound of a quota that is off: Kafka's default for the
// replication rates, Long.MAX_VALUE bytes per second.
const Unlimited int64 = math.MaxInt64

// Replication is one node's replication quota (Kafka's
// ReplicationQuotaManager): the bytes of throttled replicas, recorded
// after each fetch, measured against a bound in bytes per second. The
// callers decide which partitions are throttled (from the topics'
// *.replication.throttled.replicas) and what to do over the bound; the
// quota only counts. Safe for concurrent use: a node's fetchers and its
// fetch handlers share one.
type Replication struct {
	mu    sync.Mutex
	rate  *Rate
	bound int64
}

// NewReplication returns an unlimited quota measured over num windows of
// window each.
func NewReplication(num int, window time.Duration) *Replication {
	return &Replication{rate: NewRate(num, window), bound: Unlimited}
}

// SetBound changes the bound (bytes per second; Unlimited turns the quota
// off). What was recorded is kept, as Kafka keeps the sensor's samples
// when updateQuota changes its bound.
func (q *Replication) SetBound(bytesPerSec int64) {
	q.mu.Lock()
	q.bound = max(bytesPerSec, 0)
	q.mu.Unlock()
}

// Bound returns the bound in bytes per second.
func (q *Replication) Bound() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bound
}

// Record counts n bytes of throttled replicas fetched at now. Like
// Kafka's, it records without checking: the check is Exceeded, made
// before the next fetch.
func (q *Replication) Record(now time.Time, n int64) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.rate.Record(now, n)
	q.mu.Unlock()
}

// Exceeded reports whether the measured rate is above the bound
// (Kafka's isQuotaExceeded, an upper-bound Quota: a rate equal to the
// bound is acceptable). An unlimited quota is never exceeded.
func (q *Replication) Exceeded(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bound == Unlimited {
		return false
	}
	return q.rate.Measure(now) > float64(q.bound)
}

// Measure returns the measured rate in bytes per second.
func (q *Replication) Measure(now time.Time) float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rate.Measure(now)
}
