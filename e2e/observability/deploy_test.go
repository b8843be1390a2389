package observability

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	connectruntime "github.com/fjordstream/fjord/internal/connect/runtime"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

const (
	alertsFile    = "../../deploy/prometheus/fjord-alerts.yml"
	configFile    = "../../deploy/prometheus/prometheus.yml"
	dashboardFile = "../../deploy/grafana/fjord-dashboard.json"
)

// The rules and the example configuration pass promtool's checks.
func TestDeploy_PromtoolChecks(t *testing.T) {
	promtool := fjordtest.RequireTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"check", "config", configFile}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// startCluster starts n in-process nodes serving metrics, each on a port
// of its own that a restart keeps, with extra broker keys (key, value
// pairs).
func startCluster(t *testing.T, n int, kv ...string) *fjord.Cluster {
	t.Helper()
	httpAddrs := make([]string, n)
	for i := range httpAddrs {
		httpAddrs[i] = fjordtest.FreeAddr(t)
	}
	opts := []fjord.Option{fjord.WithNodeConfig(func(i int) map[string]string {
		return map[string]string{"http.listeners": "http://" + httpAddrs[i]}
	})}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, fjord.WithConfig(kv[i], kv[i+1]))
	}
	c, err := fjord.NewCluster(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var metricName = regexp.MustCompile(`\b(?:fjord|go|process)_[a-z_]+\b`)

// Every metric the dashboard and the alerts name exists on a node that
// has seen traffic (a histogram's _bucket, _count and _sum count as its
// name).
func TestDeploy_EveryMetricNamedExists(t *testing.T) {
	c := startCluster(t, 3, "min.insync.replicas", "2")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("traffic"), kgo.ConsumerGroup("watchers"),
		kgo.ConsumeTopics("traffic"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "traffic"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 1; got += cl.PollFetches(ctx).NumRecords() {
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "traffic") // an error to count

	// The union of the nodes' families: some are the active controller's
	// only, some a leader's.
	names := map[string]bool{}
	for i := range 3 {
		resp, err := http.Get("http://" + c.Node(i).HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for name := range fams {
			names[name] = true
		}
	}
	// Connect's metrics are a worker's, on its REST listener: the names
	// its collectors describe.
	for _, name := range workerMetricNames() {
		names[name] = true
	}
	exists := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
				return true
			}
		}
		return false
	}
	var exprs []string
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(l), "expr:"); ok {
			exprs = append(exprs, e)
		}
	}
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 30 {
		t.Fatalf("only %d expressions found in the rules and the dashboard", len(exprs))
	}
	var missing []string
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			if !exists(name) && !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("named in deploy/ but not exposed: %v", missing)
	}
	if _, err := os.Stat(filepath.Join("..", "..", "deploy", "grafana", "generate.py")); err != nil {
		t.Fatal(err)
	}
}

// describedRegisterer keeps the collectors registered on it, to ask them
// what they describe.
type describedRegisterer struct{ cs []prometheus.Collector }

func (r *describedRegisterer) Register(c prometheus.Collector) error {
	r.cs = append(r.cs, c)
	return nil
}

func (r *describedRegisterer) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }

func (r *describedRegisterer) Unregister(prometheus.Collector) bool { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// workerMetricNames returns the names of the metrics a Connect worker
// serves: its task metrics and its state collector.
func workerMetricNames() []string {
	r := &describedRegisterer{}
	connectruntime.NewMetrics(r)
	r.cs = append(r.cs, connectruntime.StatesCollector{})
	var names []string
	for _, c := range r.cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				names = append(names, m[1])
			}
		}
	}
	return names
}
