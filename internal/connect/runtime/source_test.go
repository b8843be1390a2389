package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// countingSource emits, for each of its source partitions, records with
// offsets from where the stored offset says up to limit, to topicOf(i).
type countingSource struct {
	parts   []string
	limit   int64
	topicOf func(part string, pos int64) string

	ctx     connect.SourceTaskContext
	next    map[string]int64
	mu      sync.Mutex
	metas   []*connect.RecordMetadata
	commits int
}

func (s *countingSource) Start(ctx connect.SourceTaskContext, _ map[string]string) error {
	s.ctx, s.next = ctx, map[string]int64{}
	for _, p := range s.parts {
		off, err := ctx.Offset(map[string]any{"part": p})
		if err != nil {
			return err
		}
		if off != nil {
			s.next[p] = off["pos"].(int64) + 1
		}
	}
	return nil
}

func (s *countingSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	var out []connect.SourceRecord
	for _, p := range s.parts {
		for i := 0; i < 3 && s.next[p] < s.limit; i++ {
			pos := s.next[p]
			s.next[p]++
			out = append(out, connect.SourceRecord{
				Record:          connect.Record{Topic: s.topicOf(p, pos), Partition: connect.NoPartition, Key: p, Value: fmt.Sprintf("%s-%d", p, pos)},
				SourcePartition: map[string]any{"part": p}, SourceOffset: map[string]any{"pos": pos},
			})
		}
	}
	if len(out) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return out, nil
}

func (s *countingSource) Stop() error { return nil }

func (s *countingSource) CommitRecord(_ connect.SourceRecord, meta *connect.RecordMetadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metas = append(s.metas, meta)
	return nil
}

func (s *countingSource) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	return nil
}

func (s *countingSource) acked() (n, skipped, commits int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.metas {
		if m == nil {
			skipped++
		}
	}
	return len(s.metas), skipped, s.commits
}

func storedPos(t *testing.T, store OffsetStore, conn, part string) int64 {
	t.Helper()
	got, err := store.Get(context.Background(), conn, []map[string]any{{"part": part}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil {
		return -1
	}
	return got[0]["pos"].(int64)
}

func sourceConfig(name string) map[string]string {
	return map[string]string{"name": name, "connector.class": "test.SourceConnector", "tasks.max": "1",
		"transforms": "s", "transforms.s.type": "test.Suffix", "transforms.s.suffix": "!"}
}

func TestSourceTask_DeliversCommitsAndResumes(t *testing.T) {
	addr := startKafka(t, 2, "src")
	path := filepath.Join(t.TempDir(), "connect.offsets")
	store, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var task *countingSource
	newTask := func(limit int64) func() connect.SourceTask {
		return func() connect.SourceTask {
			task = &countingSource{parts: []string{"a", "b"}, limit: limit, topicOf: func(string, int64) string { return "src" }}
			return task
		}
	}
	limit := int64(5)
	reg := newRegistry(t, func() connect.SourceTask { return newTask(limit)() }, nil)
	w := newTestWorker(t, addr, reg, store)
	l := newListener()
	id := connect.TaskID{Connector: "src-conn", Task: 0}
	if err := w.StartTask(id, sourceConfig("src-conn"), map[string]string{}, l); err != nil {
		t.Fatal(err)
	}
	eventually(t, "offsets of both partitions", func() bool {
		return storedPos(t, store, "src-conn", "a") == 4 && storedPos(t, store, "src-conn", "b") == 4
	})
	// Commit follows the store's Set.
	eventually(t, "a Commit", func() bool { _, _, commits := task.acked(); return commits > 0 })
	if n, skipped, _ := task.acked(); n != 10 || skipped != 0 {
		t.Fatalf("CommitRecord %d times (%d skipped)", n, skipped)
	}
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	if got := l.list(); fmt.Sprint(got) != "[startup running shutdown]" {
		t.Fatalf("listener heard %v", got)
	}

	// A new worker (a restarted process) with the reopened file store:
	// the new task resumes after the stored offsets.
	limit = 8
	if store, err = OpenFileOffsetStore(path); err != nil {
		t.Fatal(err)
	}
	w = newTestWorker(t, addr, reg, store)
	l2 := newListener()
	if err := w.StartTask(id, sourceConfig("src-conn"), map[string]string{}, l2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "offsets after the restart", func() bool {
		return storedPos(t, store, "src-conn", "a") == 7 && storedPos(t, store, "src-conn", "b") == 7
	})
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, addr, "src", 16)
	var values []string
	for _, r := range recs {
		values = append(values, string(r.Value))
		// The default partitioner keeps a source partition's records
		// (same key) in one Kafka partition.
		if string(r.Key) == "a" && r.Partition != recs[0].Partition && string(recs[0].Key) == "a" {
			t.Fatalf("key a in two partitions")
		}
	}
	sort.Strings(values)
	want := []string{}
	for _, p := range []string{"a", "b"} {
		for i := 0; i < 8; i++ {
			want = append(want, fmt.Sprintf("%s-%d!", p, i))
		}
	}
	sort.Strings(want)
	if fmt.Sprint(values) != fmt.Sprint(want) {
		t.Fatalf("topic holds %v\nwant %v", values, want)
	}
}

// A record the brokers do not acknowledge holds back its source
// partition's offset (not the other partitions'); under
// errors.tolerance=all it is skipped once the producer gives up.
func TestSourceTask_UnackedRecordHoldsOffset(t *testing.T) {
	addr := startKafka(t, 1, "good")
	store := NewMemoryOffsetStore()
	task := &countingSource{parts: []string{"a", "b"}, limit: 4, topicOf: func(p string, pos int64) string {
		if p == "a" && pos == 1 {
			return "missing" // not created, not auto-created: never acked
		}
		return "good"
	}}
	reg := newRegistry(t, func() connect.SourceTask { return task }, nil)
	w := newTestWorker(t, addr, reg, store)
	w.cfg.ClientOptions = append(w.cfg.ClientOptions, kgo.UnknownTopicRetries(-1), kgo.MetadataMinAge(50*time.Millisecond))
	w.cfg.OffsetFlushTimeout = 500 * time.Millisecond // the stop waits this long for the record that never comes
	cfg := sourceConfig("hold")
	id := connect.TaskID{Connector: "hold"}
	if err := w.StartTask(id, cfg, nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's offset", func() bool { return storedPos(t, store, "hold", "b") == 3 })
	time.Sleep(300 * time.Millisecond) // several flush intervals
	if got := storedPos(t, store, "hold", "a"); got != 0 {
		t.Fatalf("a's offset is %d, want 0 (record 1 is unacknowledged)", got)
	}
	_ = w.StopTask(id)
	if got := storedPos(t, store, "hold", "a"); got != 0 {
		t.Fatalf("after stop a's offset is %d, want 0", got)
	}
}

// A record whose conversion fails is skipped under errors.tolerance=all:
// the task hears CommitRecord(nil) and its offset is committed.
func TestSourceTask_ToleranceAllSkipsConversionFailure(t *testing.T) {
	addr := startKafka(t, 1, "out")
	store := NewMemoryOffsetStore()
	task := &scriptedSource{recs: []connect.SourceRecord{
		{Record: connect.Record{Topic: "out", Partition: connect.NoPartition, Value: "ok1"}, SourcePartition: map[string]any{"part": "a"}, SourceOffset: map[string]any{"pos": int64(0)}},
		{Record: connect.Record{Topic: "out", Partition: connect.NoPartition, Value: 3.5}, SourcePartition: map[string]any{"part": "a"}, SourceOffset: map[string]any{"pos": int64(1)}},
		{Record: connect.Record{Topic: "out", Partition: connect.NoPartition, Value: "drop"}, SourcePartition: map[string]any{"part": "a"}, SourceOffset: map[string]any{"pos": int64(2)}},
		{Record: connect.Record{Topic: "out", Partition: 0, Value: "ok2"}, SourcePartition: map[string]any{"part": "a"}, SourceOffset: map[string]any{"pos": int64(3)}},
	}}
	reg := newRegistry(t, func() connect.SourceTask { return task }, nil)
	w := newTestWorker(t, addr, reg, store)
	cfg := sourceConfig("tol")
	cfg["errors.tolerance"] = "all"
	id := connect.TaskID{Connector: "tol"}
	if err := w.StartTask(id, cfg, nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the last offset", func() bool { return storedPos(t, store, "tol", "a") == 3 })
	if n, skipped, _ := task.acked(); n != 4 || skipped != 2 {
		t.Fatalf("CommitRecord %d times, %d with nil metadata; want 4 and 2 (failed, dropped)", n, skipped)
	}
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, addr, "out", 2)
	if string(recs[0].Value) != "ok1!" || string(recs[1].Value) != "ok2!" {
		t.Fatalf("topic holds %q %q", recs[0].Value, recs[1].Value)
	}

	// Under errors.tolerance=none the same failure fails the task.
	task2 := &scriptedSource{recs: task.recs[1:2]}
	reg2 := newRegistry(t, func() connect.SourceTask { return task2 }, nil)
	w2 := newTestWorker(t, addr, reg2, store)
	l := newListener()
	if err := w2.StartTask(connect.TaskID{Connector: "strict-src"}, sourceConfig("strict-src"), nil, l); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not fail")
	}
	if !strings.Contains(l.failure.Error(), "VALUE_CONVERTER") {
		t.Fatalf("failure %v", l.failure)
	}
}

// scriptedSource returns its records once.
type scriptedSource struct {
	countingSource
	recs []connect.SourceRecord
	sent bool
}

func (s *scriptedSource) Start(connect.SourceTaskContext, map[string]string) error { return nil }

func (s *scriptedSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if !s.sent {
		s.sent = true
		return s.recs, nil
	}
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
	return nil, nil
}

// addHeader is a transform appending a header "added" to every record
// (a copy: the record's own slice is the task's).
type addHeader struct{}

func (addHeader) Config() connect.ConfigDef         { return nil }
func (addHeader) Configure(map[string]string) error { return nil }
func (addHeader) Apply(r connect.Record) (connect.Record, bool, error) {
	r.Headers = append(slices.Clone(r.Headers), connect.Header{Key: "added", Schema: connect.StringSchema, Value: r.Value})
	return r, true, nil
}

// A batch's converted headers share one slab: each record gets its own,
// whether a transform grows them or not.
func TestSourceTask_HeadersOfABatchStayApart(t *testing.T) {
	addr := startKafka(t, 1, "hdrs")
	h := func(kv ...string) []connect.Header {
		var out []connect.Header
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, connect.Header{Key: kv[i], Schema: connect.StringSchema, Value: kv[i+1]})
		}
		return out
	}
	task := &scriptedSource{recs: []connect.SourceRecord{
		{Record: connect.Record{Topic: "hdrs", Partition: 0, Value: "r0", Headers: h("a", "0")}, SourcePartition: map[string]any{"part": "x"}, SourceOffset: map[string]any{"pos": int64(0)}},
		{Record: connect.Record{Topic: "hdrs", Partition: 0, Value: "r1"}, SourcePartition: map[string]any{"part": "x"}, SourceOffset: map[string]any{"pos": int64(1)}},
		{Record: connect.Record{Topic: "hdrs", Partition: 0, Value: "r2", Headers: h("b", "2", "c", "2")}, SourcePartition: map[string]any{"part": "x"}, SourceOffset: map[string]any{"pos": int64(2)}},
	}}
	reg := newRegistry(t, func() connect.SourceTask { return task }, nil)
	reg.MustRegister(connect.Plugin{Class: "test.AddHeader", Type: connect.PluginTransformation, New: func() any { return addHeader{} }})
	store := NewMemoryOffsetStore()
	w := newTestWorker(t, addr, reg, store)
	for _, transforms := range []string{"", "add"} {
		cfg := map[string]string{"name": "h" + transforms, "connector.class": "test.SourceConnector", "tasks.max": "1"}
		if transforms != "" {
			cfg["transforms"], cfg["transforms.add.type"] = "add", "test.AddHeader"
		}
		task.sent = false
		id := connect.TaskID{Connector: cfg["name"]}
		if err := w.StartTask(id, cfg, nil, newListener()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the last offset", func() bool { return storedPos(t, store, cfg["name"], "x") == 2 })
		if err := w.StopTask(id); err != nil {
			t.Fatal(err)
		}
	}
	recs := consumeAll(t, addr, "hdrs", 6)
	want := []string{"a=0", "", "b=2 c=2", "a=0 added=r0", "added=r1", "b=2 c=2 added=r2"}
	for i, r := range recs {
		var got []string
		for _, x := range r.Headers {
			got = append(got, x.Key+"="+string(x.Value))
		}
		if strings.Join(got, " ") != want[i] {
			t.Errorf("record %d headers %q, want %q", i, strings.Join(got, " "), want[i])
		}
	}
}
