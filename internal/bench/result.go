package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Mode names which bench produced a Result.
type Mode string

// The bench modes.
const (
	ModeProduce Mode = "produce"
	ModeConsume Mode = "consume"
	ModeE2E     Mode = "e2e"
)

// bytesPerMB is how Kafka's perf tools count a megabyte.
const bytesPerMB = 1 << 20

// LatencySummary is a latency distribution reduced to the figures perf tools
// print. All zero when nothing was measured (Count 0).
type LatencySummary struct {
	Count int64         // values measured
	Min   time.Duration // exact
	Mean  time.Duration // exact
	P50   time.Duration // median, within the Histogram's precision (<1%)
	P99   time.Duration // 99th percentile, same precision
	P999  time.Duration // 99.9th percentile, same precision
	Max   time.Duration // exact
}

// Result is the outcome of one bench run.
type Result struct {
	// Mode is the bench that ran.
	Mode Mode
	// Topic is the topic used.
	Topic string
	// Records and Bytes count records (and their key+value bytes) that
	// were acknowledged (produce), read (consume) or read back (e2e).
	Records int64
	Bytes   int64
	// Errors counts records whose produce failed.
	Errors int64
	// Elapsed runs from the first send (or first poll) to the last
	// acknowledgement (or last record read).
	Elapsed time.Duration
	// Latency is send->ack for produce, produce timestamp->consume time for
	// e2e, and empty for consume.
	Latency LatencySummary
}

// RecordsPerSec is the mean record rate over Elapsed.
func (r Result) RecordsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// MBPerSec is the mean byte rate over Elapsed, in MB (2^20 bytes) per second.
func (r Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / bytesPerMB / r.Elapsed.Seconds()
}

// String renders the summary as the perf tools print it, e.g.
// "produce: 2000 records in 0.21s, 9523.8 records/s (9.30 MB/s), latency
// p50 1.2ms p99 4.1ms p99.9 5ms max 5.3ms".
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d records in %.2fs, %.1f records/s (%.2f MB/s)",
		r.Mode, r.Topic, r.Records, r.Elapsed.Seconds(), r.RecordsPerSec(), r.MBPerSec())
	if r.Errors > 0 {
		fmt.Fprintf(&b, ", %d errors", r.Errors)
	}
	if l := r.Latency; l.Count > 0 {
		fmt.Fprintf(&b, ", latency avg %s p50 %s p99 %s p99.9 %s max %s",
			fmtDur(l.Mean), fmtDur(l.P50), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max))
	}
	return b.String()
}

// fmtDur prints a latency in milliseconds with three decimals, the unit the
// Kafka perf tools use, so runs compare at a glance.
func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

// resultJSON is the stable JSON shape of a Result: rates precomputed and
// durations in (fractional) milliseconds, as Kafka's tools report them.
type resultJSON struct {
	Mode          Mode         `json:"mode"`
	Topic         string       `json:"topic"`
	Records       int64        `json:"records"`
	Bytes         int64        `json:"bytes"`
	Errors        int64        `json:"errors"`
	ElapsedMs     float64      `json:"elapsed_ms"`
	RecordsPerSec float64      `json:"records_per_sec"`
	MBPerSec      float64      `json:"mb_per_sec"`
	Latency       *latencyJSON `json:"latency_ms,omitempty"`
}

type latencyJSON struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"avg"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MarshalJSON encodes the result with rates and millisecond latencies, e.g.
// {"mode":"produce","records":2000,...,"latency_ms":{"p50":1.2,...}}.
func (r Result) MarshalJSON() ([]byte, error) {
	j := resultJSON{
		Mode:          r.Mode,
		Topic:         r.Topic,
		Records:       r.Records,
		Bytes:         r.Bytes,
		Errors:        r.Errors,
		ElapsedMs:     ms(r.Elapsed),
		RecordsPerSec: r.RecordsPerSec(),
		MBPerSec:      r.MBPerSec(),
	}
	if l := r.Latency; l.Count > 0 {
		j.Latency = &latencyJSON{
			Count: l.Count, Min: ms(l.Min), Mean: ms(l.Mean),
			P50: ms(l.P50), P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max),
		}
	}
	return json.Marshal(j)
}

// Metrics returns the result as unit->value pairs for testing.B.ReportMetric,
// so Go benchmarks against different brokers line up in one benchstat table:
//
//	for unit, v := range res.Metrics() { b.ReportMetric(v, unit) }
func (r Result) Metrics() map[string]float64 {
	m := map[string]float64{
		"records/s": r.RecordsPerSec(),
		"MB/s":      r.MBPerSec(),
	}
	if l := r.Latency; l.Count > 0 {
		m["p50-ms"] = ms(l.P50)
		m["p99-ms"] = ms(l.P99)
		m["p99.9-ms"] = ms(l.P999)
		m["max-ms"] = ms(l.Max)
	}
	return m
}
