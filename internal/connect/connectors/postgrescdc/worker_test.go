package postgrescdc

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/convert"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// quietListener ignores a task's state changes but its failure.
type quietListener struct{ t *testing.T }

func (quietListener) OnStartup(connect.TaskID) {}
func (quietListener) OnRunning(connect.TaskID) {}
func (quietListener) OnPause(connect.TaskID)   {}
func (quietListener) OnResume(connect.TaskID)  {}
func (l quietListener) OnFailure(_ connect.TaskID, err error, _ string) {
	l.t.Errorf("task failed: %v", err)
}
func (quietListener) OnShutdown(connect.TaskID) {}

// TestThroughTheWorker runs the connector in the Connect runtime against
// Kafka (kfake) with the JSON converter and a file offset store: the
// envelope converts, offsets are stored and Commit confirms them, and a
// restarted worker resumes without snapshotting again.
func TestThroughTheWorker(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), at timestamptz)`,
		`INSERT INTO items VALUES (1, 'one', 1.25, now()), (2, 'two', NULL, NULL)`)
	const topic = "srv.public.items"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]
	reg := connect.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := convert.Register(reg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "connect.offsets")
	newWorker := func() *runtime.Worker {
		store, err := runtime.OpenFileOffsetStore(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := runtime.NewWorker(runtime.WorkerConfig{WorkerID: "w1", BootstrapServers: []string{addr}, Registry: reg, Offsets: store,
			ConverterProps:      map[string]string{"key.converter": convert.JSONConverterClass, "value.converter": convert.JSONConverterClass},
			OffsetFlushInterval: 100 * time.Millisecond, OffsetFlushTimeout: 3 * time.Second,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.StopAll() })
		return w
	}
	cfg := pg.props("name", "pg", "connector.class", Alias, KeyTableInclude, "public.items")
	id := connect.TaskID{Connector: "pg", Task: 0}

	w := newWorker()
	if err := w.StartTask(id, cfg, cfg, quietListener{t}); err != nil {
		t.Fatal(err)
	}
	// StartTask starts the task in the background: the changes must
	// follow the snapshot, not race it.
	if got, want := consumeOps(t, addr, topic, 2), "[r:1 r:2]"; got != want {
		t.Fatalf("topic holds %s, want %s", got, want)
	}
	pg.exec(t, `UPDATE items SET name = 'uno' WHERE id = 1`, `DELETE FROM items WHERE id = 2`)
	got := consumeOps(t, addr, topic, 5)
	if want := "[r:1 r:2 u:1 d:2 tomb:2]"; got != want {
		t.Fatalf("topic holds %s, want %s", got, want)
	}
	// Let a flush store the last offset (the delete's tombstone).
	waitFor(t, "the stored offset", func() bool {
		off, err := w.Offsets().Get(context.Background(), "pg", []map[string]any{{partitionServer: "srv"}})
		return err == nil && off[0] != nil && off[0][OffsetEvent] != nil && off[0][OffsetEvent].(int64) == 2
	})
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}

	pg.exec(t, `INSERT INTO items VALUES (3, 'three', 3, now())`)
	w = newWorker()
	if err := w.StartTask(id, cfg, cfg, quietListener{t}); err != nil {
		t.Fatal(err)
	}
	if got, want := consumeOps(t, addr, topic, 6), "[r:1 r:2 u:1 d:2 tomb:2 c:3]"; got != want {
		t.Fatalf("after the restart the topic holds %s, want %s", got, want)
	}
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumeOps reads the first n records of topic and renders them as
// op:id from their JSON (schema and payload) form; a repeated record
// shows as one too many before the last expected one.
func consumeOps(t *testing.T, addr, topic string, n int) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %v, want %d records", out, n)
		}
		f.EachRecord(func(r *kgo.Record) {
			var key struct {
				Payload struct{ ID int } `json:"payload"`
			}
			if err := json.Unmarshal(r.Key, &key); err != nil {
				t.Fatalf("key %s: %v", r.Key, err)
			}
			if r.Value == nil {
				out = append(out, "tomb:"+itoa(key.Payload.ID))
				return
			}
			var val struct {
				Schema  struct{ Name string } `json:"schema"`
				Payload struct{ Op string }   `json:"payload"`
			}
			if err := json.Unmarshal(r.Value, &val); err != nil {
				t.Fatalf("value %s: %v", r.Value, err)
			}
			if val.Schema.Name != topic+".Envelope" {
				t.Errorf("value schema %q", val.Schema.Name)
			}
			out = append(out, val.Payload.Op+":"+itoa(key.Payload.ID))
		})
	}
	return "[" + join(out) + "]"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// testWriter sends the runtime's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
