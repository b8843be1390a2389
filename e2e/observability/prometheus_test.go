package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// startPrometheus runs a Prometheus server scraping targets every 500 ms
// and evaluating rules (a file's text) as often, on a free loopback port,
// killed when the test ends. It returns the server's base URL once ready.
func startPrometheus(t *testing.T, targets []string, rules string) string {
	t.Helper()
	bin := fjordtest.RequireTool(t, "prometheus")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
rule_files: [rules.yml]
scrape_configs:
  - job_name: fjord
    static_configs:
      - targets: ["%s"]
`, strings.Join(targets, `", "`))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fjordtest.FreeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firing returns the names of the alerts Prometheus has firing.
func firing(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range body.Data.Alerts {
		if a.State == "firing" {
			out[a.Labels["alertname"]] = true
		}
	}
	return out
}

// A real Prometheus scrapes a three-node cluster with Fjord's alert rules
// (their `for` durations cut to nothing): all quiet while healthy; a
// stopped broker fires FjordUnderReplicatedPartitions and
// FjordBrokerFenced; its return clears them.
func TestPrometheus_AlertsFireForAStoppedBroker(t *testing.T) {
	fjordtest.RequireTool(t, "prometheus")
	c := startCluster(t, 3, "min.insync.replicas", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, nil, "watched"); err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+)for: .*$`).ReplaceAllString(string(rules), "${1}for: 0s")
	var targets []string
	for i := range 3 {
		targets = append(targets, c.Node(i).HTTPAddr())
	}
	base := startPrometheus(t, targets, fast)
	waitFor := func(what string, ok func(map[string]bool) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			f := firing(t, base)
			if ok(f) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; firing: %v", what, f)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	// Quiet once every target is scraped and the cluster settled (the
	// alerts under test; a slow fsync on a busy machine may fire its own).
	watched := []string{"FjordUnderReplicatedPartitions", "FjordBrokerFenced", "FjordOfflinePartitions", "FjordNoActiveController", "FjordUnderMinISRPartitions"}
	quiet := func(f map[string]bool) bool {
		for _, a := range watched {
			if f[a] {
				return false
			}
		}
		return true
	}
	waitFor("a quiet cluster", func(f map[string]bool) bool { return quiet(f) && targetsUp(t, base) == 3 })
	if err := c.Stop(2); err != nil {
		t.Fatal(err)
	}
	waitFor("FjordUnderReplicatedPartitions and FjordBrokerFenced", func(f map[string]bool) bool {
		return f["FjordUnderReplicatedPartitions"] && f["FjordBrokerFenced"]
	})
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// The restarted node serves on its old port: all three are scraped
	// again, and the alerts clear.
	waitFor("the alerts to clear with every target up", func(f map[string]bool) bool { return quiet(f) && targetsUp(t, base) == 3 })
}

// targetsUp counts the scrape targets Prometheus has up.
func targetsUp(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=sum(up)")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) == 0 {
		return 0
	}
	var n int
	fmt.Sscan(fmt.Sprint(body.Data.Result[0].Value[1]), &n)
	return n
}
