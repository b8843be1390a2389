package compat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// put sends body to url with PUT and returns the status and answer.
func put(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitOutput waits (bounded) for s in p's output.
func waitOutput(t *testing.T, p *fjordtest.Process, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the broker's output", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The log level and the request log change while the broker runs, over
// its HTTP listener; --log-format json writes JSON lines.
func TestLogs_LevelAndRequestLogAtRuntimeAndJSON(t *testing.T) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("Fjord's own HTTP listener and log flags: kfake has none")
	}
	httpAddr := fjordtest.FreeAddr(t)
	p := fjordtest.StartCommand(t, fjordtest.BuildBinary(t), "server", "--data-dir", t.TempDir(), "--log-format", "json",
		"--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", "http.listeners=http://"+httpAddr)
	base := "http://" + httpAddr
	if code, body := put(t, base+"/admin/log-level", "loud"); code != http.StatusBadRequest {
		t.Fatalf("a bad level: %d %s", code, body)
	}
	if code, body := put(t, base+"/admin/log-level", "debug"); code != 200 || body != "debug" {
		t.Fatalf("set debug: %d %s", code, body)
	}
	waitOutput(t, p, `"msg":"log level changed","level":"debug"`)
	if code, body := put(t, base+"/admin/request-log", "on"); code != 200 || body != "on" {
		t.Fatalf("request log on: %d %s", code, body)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.DefaultProduceTopic("logged"), kgo.ClientID("log-test-client"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "logged"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, `"msg":"request","api":"Produce"`)
	var line map[string]any
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, `"msg":"request","api":"Produce"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("not a JSON line: %s", l)
			}
			break
		}
	}
	if line["client_id"] != "log-test-client" || line["duration"] == nil || line["level"] != "INFO" {
		t.Fatalf("request line %v", line)
	}
	if code, body := put(t, base+"/admin/request-log", "off"); code != 200 || body != "off" {
		t.Fatalf("request log off: %d %s", code, body)
	}
	before := strings.Count(p.Output(), `"msg":"request","api":"Produce"`)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if after := strings.Count(p.Output(), `"msg":"request","api":"Produce"`); after != before {
		t.Fatalf("%d produce lines logged with the request log off", after-before)
	}
}
