package standalone

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord"
)

// A standalone worker serves its task metrics and connector states at
// GET /metrics on its REST listener; the counts follow the records moved,
// and a deleted connector's series go.
func TestStandalone_Metrics(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
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
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var lines strings.Builder
	for i := range 50 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(wctx, Config{Worker: map[string]string{"bootstrap.servers": n.Addr(), "listeners": "http://127.0.0.1:0",
			"offset.storage.file.filename": filepath.Join(dir, "offsets"), "offset.flush.interval.ms": "100",
			"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter"},
			Connectors: []map[string]string{
				{"name": "src", "connector.class": "FileStreamSource", "file": in, "topic": "lines"},
				{"name": "snk", "connector.class": "FileStreamSink", "file": out, "topics": "lines"},
			},
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
	scrape := func() string {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	want := []string{
		`fjord_connect_source_records_polled_total{connector="src",task="0"} 50`,
		`fjord_connect_source_records_written_total{connector="src",task="0"} 50`,
		`fjord_connect_sink_records_put_total{connector="snk",task="0"} 50`,
		`fjord_connect_connector_state{connector="src",state="RUNNING"} 1`,
		`fjord_connect_task_state{connector="snk",state="RUNNING",task="0",`,
		`fjord_connect_connectors 2`,
		`fjord_connect_offset_commit_duration_seconds_count{connector="snk",task="0"}`,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := scrape()
		missing := ""
		for _, w := range want {
			if !strings.Contains(m, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in /metrics:\n%s", missing, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/connectors/src", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline = time.Now().Add(10 * time.Second)
	for strings.Contains(scrape(), `connector="src"`) {
		if time.Now().After(deadline) {
			t.Fatal("a deleted connector's series are still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
