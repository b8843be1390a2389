package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metrics"
)

// maxAPIKey bounds the API keys with series of their own; a key above it
// (none is served) is counted under "unknown".
const maxAPIKey = 128

// Metrics are the broker's request, network and topic metrics
// (docs/metrics.md maps each to Kafka's JMX name). The per-API-key series
// are resolved once, so counting a request is a few atomic adds; the
// per-topic series are looked up by label per partition entry. A nil
// *Metrics records nothing.
type Metrics struct {
	requests  [maxAPIKey + 1]prometheus.Counter
	latency   [maxAPIKey + 1]prometheus.Observer
	bytesIn   prometheus.Counter // network: request frames read
	bytesOut  prometheus.Counter // network: response frames written
	conns     prometheus.Gauge
	topicIn   *prometheus.CounterVec // bytes appended by produce, per topic
	topicRecs *prometheus.CounterVec // records appended by produce, per topic
	topicOut  *prometheus.CounterVec // bytes sent to consumers by fetch, per topic
}

// NewMetrics registers the broker's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "requests_total", Help: "Requests read, by API (Kafka: kafka.network:type=RequestMetrics,name=RequestsPerSec)."}, []string{"api"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "request_duration_seconds", Help: "Time from a request read to its response written, by API (Kafka: RequestMetrics TotalTimeMs).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"api"})
	for k := range maxAPIKey + 1 {
		name := kmsg.NameForKey(int16(k))
		if k == maxAPIKey || name == "Unknown" {
			name = "unknown"
		}
		m.requests[k] = requests.WithLabelValues(name)
		m.latency[k] = latency.WithLabelValues(name)
	}
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "network_received_bytes_total", Help: "Bytes of request frames read (Kafka: kafka.server:type=socket-server-metrics incoming-byte-total)."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "network_sent_bytes_total", Help: "Bytes of response frames written (Kafka: socket-server-metrics outgoing-byte-total)."})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "connections", Help: "Open client and broker connections (Kafka: socket-server-metrics connection-count)."})
	m.topicIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "bytes_in_total", Help: "Record batch bytes appended by produce requests, by topic (Kafka: BrokerTopicMetrics BytesInPerSec)."}, []string{"topic"})
	m.topicRecs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "records_in_total", Help: "Records appended by produce requests, by topic (Kafka: BrokerTopicMetrics MessagesInPerSec)."}, []string{"topic"})
	m.topicOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "bytes_out_total", Help: "Record bytes sent to consumers by fetch responses, by topic; followers' fetches are not counted (Kafka: BrokerTopicMetrics BytesOutPerSec)."}, []string{"topic"})
	reg.MustRegister(requests, latency, m.bytesIn, m.bytesOut, m.conns, m.topicIn, m.topicRecs, m.topicOut)
	return m
}

func apiIndex(key int16) int {
	if key < 0 || key >= maxAPIKey {
		return maxAPIKey
	}
	return int(key)
}

// requestRead counts a request of key whose frame (size prefix included)
// was n bytes.
func (m *Metrics) requestRead(key int16, n int) {
	if m == nil {
		return
	}
	m.requests[apiIndex(key)].Inc()
	m.bytesIn.Add(float64(n))
}

// responseWritten counts n bytes written for a request of key read at
// start.
func (m *Metrics) responseWritten(key int16, start time.Time, n int) {
	if m == nil {
		return
	}
	m.latency[apiIndex(key)].Observe(time.Since(start).Seconds())
	m.bytesOut.Add(float64(n))
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

// produced counts a produce entry of topic appended: its batch bytes and
// records.
func (m *Metrics) produced(topic string, bytes int, records int64) {
	if m == nil {
		return
	}
	m.topicIn.WithLabelValues(topic).Add(float64(bytes))
	m.topicRecs.WithLabelValues(topic).Add(float64(records))
}

// fetched counts record bytes of topic sent to a consumer.
func (m *Metrics) fetched(topic string, bytes int64) {
	if m == nil || bytes <= 0 {
		return
	}
	m.topicOut.WithLabelValues(topic).Add(float64(bytes))
}

// forgetTopic drops a deleted topic's series, so their number follows the
// topics that exist.
func (m *Metrics) forgetTopic(topic string) {
	if m == nil {
		return
	}
	m.topicIn.DeleteLabelValues(topic)
	m.topicRecs.DeleteLabelValues(topic)
	m.topicOut.DeleteLabelValues(topic)
}
