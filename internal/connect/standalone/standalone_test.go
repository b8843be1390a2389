package standalone

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord"
)

// The REST API of a real standalone worker, over HTTP, with Kafka
// Connect's status codes and shapes for the common paths and errors
// (the rest package's tests cover every endpoint against a fake herder).
func TestStandalone_RESTOverHTTP(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	dir := t.TempDir()
	ready := make(chan string, 1)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(wctx, Config{Worker: map[string]string{"bootstrap.servers": n.Addr(), "listeners": "http://127.0.0.1:0",
			"offset.storage.file.filename": filepath.Join(dir, "offsets"), "value.converter.schemas.enable": "false"},
			Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() { stop(); <-done })
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("worker exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker not ready")
	}
	call := func(method, path, body string) (int, map[string]any, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m, string(raw)
	}
	in := filepath.Join(dir, "in.txt")
	create := `{"name":"src","config":{"connector.class":"FileStreamSource","file":"` + in + `","topic":"lines","tasks.max":1}}`
	cases := []struct {
		method, path, body string
		code               int
		check              func(map[string]any, string) bool
	}{
		{"GET", "/", "", 200, func(m map[string]any, _ string) bool { return m["version"] != nil && m["kafka_cluster_id"] != "" }},
		{"POST", "/connectors", create, 201, func(m map[string]any, _ string) bool { return m["name"] == "src" && m["type"] == "source" }},
		{"POST", "/connectors", create, 409, func(m map[string]any, _ string) bool { return m["error_code"] == float64(409) }},
		{"POST", "/connectors", `{"name":"bad","config":{"connector.class":"FileStreamSink"}}`, 400,
			func(m map[string]any, _ string) bool {
				return m["error_code"] == float64(400) && strings.Contains(m["message"].(string), "Must configure one of topics or topics.regex")
			}},
		{"GET", "/connectors/nope", "", 404, func(m map[string]any, _ string) bool { return m["error_code"] == float64(404) }},
		{"GET", "/connectors", "", 200, func(_ map[string]any, raw string) bool { return strings.TrimSpace(raw) == `["src"]` }},
		{"GET", "/connectors/src/config", "", 200, func(m map[string]any, _ string) bool { return m["tasks.max"] == "1" }},
		{"PUT", "/connectors/src/pause", "", 202, nil},
		{"PUT", "/connectors/src/resume", "", 202, nil},
		{"POST", "/connectors/src/restart?includeTasks=true", "", 202, func(m map[string]any, _ string) bool { return m["name"] == "src" }},
		{"GET", "/connectors/src/offsets", "", 200, func(m map[string]any, _ string) bool { _, ok := m["offsets"]; return ok }},
		{"DELETE", "/connectors/src/offsets", "", 400, func(m map[string]any, _ string) bool {
			return strings.Contains(m["message"].(string), "STOPPED")
		}},
		{"GET", "/connector-plugins", "", 200, func(_ map[string]any, raw string) bool { return strings.Contains(raw, "FileStreamSourceConnector") }},
		{"PUT", "/connector-plugins/FileStreamSink/config/validate", `{"connector.class":"FileStreamSink","name":"x","topics":"t"}`, 200,
			func(m map[string]any, _ string) bool { return m["error_count"] == float64(0) }},
		{"DELETE", "/connectors/src", "", 204, nil},
		{"GET", "/connectors/src/status", "", 404, nil},
	}
	for _, c := range cases {
		code, m, raw := call(c.method, c.path, c.body)
		if code != c.code || (c.check != nil && !c.check(m, raw)) {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, raw, c.code)
		}
	}
}
