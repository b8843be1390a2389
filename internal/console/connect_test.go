package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect/standalone"
	"github.com/fjordstream/fjord/internal/console"
)

// The Connect pages over a real standalone worker: a connector created
// from the page's JSON form runs, pauses and goes away with the buttons.
func TestConsole_Connect(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
		done <- standalone.Run(wctx, standalone.Config{Worker: map[string]string{"bootstrap.servers": n.Addr(), "listeners": "http://127.0.0.1:0",
			"offset.storage.file.filename": filepath.Join(dir, "offsets")}, Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() { stop(); <-done })
	var worker string
	select {
	case worker = <-ready:
	case err := <-done:
		t.Fatalf("worker exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker not ready")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := console.New(console.Config{Client: cl, ConnectURL: worker})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	page := func() string {
		resp, err := http.Get(srv.URL + "/connect")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(path string, form url.Values) int {
		form.Set("csrf", console.Token(c))
		resp, err := http.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for p := page(); !ok(p); p = page() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if p := page(); !strings.Contains(p, "No connectors.") {
		t.Fatalf("an empty worker:\n%s", p)
	}
	in := filepath.Join(dir, "in.txt")
	cfg := `{"name": "lines", "connector.class": "FileStreamSource", "file": "` + in + `", "topic": "lines", "tasks.max": 1}`
	if code := post("/connect", url.Values{"config": {cfg}}); code != 200 {
		t.Fatalf("create: %d", code)
	}
	waitFor("the connector running", func(p string) bool {
		return strings.Contains(p, `<tr id="lines"`) && strings.Contains(p, "<td>RUNNING</td>") && strings.Contains(p, "0: RUNNING")
	})
	if code := post("/connect/lines/pause", url.Values{}); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	waitFor("the connector paused", func(p string) bool { return strings.Contains(p, "<td>PAUSED</td>") })
	if code := post("/connect", url.Values{"config": {`{"connector.class": "FileStreamSource"}`}}); code != 400 {
		t.Fatalf("a config without a name: %d", code)
	}
	if code := post("/connect/lines/delete", url.Values{}); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	waitFor("the connector gone", func(p string) bool { return strings.Contains(p, "No connectors.") })

	bare, err := console.New(console.Config{Client: cl, AllowedHosts: []string{"example.com"}}) // httptest.NewRequest's host
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/connect", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "--connect-url") {
		t.Fatalf("without a worker: %d %s", rec.Code, rec.Body.String())
	}
}
