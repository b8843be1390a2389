package runtime

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fjordstream/fjord/internal/connect"
)

// Metrics are a worker's task metrics, Kafka Connect's source-task,
// sink-task and task-error metric groups under Prometheus names
// (docs/connect.md, Metrics). A task's series are made when it starts and
// removed when it stops, so their number follows the tasks that run. A
// nil *Metrics records nothing.
type Metrics struct {
	polled, written, read, put, errs, dlq *prometheus.CounterVec
	commit                                *prometheus.HistogramVec
}

// NewMetrics registers the task metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"connector", "task"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "fjord", Subsystem: "connect", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		polled:  counter("source_records_polled_total", "Records a source task's Poll returned (Kafka: source-record-poll-total)."),
		written: counter("source_records_written_total", "Records a source task wrote that Kafka acknowledged (Kafka: source-record-write-total)."),
		read:    counter("sink_records_read_total", "Records a sink task's consumer read (Kafka: sink-record-read-total)."),
		put:     counter("sink_records_put_total", "Records passed to a sink task's Put that it took (Kafka: sink-record-send-total)."),
		errs:    counter("record_errors_total", "Record failures reported: retries exhausted at a stage, tolerated or not (Kafka: task-error-metrics total-record-errors)."),
		dlq:     counter("dead_letter_records_total", "Records sent to the dead-letter queue (Kafka: task-error-metrics deadletterqueue-produce-requests)."),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "fjord", Subsystem: "connect", Name: "offset_commit_duration_seconds",
			Help:    "Time of a task's offset commit: storing source offsets, or flushing a sink and committing its group's offsets (Kafka: offset-commit-avg-time-ms).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, labels),
	}
	reg.MustRegister(m.polled, m.written, m.read, m.put, m.errs, m.dlq, m.commit)
	return m
}

// taskMetrics are one task's series, resolved once at its start.
type taskMetrics struct {
	m                                     *Metrics
	labels                                []string
	polled, written, read, put, errs, dlq prometheus.Counter
	commit                                prometheus.Observer
}

// forTask resolves id's series; nil for a nil m.
func (m *Metrics) forTask(id connect.TaskID) *taskMetrics {
	if m == nil {
		return nil
	}
	l := []string{id.Connector, strconv.Itoa(id.Task)}
	return &taskMetrics{m: m, labels: l, polled: m.polled.WithLabelValues(l...), written: m.written.WithLabelValues(l...),
		read: m.read.WithLabelValues(l...), put: m.put.WithLabelValues(l...), errs: m.errs.WithLabelValues(l...),
		dlq: m.dlq.WithLabelValues(l...), commit: m.commit.WithLabelValues(l...)}
}

// release removes the task's series once it stopped.
func (t *taskMetrics) release() {
	if t == nil {
		return
	}
	for _, v := range []*prometheus.CounterVec{t.m.polled, t.m.written, t.m.read, t.m.put, t.m.errs, t.m.dlq} {
		v.DeleteLabelValues(t.labels...)
	}
	t.m.commit.DeleteLabelValues(t.labels...)
}

func (t *taskMetrics) add(c func(*taskMetrics) prometheus.Counter, n int) {
	if t != nil && n > 0 {
		c(t).Add(float64(n))
	}
}

func (t *taskMetrics) committed(start time.Time) {
	if t != nil {
		t.commit.Observe(time.Since(start).Seconds())
	}
}

// Selectors for add.
func polledC(t *taskMetrics) prometheus.Counter  { return t.polled }
func writtenC(t *taskMetrics) prometheus.Counter { return t.written }
func readC(t *taskMetrics) prometheus.Counter    { return t.read }
func putC(t *taskMetrics) prometheus.Counter     { return t.put }
func errsC(t *taskMetrics) prometheus.Counter    { return t.errs }
func dlqC(t *taskMetrics) prometheus.Counter     { return t.dlq }
