package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	httpsink "github.com/fjordstream/fjord/internal/connect/connectors/http"
	"github.com/fjordstream/fjord/internal/connect/convert"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

type nopListener struct{}

func (nopListener) OnStartup(connect.TaskID)                {}
func (nopListener) OnRunning(connect.TaskID)                {}
func (nopListener) OnPause(connect.TaskID)                  {}
func (nopListener) OnResume(connect.TaskID)                 {}
func (nopListener) OnFailure(connect.TaskID, error, string) {}
func (nopListener) OnShutdown(connect.TaskID)               {}

// The connector run by the worker against an in-process broker: a 503 is
// retried, the record the endpoint refuses lands in the dead-letter
// queue, the others are delivered, and the offsets are committed past
// all of them.
func TestEndToEnd(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]

	var mu sync.Mutex
	var delivered []string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch {
		case calls == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.Contains(string(b), "bad"):
			w.WriteHeader(http.StatusBadRequest)
		default:
			delivered = append(delivered, string(b))
		}
	}))
	t.Cleanup(srv.Close)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{"a", `{"x":1}`, "bad", "d"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	reg := connect.NewRegistry()
	if err := httpsink.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := convert.Register(reg); err != nil {
		t.Fatal(err)
	}
	w, err := runtime.NewWorker(runtime.WorkerConfig{
		WorkerID: "w1", BootstrapServers: []string{addr}, Registry: reg, Offsets: runtime.NewMemoryOffsetStore(),
		ConverterProps: map[string]string{"key.converter": "org.apache.kafka.connect.storage.StringConverter",
			"value.converter": "org.apache.kafka.connect.storage.StringConverter"},
		OffsetFlushInterval: 100 * time.Millisecond, OffsetFlushTimeout: 3 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ClientOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.StopAll() })
	conn := map[string]string{"name": "web", "connector.class": "HttpSink", "topics": "in",
		httpsink.KeyURL: srv.URL, httpsink.KeyBatchMaxSize: "10", httpsink.KeyBatchAsArray: "true",
		httpsink.KeyRetryBackoffMs: "10", httpsink.KeyMaxRetries: "2",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq", "errors.deadletterqueue.topic.replication.factor": "1"}
	if err := w.StartTask(connect.TaskID{Connector: "web"}, conn, conn, nopListener{}); err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(cl)
	for {
		offs, err := adm.FetchOffsets(ctx, "connect-web")
		if o, ok := offs.Lookup("in", 0); err == nil && ok && o.At == 4 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the commit never reached offset 4")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	got := slices.Clone(delivered)
	mu.Unlock()
	// The refused array is narrowed down record by record; whether the
	// first batch held all four records depends on the fetch.
	var flat []string
	for _, b := range got {
		flat = append(flat, strings.Trim(b, "[]"))
	}
	joined := strings.Join(flat, ",")
	for _, v := range []string{`"a"`, `{"x":1}`, `"d"`} {
		if !strings.Contains(joined, v) {
			t.Fatalf("%s not delivered: %q", v, got)
		}
	}

	dl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	fs := dl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "bad" {
		t.Fatalf("dead-letter queue: %v (errors %v)", recs, fs.Errors())
	}
}
