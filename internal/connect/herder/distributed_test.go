package herder

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/plugins"
	"github.com/fjordstream/fjord/internal/connect/runtime"
	"github.com/fjordstream/fjord/internal/connect/storage"
	"github.com/fjordstream/fjord/internal/connect/workergroup"
)

// flakyConn is a source connector whose Start fails when its config says
// so, with tasks that only wait.
type flakyConn struct{ props map[string]string }

func (c *flakyConn) Version() string             { return "1" }
func (c *flakyConn) Config() connect.ConfigDef   { return nil }
func (c *flakyConn) Stop() error                 { return nil }
func (c *flakyConn) NewTask() connect.SourceTask { return &idleTask{} }
func (c *flakyConn) Start(_ connect.ConnectorContext, p map[string]string) error {
	if p["fail"] == "true" {
		return errors.New("start failed on purpose")
	}
	c.props = p
	return nil
}
func (c *flakyConn) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{"x": c.props["x"]}}, nil
}

// idleTask polls nothing. Stop may come while Start runs (the runtime
// interrupts a task at any time, as Kafka's does), so its channel is made
// once, whoever asks first.
type idleTask struct {
	made, closed sync.Once
	stop         chan struct{}
}

func (t *idleTask) stopped() chan struct{} {
	t.made.Do(func() { t.stop = make(chan struct{}) })
	return t.stop
}

func (t *idleTask) Start(connect.SourceTaskContext, map[string]string) error {
	t.stopped()
	time.Sleep(200 * time.Millisecond) // Start takes a moment, as real ones do
	return nil
}
func (t *idleTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	select {
	case <-ctx.Done():
	case <-t.stopped():
	case <-time.After(100 * time.Millisecond):
	}
	return nil, nil
}
func (t *idleTask) Stop() error { t.closed.Do(func() { close(t.stopped()) }); return nil }

// One distributed worker: a connector whose Start failed recovers once its
// configuration is fixed (it is assigned here though not running); a
// paused connector's restarted task stays PAUSED; a stopped connector lists
// no tasks (KIP-875). Each was wrong before the review of this herder.
func TestDistributed_FailedStartPausedRestartAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, _, _ := startTestHerder(t, ctx, connect.Plugin{Class: "Flaky", Type: connect.PluginSource, New: func() any { return &flakyConn{} }}, false)
	wait := func(what string, f func(connect.ConnectorStateInfo) bool) connect.ConnectorStateInfo {
		var st connect.ConnectorStateInfo
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) {
			st, _ = d.ConnectorStatus(ctx, "c")
			if f(st) {
				return st
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("%s: not reached; status %+v", what, st)
		return st
	}
	cfg := map[string]string{"connector.class": "Flaky", "tasks.max": "1", "fail": "true", "x": "1"}
	if _, _, err := d.PutConnectorConfig(ctx, "c", cfg, false); err != nil {
		t.Fatal(err)
	}
	wait("failed at start", func(s connect.ConnectorStateInfo) bool { return s.Connector.State == connect.Failed })
	cfg["fail"] = "false"
	if _, _, err := d.PutConnectorConfig(ctx, "c", cfg, true); err != nil {
		t.Fatal(err)
	}
	wait("running after the fixed config", func(s connect.ConnectorStateInfo) bool { return s.Connector.State == connect.Running })
	// Pause, then restart its tasks: they should stay PAUSED.
	_ = d.PauseConnector(ctx, "c")
	wait("paused", func(s connect.ConnectorStateInfo) bool {
		return s.Connector.State == connect.Paused && len(s.Tasks) == 1 && s.Tasks[0].State == connect.Paused
	})
	if _, err := d.RestartConnector(ctx, "c", true, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if st, _ := d.ConnectorStatus(ctx, "c"); len(st.Tasks) != 1 || st.Tasks[0].State != connect.Paused {
		t.Errorf("a paused connector's restarted task: %+v, want PAUSED", st)
	}
	if err := d.StopConnector(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	wait("stopped with no tasks", func(s connect.ConnectorStateInfo) bool {
		return s.Connector.State == connect.Stopped && len(s.Tasks) == 0
	})
}

// startTestHerder starts an in-process node and one distributed worker on
// it, with plugin registered, and waits until the worker leads its group;
// exactlyOnce is exactly.once.source.support=enabled. Both stop with the
// test.
func startTestHerder(t *testing.T, ctx context.Context, plugin connect.Plugin, exactlyOnce bool) (*Distributed, []string, *storage.TopicOffsetStore) {
	t.Helper()
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	reg, err := plugins.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(plugin)
	seeds := []string{n.Addr()}
	opts := []kgo.Opt{kgo.AllowAutoTopicCreation()}
	offs, err := storage.NewTopicOffsetStore(storage.TopicSpec{Name: "offs", Partitions: 2, ReplicationFactor: 1, ReadCommitted: exactlyOnce}, seeds, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d *Distributed
	wcfg := runtime.WorkerConfig{WorkerID: "w1", BootstrapServers: seeds, ClientOptions: opts, Registry: reg, Offsets: offs,
		ConverterProps: map[string]string{"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter"}}
	mode := connect.ExactlyOnceDisabled
	if exactlyOnce {
		mode = connect.ExactlyOnceEnabled
		wcfg.ExactlyOnce, wcfg.GroupID, wcfg.OffsetFlushTimeout = true, "g", 10*time.Second
		wcfg.TaskIsCurrent = func(ctx context.Context, id connect.TaskID, cfg map[string]string) error {
			return d.TaskIsCurrent(ctx, id, cfg)
		}
	}
	w, err := runtime.NewWorker(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err = NewDistributed(DistributedConfig{WorkerID: "w1", URL: "http://w1", Seeds: seeds, ClientOptions: opts, Registry: reg, Worker: w, Offsets: offs,
		Configs: storage.TopicSpec{Name: "cfgs", Partitions: 1, ReplicationFactor: 1}, Status: storage.TopicSpec{Name: "stat", Partitions: 1, ReplicationFactor: 1},
		Group:    workergroup.Config{GroupID: "g", SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second, HeartbeatInterval: 300 * time.Millisecond},
		MaxDelay: time.Second, ExactlyOnce: mode})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for d.leaderCheck() != nil {
		if ctx.Err() != nil {
			t.Fatal("the worker never led its group")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d, seeds, offs
}
