package console

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Bounds of the node metrics sampler: one scrape's time and size, how
// many nodes it scrapes at once, and how many it follows.
const (
	scrapeTimeout  = 3 * time.Second
	scrapeMaxBytes = 8 << 20 // /metrics/node is about 80 KB
	scrapeParallel = 4
	maxNodes       = 256
)

// nodeSample is what one scrape of a node's /metrics gives: its counters
// (made rates against the previous sample) and its gauges.
type nodeSample struct {
	at                          time.Time
	bytesIn, bytesOut, requests float64
	cpuSeconds                  float64
	produceLatency              []bucket // cumulative, by upper bound
	conns, inFlight, underRepl  float64
	leaders, logBytes, rssBytes float64
	hasBroker                   bool // the node has the broker role's metrics
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	upper float64
	count float64
}

// nodeHistory is one node's samples: the last scrape, and the series
// drawn from consecutive scrapes.
type nodeHistory struct {
	last                        nodeSample
	bytesIn, bytesOut, requests series
	produceP99, cpu             series
	url                         string
	seen                        time.Time // last scraped
}

// nodeMetrics samples the nodes' Prometheus endpoints (docs/metrics.md)
// for the console's per-broker figures and charts. Safe for concurrent
// use.
type nodeMetrics struct {
	urls     []string      // explicit /metrics URLs; else derived from the brokers
	port     int           // the port derived URLs use (0: none)
	interval time.Duration // between samples: older figures are stale
	client   *http.Client  // its own transport, closed with the console

	mu    sync.Mutex
	nodes map[int32]*nodeHistory
	errs  map[string]string // last failure by URL
}

func newNodeMetrics(urls []string, port int, interval time.Duration) *nodeMetrics {
	norm := make([]string, 0, len(urls))
	for _, u := range urls {
		if u = strings.TrimSpace(u); u != "" && len(norm) < maxNodes {
			norm = append(norm, metricsURL(u))
		}
	}
	// Not http.DefaultTransport: no proxy from the environment, and idle
	// connections that end with the console.
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: scrapeTimeout}).DialContext, MaxIdleConnsPerHost: 1,
		IdleConnTimeout: 2 * interval, ResponseHeaderTimeout: scrapeTimeout}
	return &nodeMetrics{urls: norm, port: port, interval: interval, nodes: map[int32]*nodeHistory{}, errs: map[string]string{},
		client: &http.Client{Timeout: scrapeTimeout, Transport: tr}}
}

// close drops the idle connections (the sampler has stopped).
func (nm *nodeMetrics) close() { nm.client.CloseIdleConnections() }

// metricsURL completes host:port or a URL without a path into the
// node's /metrics/node: its node-wide series, without the per-partition
// ones (cheap to read at any partition count).
func metricsURL(u string) string {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if _, rest, _ := strings.Cut(u, "://"); !strings.Contains(strings.TrimSuffix(rest, "/"), "/") {
		u = strings.TrimSuffix(u, "/") + "/metrics/node"
	}
	return u
}

// targets are the URLs to scrape now, and the cluster they must belong
// to: the explicit ones, or one per broker at its host and the
// configured port.
func (nm *nodeMetrics) targets(ctx context.Context, adm *kadm.Client) (urls []string, cluster string) {
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, ""
	}
	if len(nm.urls) > 0 || nm.port <= 0 {
		return nm.urls, m.Cluster
	}
	var out []string
	for _, b := range m.Brokers {
		if len(out) == maxNodes {
			break
		}
		out = append(out, "http://"+net.JoinHostPort(b.Host, strconv.Itoa(nm.port))+"/metrics/node")
	}
	slices.Sort(out)
	return slices.Compact(out), m.Cluster
}

// sample scrapes every target once, a few at a time. A node is known by
// the node_id of its fjord_node_info, not by its URL: a derived URL that
// reaches another node (or the same one twice) is counted once.
func (nm *nodeMetrics) sample(ctx context.Context, adm *kadm.Client, now time.Time) {
	targets, cluster := nm.targets(ctx, adm)
	if cluster == "" {
		return // the cluster is unreachable: nothing to check scrapes against
	}
	sem := make(chan struct{}, scrapeParallel)
	var wg sync.WaitGroup
	for _, u := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, s, err := nm.scrape(ctx, u, cluster, now)
			nm.record(u, id, s, err, now)
		}()
	}
	wg.Wait()
	nm.mu.Lock()
	defer nm.mu.Unlock()
	for id, h := range nm.nodes {
		if now.Sub(h.seen) > 10*time.Minute {
			delete(nm.nodes, id) // gone: its room goes to others
		}
	}
	for u := range nm.errs {
		if !slices.Contains(targets, u) {
			delete(nm.errs, u) // no longer asked
		}
	}
}

// scrape reads one node's metrics.
func (nm *nodeMetrics) scrape(ctx context.Context, u, cluster string, now time.Time) (int32, nodeSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nodeSample{}, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := nm.client.Do(req)
	if err != nil {
		return 0, nodeSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nodeSample{}, fmt.Errorf("%s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, scrapeMaxBytes))
	if err != nil {
		return 0, nodeSample{}, fmt.Errorf("parsing: %w", err)
	}
	return parseNodeSample(fams, cluster, now)
}

// parseNodeSample takes the figures the console shows from one scrape of
// a node of cluster.
func parseNodeSample(fams map[string]*dto.MetricFamily, cluster string, now time.Time) (int32, nodeSample, error) {
	s := nodeSample{at: now}
	info := fams["fjord_node_info"]
	if info == nil || len(info.Metric) == 0 {
		return 0, s, fmt.Errorf("not a Fjord node (no fjord_node_info)")
	}
	id, clusterID := int64(-1), ""
	for _, l := range info.Metric[0].Label {
		switch l.GetName() {
		case "node_id":
			n, err := strconv.ParseInt(l.GetValue(), 10, 32)
			if err != nil || n < 0 {
				return 0, s, fmt.Errorf("fjord_node_info: node_id %q", l.GetValue())
			}
			id = n
		case "cluster_id":
			clusterID = l.GetValue()
		}
	}
	if id < 0 {
		return 0, s, fmt.Errorf("fjord_node_info has no node_id")
	}
	if clusterID != cluster {
		return 0, s, fmt.Errorf("node %d is of cluster %q, not %q", id, clusterID, cluster)
	}
	sum := func(name string) float64 {
		var v float64
		if f := fams[name]; f != nil {
			for _, m := range f.Metric {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			}
		}
		return v
	}
	_, s.hasBroker = fams["fjord_broker_partitions"]
	s.bytesIn, s.bytesOut = sum("fjord_broker_bytes_in_total"), sum("fjord_broker_bytes_out_total")
	s.requests, s.cpuSeconds = sum("fjord_server_requests_total"), sum("process_cpu_seconds_total")
	s.conns, s.inFlight = sum("fjord_server_connections"), sum("fjord_server_requests_in_flight")
	s.underRepl, s.leaders = sum("fjord_broker_under_replicated_partitions"), sum("fjord_broker_leader_partitions")
	s.logBytes, s.rssBytes = sum("fjord_broker_log_size_bytes"), sum("process_resident_memory_bytes")
	if f := fams["fjord_server_request_duration_seconds"]; f != nil {
		for _, m := range f.Metric {
			if !hasLabel(m, "api", "Produce") || m.Histogram == nil {
				continue
			}
			for _, b := range m.Histogram.Bucket {
				if !math.IsInf(b.GetUpperBound(), 1) { // the count below stands for it
					s.produceLatency = append(s.produceLatency, bucket{upper: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
				}
			}
			s.produceLatency = append(s.produceLatency, bucket{upper: math.Inf(1), count: float64(m.Histogram.GetSampleCount())})
		}
	}
	return int32(id), s, nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// record adds a scrape to its node's history.
func (nm *nodeMetrics) record(u string, id int32, s nodeSample, err error, now time.Time) {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	if err != nil {
		if len(nm.errs) < maxNodes {
			nm.errs[u] = err.Error()
		}
		return
	}
	delete(nm.errs, u)
	h := nm.nodes[id]
	if h == nil {
		if len(nm.nodes) >= maxNodes {
			return
		}
		h = &nodeHistory{}
		nm.nodes[id] = h
	}
	if h.seen.Equal(now) {
		return // another URL reached the same node in this round
	}
	prev := h.last
	h.url, h.seen = u, now
	if dt := s.at.Sub(prev.at).Seconds(); !prev.at.IsZero() && dt > 0 {
		rate := func(cur, before float64) float64 {
			if cur < before {
				return cur / dt // the node restarted: counted from 0 again, as rate() takes it
			}
			return (cur - before) / dt
		}
		h.bytesIn.add(point{now, rate(s.bytesIn, prev.bytesIn)})
		h.bytesOut.add(point{now, rate(s.bytesOut, prev.bytesOut)})
		h.requests.add(point{now, rate(s.requests, prev.requests)})
		h.cpu.add(point{now, 100 * rate(s.cpuSeconds, prev.cpuSeconds)})
		if q, ok := quantile(0.99, prev.produceLatency, s.produceLatency); ok {
			h.produceP99.add(point{now, q * 1000})
		}
	}
	h.last = s
}

// quantile estimates the q-quantile of the observations between two
// cumulative histograms, as Prometheus' histogram_quantile does: linear
// within the bucket it falls in. ok is false without observations.
func quantile(q float64, before, after []bucket) (float64, bool) {
	if len(after) == 0 || len(before) != len(after) {
		return 0, false
	}
	delta := make([]float64, len(after))
	reset := false
	for i := range after {
		delta[i] = after[i].count - before[i].count
		reset = reset || delta[i] < 0 || after[i].upper != before[i].upper
	}
	if reset {
		// The node restarted (or its buckets changed): counted from 0
		// again, as rate() takes a reset.
		for i := range after {
			delta[i] = after[i].count
		}
	}
	total := delta[len(delta)-1]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range delta {
		if c >= rank {
			upper := after[i].upper
			if math.IsInf(upper, 1) {
				return lower, true // beyond the last bound: its lower edge
			}
			if c == below {
				return upper, true
			}
			return lower + (upper-lower)*(rank-below)/(c-below), true
		}
		lower, below = after[i].upper, c
	}
	return lower, true
}

// brokerRow is a line of the overview's brokers table: the metadata's
// broker and what its node's metrics say (Metrics false: none read).
type brokerRow struct {
	kadm.BrokerDetail
	Metrics                                   bool
	BytesIn, BytesOut, Requests, ProduceP99   string
	CPU, Memory, LogSize                      string
	Connections, InFlight, Leaders, UnderRepl int
}

// rows joins the brokers with their nodes' latest figures; a node not
// read in the last three samples has none (it stopped answering).
func (nm *nodeMetrics) rows(brokers []kadm.BrokerDetail, now time.Time) []brokerRow {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	out := make([]brokerRow, 0, len(brokers))
	for _, b := range brokers {
		r := brokerRow{BrokerDetail: b}
		if h := nm.nodes[b.NodeID]; h != nil && h.last.hasBroker && now.Sub(h.seen) <= 3*nm.interval {
			last := func(s series) (float64, bool) {
				if len(s.points) == 0 {
					return 0, false
				}
				return s.points[len(s.points)-1].value, true
			}
			r.Metrics = true
			r.Connections, r.InFlight, r.Leaders, r.UnderRepl = int(h.last.conns), int(h.last.inFlight), int(h.last.leaders), int(h.last.underRepl)
			r.Memory, r.LogSize = humanBytes(int64(h.last.rssBytes)), humanBytes(int64(h.last.logBytes))
			r.BytesIn, r.BytesOut, r.Requests, r.ProduceP99, r.CPU = "-", "-", "-", "-", "-"
			if v, ok := last(h.bytesIn); ok {
				r.BytesIn = humanBytes(int64(v)) + "/s"
			}
			if v, ok := last(h.bytesOut); ok {
				r.BytesOut = humanBytes(int64(v)) + "/s"
			}
			if v, ok := last(h.requests); ok {
				r.Requests = fmt.Sprintf("%.0f/s", v)
			}
			if v, ok := last(h.produceP99); ok {
				r.ProduceP99 = fmt.Sprintf("%.1f ms", v)
			}
			if v, ok := last(h.cpu); ok {
				r.CPU = fmt.Sprintf("%.0f%%", v)
			}
		}
		out = append(out, r)
	}
	return out
}

// failures lists the URLs whose last scrape failed, with why.
func (nm *nodeMetrics) failures() []string {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	out := make([]string, 0, len(nm.errs))
	for u, e := range nm.errs {
		out = append(out, u+": "+e)
	}
	slices.Sort(out)
	return out
}

// multiChart is several lines in one SVG, one per node, sharing the
// scales; Lines carry their legend.
type multiChart struct {
	W, H      int
	Max, Span string
	Unit      string
	Lines     []chartLine
	NoData    bool
}

// chartLine is one node's polyline in a multiChart.
type chartLine struct {
	Label, Last string
	Points      string
	Class       string // its colour
}

// chart draws one series of every node (pick chooses it), sharing the
// time axis of the last historySamples samples.
func (nm *nodeMetrics) chart(pick func(*nodeHistory) *series, unit string, format func(float64) string, w, h int) multiChart {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	c := multiChart{W: w, H: h, Unit: unit}
	ids := make([]int32, 0, len(nm.nodes))
	var from, to time.Time
	most := 0.0
	for id, n := range nm.nodes {
		s := pick(n)
		if len(s.points) < 2 {
			continue
		}
		ids = append(ids, id)
		if from.IsZero() || s.points[0].at.Before(from) {
			from = s.points[0].at
		}
		to = maxTime(to, s.points[len(s.points)-1].at)
		for _, p := range s.points {
			most = max(most, p.value)
		}
	}
	if len(ids) == 0 {
		c.NoData = true
		return c
	}
	slices.SortFunc(ids, func(a, b int32) int { return cmp.Compare(a, b) })
	if most <= 0 {
		most = 1
	}
	span := max(to.Sub(from), time.Millisecond)
	for i, id := range ids {
		s := pick(nm.nodes[id])
		var b strings.Builder
		for j, p := range s.points {
			if j > 0 {
				b.WriteByte(' ')
			}
			x := float64(w) * float64(p.at.Sub(from)) / float64(span)
			fmt.Fprintf(&b, "%.1f,%.1f", x, float64(h)-float64(h)*p.value/most)
		}
		c.Lines = append(c.Lines, chartLine{Label: "node " + strconv.Itoa(int(id)), Last: format(s.points[len(s.points)-1].value),
			Points: b.String(), Class: "s" + strconv.Itoa(i%6)})
	}
	c.Max, c.Span = format(most), span.Round(time.Second).String()
	return c
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// run scrapes the nodes every interval until ctx ends (the console's
// Close); failures are kept per URL and shown on the overview.
func (nm *nodeMetrics) run(ctx context.Context, adm *kadm.Client, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, max(interval, scrapeTimeout))
		nm.sample(sctx, adm, time.Now())
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nodeCharts adds the brokers' figures and charts to the overview's data.
func (c *Console) nodeCharts(data map[string]any, brokers []kadm.BrokerDetail) {
	nm := c.nodes
	data["BrokerRows"] = nm.rows(brokers, time.Now())
	data["MetricsFailures"] = nm.failures()
	perSecond := func(v float64) string { return humanBytes(int64(v)) + "/s" }
	data["BytesInChart"] = nm.chart(func(h *nodeHistory) *series { return &h.bytesIn }, "bytes/s", perSecond, 560, 120)
	data["BytesOutChart"] = nm.chart(func(h *nodeHistory) *series { return &h.bytesOut }, "bytes/s", perSecond, 560, 120)
	data["P99Chart"] = nm.chart(func(h *nodeHistory) *series { return &h.produceP99 }, "ms", func(v float64) string { return fmt.Sprintf("%.1f ms", v) }, 560, 120)
	data["CPUChart"] = nm.chart(func(h *nodeHistory) *series { return &h.cpu }, "%", func(v float64) string { return fmt.Sprintf("%.0f%%", v) }, 560, 120)
}
