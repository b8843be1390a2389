package herder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/connectors/file"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// stringConverter stands in for Kafka's StringConverter (the converters
// package registers the real one).
type stringConverter struct{}

func (stringConverter) Configure(map[string]string, bool) error { return nil }
func (stringConverter) FromConnectData(_ string, _ []connect.Header, _ *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return []byte(fmt.Sprint(v)), nil
}
func (stringConverter) ToConnectData(_ string, _ []connect.Header, b []byte) (*connect.Schema, any, error) {
	if b == nil {
		return connect.OptionalStringSchema, nil, nil
	}
	return connect.OptionalStringSchema, string(b), nil
}

func startHerder(t *testing.T) (*Standalone, string) {
	t.Helper()
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	reg := connect.NewRegistry()
	if err := file.Register(reg); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(connect.Plugin{Class: "org.apache.kafka.connect.storage.StringConverter", Type: connect.PluginConverter, New: func() any { return stringConverter{} }})
	offsets, err := runtime.OpenFileOffsetStore(filepath.Join(t.TempDir(), "offsets"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	w, err := runtime.NewWorker(runtime.WorkerConfig{WorkerID: "127.0.0.1:8083", BootstrapServers: []string{n.Addr()}, Registry: reg, Offsets: offsets,
		ClientOptions:       []kgo.Opt{kgo.AllowAutoTopicCreation()},
		ConverterProps:      map[string]string{"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter"},
		OffsetFlushInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := NewStandalone(StandaloneConfig{WorkerID: "127.0.0.1:8083", Worker: w, Registry: reg, Offsets: offsets, Admin: kadm.NewClient(cl)})
	t.Cleanup(h.Close)
	return h, n.Addr()
}

func lines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// A file copied through a topic by a FileStreamSource and a
// FileStreamSink, with the herder's states, pause, stop, offsets and
// delete along the way.
func TestStandalone_FileToTopicToFile(t *testing.T) {
	h, _ := startHerder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var want []string
	var b strings.Builder
	for i := range 1000 {
		want = append(want, fmt.Sprintf("line-%04d", i))
		b.WriteString(want[i] + "\n")
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, created, err := h.PutConnectorConfig(ctx, "src", map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "lines"}, false); err != nil || !created {
		t.Fatalf("source: %v %v", created, err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "lines"}, false); !errors.Is(err, connect.ErrConflict) {
		t.Fatalf("creating src twice: %v", err)
	}
	var bad *connect.BadConfigError
	if _, _, err := h.PutConnectorConfig(ctx, "broken", map[string]string{"connector.class": "FileStreamSink"}, false); !errors.As(err, &bad) {
		t.Fatalf("a sink without topics: %v", err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "dst", map[string]string{"connector.class": "FileStreamSink", "file": out, "topics": "lines"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the copy", func() bool { return len(lines(t, out)) >= len(want) })
	if got := lines(t, out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("copied %d lines, first differences at ... (got %v)", len(got), got[:min(5, len(got))])
	}
	st, err := h.ConnectorStatus(ctx, "src")
	if err != nil || st.Connector.State != connect.Running || len(st.Tasks) != 1 || st.Tasks[0].State != connect.Running || st.Type != connect.SourceType {
		t.Fatalf("source status %+v %v", st, err)
	}
	if err := h.PauseConnector(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the sink paused", func() bool {
		st, _ := h.ConnectorStatus(ctx, "dst")
		return st.Connector.State == connect.Paused && len(st.Tasks) == 1 && st.Tasks[0].State == connect.Paused
	})
	if err := h.ResumeConnector(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	// Offsets: readable, changeable only once stopped.
	if _, err := h.ResetConnectorOffsets(ctx, "src"); !errors.Is(err, connect.ErrBadRequest) {
		t.Fatalf("resetting a running connector's offsets: %v", err)
	}
	if err := h.StopConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	offs, err := h.ConnectorOffsets(ctx, "src")
	if err != nil || len(offs.Offsets) != 1 || offs.Offsets[0].Partition["filename"] != in {
		t.Fatalf("source offsets %+v %v", offs, err)
	}
	if st, _ := h.ConnectorStatus(ctx, "src"); st.Connector.State != connect.Stopped || len(st.Tasks) != 0 {
		t.Fatalf("stopped status %+v", st)
	}
	if _, err := h.ResetConnectorOffsets(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if offs, _ := h.ConnectorOffsets(ctx, "src"); len(offs.Offsets) != 0 {
		t.Fatalf("offsets after reset %+v", offs)
	}
	sinkOffs, err := h.ConnectorOffsets(ctx, "dst")
	if err != nil || len(sinkOffs.Offsets) == 0 || sinkOffs.Offsets[0].Partition["kafka_topic"] != "lines" {
		t.Fatalf("sink offsets %+v %v", sinkOffs, err)
	}
	if err := h.DeleteConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ConnectorInfo(ctx, "src"); !errors.Is(err, connect.ErrNotFound) {
		t.Fatalf("deleted connector: %v", err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
