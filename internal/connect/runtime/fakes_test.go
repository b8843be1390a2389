package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// stringConverter is the tests' converter: strings to bytes and back;
// "poison" fails to deserialize, a value of "retry-once" fails
// retriably once.
type stringConverter struct{ retried *sync.Map }

func (stringConverter) Configure(map[string]string, bool) error { return nil }

func (stringConverter) FromConnectData(_ string, _ []connect.Header, _ *connect.Schema, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(t), nil
	case []byte:
		return t, nil
	case int64:
		return []byte(strconv.FormatInt(t, 10)), nil
	}
	return nil, fmt.Errorf("cannot serialize a %T", v)
}

func (c stringConverter) ToConnectData(_ string, _ []connect.Header, b []byte) (*connect.Schema, any, error) {
	if string(b) == "poison" {
		return nil, nil, errors.New("poison value")
	}
	if b == nil {
		return nil, nil, nil
	}
	return nil, string(b), nil
}

// suffixTransform appends its "suffix" to string values.
type suffixTransform struct{ suffix string }

func (*suffixTransform) Config() connect.ConfigDef { return nil }
func (t *suffixTransform) Configure(p map[string]string) error {
	t.suffix = p["suffix"]
	return nil
}
func (t *suffixTransform) Apply(r connect.Record) (connect.Record, bool, error) {
	if s, ok := r.Value.(string); ok {
		if s == "drop" {
			return r, false, nil
		}
		r.Value = s + t.suffix
	}
	return r, true, nil
}

// valueIs is a predicate matching records whose value is "value".
type valueIs struct{ v string }

func (*valueIs) Config() connect.ConfigDef { return nil }
func (p *valueIs) Configure(c map[string]string) error {
	p.v = c["value"]
	return nil
}
func (p *valueIs) Test(r connect.Record) (bool, error) { return r.Value == p.v, nil }

// testConnector is a source or sink connector whose tasks the test
// supplies.
type testConnector struct {
	source func() connect.SourceTask
	sink   func() connect.SinkTask
}

func (testConnector) Version() string                                         { return "test" }
func (testConnector) Config() connect.ConfigDef                               { return nil }
func (testConnector) Start(connect.ConnectorContext, map[string]string) error { return nil }
func (testConnector) TaskConfigs(int) ([]map[string]string, error)            { return nil, nil }
func (testConnector) Stop() error                                             { return nil }
func (c testConnector) NewTask() connect.SourceTask                           { return c.source() }

type sinkConnector struct{ testConnector }

func (c sinkConnector) NewTask() connect.SinkTask { return c.sink() }

// newRegistry registers the fakes; the tasks come from source and sink.
func newRegistry(t *testing.T, source func() connect.SourceTask, sink func() connect.SinkTask) *connect.Registry {
	t.Helper()
	r := connect.NewRegistry()
	r.MustRegister(connect.Plugin{Class: "test.StringConverter", Type: connect.PluginConverter, New: func() any { return stringConverter{} }})
	r.MustRegister(connect.Plugin{Class: "test.Suffix", Type: connect.PluginTransformation, New: func() any { return &suffixTransform{} }})
	r.MustRegister(connect.Plugin{Class: "test.ValueIs", Type: connect.PluginPredicate, New: func() any { return &valueIs{} }})
	r.MustRegister(connect.Plugin{Class: "test.SourceConnector", Type: connect.PluginSource, New: func() any { return testConnector{source: source} }})
	r.MustRegister(connect.Plugin{Class: "test.SinkConnector", Type: connect.PluginSink, New: func() any { return sinkConnector{testConnector{sink: sink}} }})
	return r
}

// listener records status callbacks.
type listener struct {
	mu      sync.Mutex
	events  []string
	failure error
	failed  chan struct{}
	running chan struct{}
}

func newListener() *listener {
	return &listener{failed: make(chan struct{}), running: make(chan struct{}, 4)}
}

func (l *listener) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}
func (l *listener) OnStartup(connect.TaskID) { l.add("startup") }
func (l *listener) OnRunning(connect.TaskID) {
	l.add("running")
	l.running <- struct{}{}
}
func (l *listener) OnPause(connect.TaskID)  { l.add("pause") }
func (l *listener) OnResume(connect.TaskID) { l.add("resume") }
func (l *listener) OnFailure(_ connect.TaskID, err error, trace string) {
	l.mu.Lock()
	l.failure = err
	l.mu.Unlock()
	l.add("failure")
	close(l.failed)
}
func (l *listener) OnShutdown(connect.TaskID) { l.add("shutdown") }

func (l *listener) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// startKafka starts an in-process kfake cluster with the given topics
// (partitions each).
func startKafka(t *testing.T, partitions int32, topics ...string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func newTestWorker(t *testing.T, addr string, reg *connect.Registry, store OffsetStore) *Worker {
	t.Helper()
	w, err := NewWorker(WorkerConfig{
		WorkerID: "w1", BootstrapServers: []string{addr}, Registry: reg, Offsets: store,
		ConverterProps:      map[string]string{"key.converter": "test.StringConverter", "value.converter": "test.StringConverter"},
		OffsetFlushInterval: 100 * time.Millisecond, OffsetFlushTimeout: 3 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ClientOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.StopAll() })
	return w
}

// consumeAll reads n records of topic from the start, within 10 s.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, f.Records()...)
	}
	return out
}

// produce writes values to topic's partition 0.
func produce(t *testing.T, addr, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
