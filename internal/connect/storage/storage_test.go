package storage

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
)

// broker starts a standalone Fjord node for the test.
func broker(t *testing.T) []string {
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
	return []string{n.Addr()}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Offsets written by one store are read by a second, as a restarted or
// another worker would; integral numbers come back as int64.
func TestTopicOffsetStore_SurvivesAReopen(t *testing.T) {
	seeds, ctx := broker(t), ctxT(t)
	spec := TopicSpec{Name: "connect-offsets", Partitions: 3, ReplicationFactor: 1}
	a, err := NewTopicOffsetStore(spec, seeds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p1, p2 := map[string]any{"filename": "/a"}, map[string]any{"filename": "/b"}
	if err := a.Set(ctx, "c", []connect.ConnectorOffset{{Partition: p1, Offset: map[string]any{"position": int64(10)}},
		{Partition: p2, Offset: map[string]any{"position": int64(20)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "c", []connect.ConnectorOffset{{Partition: p1, Offset: map[string]any{"position": int64(11)}}, {Partition: p2}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := NewTopicOffsetStore(spec, seeds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "c", []map[string]any{{"filename": "/a"}, {"filename": "/b"}})
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0], map[string]any{"position": int64(11)}) || got[1] != nil {
		t.Fatalf("offset of /a: %v %v", got, err)
	}
	list, err := b.List(ctx, "c")
	if err != nil || len(list) != 1 {
		t.Fatalf("list after a tombstone: %+v %v", list, err)
	}
	key, _ := OffsetKey("c", p1)
	if string(key) != `["c",{"filename":"/a"}]` {
		t.Fatalf("offset key %s, want Kafka's [connector, partition]", key)
	}
}

// Task configurations become visible together at their commit record;
// target states round-trip, STOPPED written as Kafka 3.5+ writes it;
// deleting a connector removes it; a second store sees the same snapshot.
func TestConfigStore_Snapshots(t *testing.T) {
	seeds, ctx := broker(t), ctxT(t)
	spec := TopicSpec{Name: "connect-configs", ReplicationFactor: 1}
	var mu sync.Mutex
	var restarts []RestartRequest
	s, err := NewConfigStore(spec, seeds, nil, nil, func(r RestartRequest) { mu.Lock(); restarts = append(restarts, r); mu.Unlock() }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConnectorConfig(ctx, "c", map[string]string{"connector.class": "X", "tasks.max": "2"}, connect.TargetStarted); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTaskConfigs(ctx, "c", []map[string]string{{"t": "0"}, {"t": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTargetState(ctx, "c", connect.TargetStopped); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRestartRequest(ctx, RestartRequest{Connector: "c", IncludeTasks: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadToEnd(ctx); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if snap.TaskCount("c") != 2 || snap.TargetStates["c"] != connect.TargetStopped || snap.Connectors["c"]["tasks.max"] != "2" {
		t.Fatalf("snapshot %+v", snap)
	}
	mu.Lock()
	if len(restarts) != 1 || !restarts[0].IncludeTasks {
		t.Fatalf("restart requests %+v", restarts)
	}
	mu.Unlock()
	// The raw target-state record is Kafka's.
	cl, _ := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(spec.Name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	found := false
	for !found && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "target-state-c" {
				found = string(r.Value) == `{"state":"PAUSED","state.v2":"STOPPED"}`
				if !found {
					t.Errorf("target state record %s", r.Value)
				}
			}
		})
	}
	// A half-written task set (no commit) stays invisible.
	if err := s.log.Send(ctx, []byte("task-c-0"), []byte(`{"properties":{"t":"new"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveConnector(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	other, err := NewConfigStore(spec, seeds, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := other.Snapshot(); len(snap.Connectors) != 0 || len(snap.Tasks) != 0 {
		t.Fatalf("after deletion: %+v", snap)
	}
}

// The last status record wins whatever its generation (a group's
// generations start again after the coordinator deleted it); topics used
// are listed and reset.
func TestStatusStore(t *testing.T) {
	seeds, ctx := broker(t), ctxT(t)
	s, err := NewStatusStore(TopicSpec{Name: "connect-status", Partitions: 2, ReplicationFactor: 1}, seeds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	id := connect.TaskID{Connector: "c", Task: 1}
	if err := s.PutTask(ctx, id, Status{State: connect.Running, WorkerID: "w1:8083", Generation: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask(ctx, id, Status{State: connect.Failed, WorkerID: "w0:8083", Generation: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTopic(ctx, "c", 1, "orders", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadToEnd(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ok := s.Task(id); !ok || st.State != connect.Failed || st.Generation != 4 {
		t.Fatalf("task status %+v: the last record wins, as Kafka reads them", st)
	}
	if got := s.Topics("c"); !reflect.DeepEqual(got, []string{"orders"}) {
		t.Fatalf("topics %v", got)
	}
	if err := s.ResetTopics(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadToEnd(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Topics("c"); len(got) != 0 {
		t.Fatalf("topics after reset %v", got)
	}
}

// A topic that is not compacted is refused.
func TestKafkaLog_RefusesATopicThatIsNotCompacted(t *testing.T) {
	seeds, ctx := broker(t), ctxT(t)
	cl, _ := kgo.NewClient(kgo.SeedBrokers(seeds...))
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "plain"); err != nil {
		t.Fatal(err)
	}
	l, err := NewKafkaLog(TopicSpec{Name: "plain", Partitions: 1, ReplicationFactor: 1}, seeds, nil, func(*kgo.Record) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(ctx); err == nil {
		t.Fatal("a topic with cleanup.policy=delete was accepted")
	}
}
