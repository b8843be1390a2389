package console

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The 99th percentile between two scrapes, as histogram_quantile takes
// it: linear within the bucket the rank falls in, from the deltas only.
func TestQuantile(t *testing.T) {
	before := []bucket{{0.001, 10}, {0.01, 10}, {0.1, 10}, {math.Inf(1), 10}}
	after := []bucket{{0.001, 10}, {0.01, 60}, {0.1, 110}, {math.Inf(1), 110}}
	// 100 new observations: 50 in (1ms, 10ms], 50 in (10ms, 100ms].
	q, ok := quantile(0.99, before, after)
	if !ok || math.Abs(q-(0.01+0.09*(99.0-50)/50)) > 1e-9 {
		t.Fatalf("p99 %v %v", q, ok)
	}
	if q, ok := quantile(0.5, before, after); !ok || math.Abs(q-0.01) > 1e-9 {
		t.Fatalf("p50 %v %v", q, ok)
	}
	if _, ok := quantile(0.99, after, after); ok {
		t.Error("a quantile of no observations")
	}
	if _, ok := quantile(0.99, before[:2], after); ok {
		t.Error("histograms of different buckets compared")
	}
	// A node that restarted counts from 0 again: the new counts are the
	// observations.
	if q, ok := quantile(0.5, after, before); !ok || math.Abs(q-0.0005) > 1e-9 {
		t.Fatalf("after a reset %v %v", q, ok)
	}
	// Beyond the last finite bound: its lower edge, as Prometheus does.
	inf := []bucket{{0.001, 0}, {math.Inf(1), 5}}
	if q, ok := quantile(0.99, []bucket{{0.001, 0}, {math.Inf(1), 0}}, inf); !ok || q != 0.001 {
		t.Fatalf("overflow bucket %v %v", q, ok)
	}
}

// A scrape's figures: the node from fjord_node_info, counters summed over
// their series, the Produce histogram only.
func TestParseNodeSample(t *testing.T) {
	const text = `fjord_node_info{node_id="3",cluster_id="c",roles="broker"} 1
fjord_broker_partitions 4
# TYPE fjord_broker_bytes_in_total counter
fjord_broker_bytes_in_total 150
# TYPE fjord_server_request_duration_seconds histogram
fjord_server_request_duration_seconds_bucket{api="Fetch",le="0.01"} 7
fjord_server_request_duration_seconds_bucket{api="Fetch",le="+Inf"} 7
fjord_server_request_duration_seconds_sum{api="Fetch"} 0.01
fjord_server_request_duration_seconds_count{api="Fetch"} 7
fjord_server_request_duration_seconds_bucket{api="Produce",le="0.01"} 2
fjord_server_request_duration_seconds_bucket{api="Produce",le="+Inf"} 3
fjord_server_request_duration_seconds_sum{api="Produce"} 0.5
fjord_server_request_duration_seconds_count{api="Produce"} 3
`
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	id, s, err := parseNodeSample(fams, "c", time.Now())
	if err != nil || id != 3 || s.bytesIn != 150 || !s.hasBroker {
		t.Fatalf("%d %+v %v", id, s, err)
	}
	if _, _, err := parseNodeSample(fams, "another", time.Now()); err == nil {
		t.Error("a node of another cluster taken")
	}
	if len(s.produceLatency) < 2 || s.produceLatency[len(s.produceLatency)-1].count != 3 {
		t.Fatalf("produce buckets %+v", s.produceLatency)
	}
	delete(fams, "fjord_node_info")
	if _, _, err := parseNodeSample(fams, "c", time.Now()); err == nil {
		t.Error("a scrape without fjord_node_info taken as a Fjord node")
	}
}

// A node that stopped answering shows no figures after three samples,
// and a URL no longer asked leaves the failures.
func TestNodeMetrics_Stale(t *testing.T) {
	nm := newNodeMetrics(nil, 0, time.Second)
	t0 := time.Unix(100, 0)
	nm.record("http://a/metrics/node", 1, nodeSample{at: t0, hasBroker: true, leaders: 3}, nil, t0)
	nm.record("http://b/metrics/node", 0, nodeSample{}, errors.New("refused"), t0)
	b := []kadm.BrokerDetail{{NodeID: 1}}
	if r := nm.rows(b, t0.Add(2*time.Second)); !r[0].Metrics || r[0].Leaders != 3 {
		t.Fatalf("fresh figures not shown: %+v", r[0])
	}
	if r := nm.rows(b, t0.Add(4*time.Second)); r[0].Metrics {
		t.Fatalf("stale figures shown: %+v", r[0])
	}
	if f := nm.failures(); len(f) != 1 || !strings.Contains(f[0], "refused") {
		t.Fatalf("failures %v", f)
	}
}
