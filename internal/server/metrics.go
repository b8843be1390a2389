package server

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metrics"
	"github.com/fjordstream/fjord/internal/protocol"
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
	requests     [maxAPIKey + 1]prometheus.Counter
	latency      [maxAPIKey + 1]prometheus.Observer
	apiNames     [maxAPIKey + 1]string
	errors       *prometheus.CounterVec // error codes in responses, by API and error
	plans        sync.Map               // reflect.Type -> *errorFields: where a response type keeps its error codes
	bytesIn      prometheus.Counter     // network: request frames read
	bytesOut     prometheus.Counter     // network: response frames written
	conns        prometheus.Gauge
	inflight     prometheus.Gauge       // requests read and not yet answered, all connections
	topicIn      *prometheus.CounterVec // bytes appended by produce, per topic
	topicRecs    *prometheus.CounterVec // records appended by produce, per topic
	topicOut     *prometheus.CounterVec // bytes sent to consumers by fetch, per topic
	topicRecsOut *prometheus.CounterVec // records sent to consumers by fetch, per topic
	commits      prometheus.Counter     // partition offsets committed
	// The same, over every topic: node-wide series.
	allIn, allRecs, allOut, allRecsOut prometheus.Counter
}

// NewMetrics registers the broker's metrics on reg, and the node-wide
// ones (every series but the per-topic ones) on nodeWide too, if not nil.
func NewMetrics(reg, nodeWide prometheus.Registerer) *Metrics {
	m := &Metrics{}
	all := prometheus.Registerer(metrics.Tee{reg})
	if nodeWide != nil {
		all = metrics.Tee{reg, nodeWide}
	}
	total := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "broker", Name: name, Help: help})
	}
	m.allIn = total("bytes_in_total", "Record batch bytes appended by produce requests, every topic (Kafka: BrokerTopicMetrics BytesInPerSec without a topic).")
	m.allRecs = total("records_in_total", "Records appended by produce requests, every topic (Kafka: BrokerTopicMetrics MessagesInPerSec without a topic).")
	m.allOut = total("bytes_out_total", "Record bytes sent to consumers by fetch responses, every topic (Kafka: BrokerTopicMetrics BytesOutPerSec without a topic).")
	m.allRecsOut = total("records_out_total", "Records sent to consumers by fetch responses, every topic, as fjord_topic_records_out_total counts them.")
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "requests_total", Help: "Requests read, by API (Kafka: kafka.network:type=RequestMetrics,name=RequestsPerSec)."}, []string{"api"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "request_duration_seconds", Help: "Time from a request read to its response written, by API (Kafka: RequestMetrics TotalTimeMs).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"api"})
	// Series for the APIs this broker serves; any other key (refused) is
	// counted under "unknown", so the series stay few.
	served := map[int]bool{}
	for _, k := range protocol.ApiVersionsKeys() {
		served[int(k.ApiKey)] = true
	}
	unknownReqs, unknownLat := requests.WithLabelValues("unknown"), latency.WithLabelValues("unknown")
	for k := range maxAPIKey + 1 {
		if !served[k] || k == maxAPIKey {
			m.apiNames[k], m.requests[k], m.latency[k] = "unknown", unknownReqs, unknownLat
			continue
		}
		name := kmsg.NameForKey(int16(k))
		m.apiNames[k] = name
		m.requests[k] = requests.WithLabelValues(name)
		m.latency[k] = latency.WithLabelValues(name)
	}
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "network_received_bytes_total", Help: "Bytes of request frames read (Kafka: kafka.server:type=socket-server-metrics incoming-byte-total)."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "network_sent_bytes_total", Help: "Bytes of response frames written (Kafka: socket-server-metrics outgoing-byte-total)."})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "connections", Help: "Open client and broker connections (Kafka: socket-server-metrics connection-count)."})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "requests_in_flight", Help: "Requests read and not yet answered, over all connections: parked fetches and acks=all produces included (Kafka: kafka.network:type=RequestChannel,name=RequestQueueSize plus the requests its handlers and purgatories hold)."})
	m.topicIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "bytes_in_total", Help: "Record batch bytes appended by produce requests, by topic (Kafka: BrokerTopicMetrics BytesInPerSec)."}, []string{"topic"})
	m.topicRecs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "records_in_total", Help: "Records appended by produce requests, by topic (Kafka: BrokerTopicMetrics MessagesInPerSec)."}, []string{"topic"})
	m.topicOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "bytes_out_total", Help: "Record bytes sent to consumers by fetch responses, by topic; followers' fetches are not counted (Kafka: BrokerTopicMetrics BytesOutPerSec)."}, []string{"topic"})
	m.topicRecsOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "topic",
		Name: "records_out_total", Help: "Records in the batches sent to consumers by fetch responses, by topic, as the batches' offset span (exact unless compaction removed records inside it); followers' fetches are not counted (Kafka has none: its BrokerTopicMetrics count bytes out only)."}, []string{"topic"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "server",
		Name: "request_errors_total", Help: "Error codes in responses, by API and Kafka's error name; a response with several partitions in error counts each (Kafka: RequestMetrics ErrorsPerSec)."}, []string{"api", "error"})
	// Not by group: group names are the clients', and a series per name
	// would outlive groups that expire.
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "group",
		Name: "offset_commits_total", Help: "Partition offsets committed through OffsetCommit (Kafka: GroupMetadataManager OffsetCommits)."})
	all.MustRegister(m.commits, m.errors, requests, latency, m.bytesIn, m.bytesOut, m.conns, m.inflight, m.allIn, m.allRecs, m.allOut, m.allRecsOut)
	reg.MustRegister(m.topicIn, m.topicRecs, m.topicOut, m.topicRecsOut)
	return m
}

func apiIndex(key int16) int {
	if key < 0 || key >= maxAPIKey {
		return maxAPIKey
	}
	return int(key)
}

// inFlight moves the count of requests read and not yet answered.
func (m *Metrics) inFlight(n int) {
	if m == nil || n == 0 {
		return
	}
	m.inflight.Add(float64(n))
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
	m.allIn.Add(float64(bytes))
	m.allRecs.Add(float64(records))
}

// fetched counts record bytes of topic sent to a consumer.
func (m *Metrics) fetched(topic string, bytes, records int64) {
	if m == nil || bytes <= 0 {
		return
	}
	m.topicOut.WithLabelValues(topic).Add(float64(bytes))
	m.topicRecsOut.WithLabelValues(topic).Add(float64(records))
	m.allOut.Add(float64(bytes))
	m.allRecsOut.Add(float64(records))
}

// offsetsCommitted counts n partition offsets committed.
func (m *Metrics) offsetsCommitted(n int) {
	if m == nil || n == 0 {
		return
	}
	m.commits.Add(float64(n))
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
	m.topicRecsOut.DeleteLabelValues(topic)
}

// errorFields is, for a response type, where its error codes are: the
// index of an int16 ErrorCode field, and the fields to descend into
// (structs, and slices of structs). Found once per type.
type errorFields struct {
	code     int // -1: none
	children []int
}

// planFor returns t's errorFields, from m's cache.
func (m *Metrics) planFor(t reflect.Type) *errorFields {
	if p, ok := m.plans.Load(t); ok {
		return p.(*errorFields)
	}
	p := &errorFields{code: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
			p.code = i
		case f.Type.Kind() == reflect.Struct,
			f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			p.children = append(p.children, i)
		}
	}
	m.plans.Store(t, p)
	return p
}

// countErrors calls count for every non-zero error code in v (a struct),
// at any depth, as Kafka's Response.errorCounts does.
func (m *Metrics) countErrors(v reflect.Value, count func(int16)) {
	p := m.planFor(v.Type())
	if p.code >= 0 {
		if c := int16(v.Field(p.code).Int()); c != 0 {
			count(c)
		}
	}
	for _, i := range p.children {
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			m.countErrors(f, count)
			continue
		}
		for j := range f.Len() {
			m.countErrors(f.Index(j), count)
		}
	}
}

// responseErrors counts the error codes of resp, a response to key, by
// API and Kafka's error name (Kafka: RequestMetrics ErrorsPerSec).
// Produce and Fetch, the hot path, are read directly; other responses
// through their types' plans.
func (m *Metrics) responseErrors(key int16, resp kmsg.Response) {
	if m == nil || resp == nil {
		return
	}
	api := m.apiNames[apiIndex(key)]
	count := func(code int16) { m.countError(api, code) }
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					count(c)
				}
			}
		}
		return
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			count(r.ErrorCode)
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					count(c)
				}
			}
		}
		return
	}
	v := reflect.ValueOf(resp)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	m.countErrors(v.Elem(), count)
}

// countError counts one error code of api.
func (m *Metrics) countError(api string, code int16) {
	name := "UNKNOWN_SERVER_ERROR"
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		name = ke.Message
	}
	m.errors.WithLabelValues(api, name).Inc()
}
