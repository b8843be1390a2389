package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// recordingSink keeps what it is given; failPuts makes the first puts
// fail retriably, reportPoison sends "poison!" values to ReportError.
type recordingSink struct {
	mu        sync.Mutex
	ctx       connect.SinkTaskContext
	buffered  []string
	flushed   []string // written by Flush: what the commit may cover
	puts      int
	failPuts  int
	flushOffs []map[connect.TopicPartition]int64
	opened    []connect.TopicPartition
	closed    []connect.TopicPartition
	report    string
}

func (s *recordingSink) Start(ctx connect.SinkTaskContext, _ map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	return nil
}

// assigned is the task's assignment (0 before Start).
func (s *recordingSink) assigned() int {
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil {
		return 0
	}
	return len(ctx.Assignment())
}

func (s *recordingSink) Open(p []connect.TopicPartition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = append(s.opened, p...)
	return nil
}

func (s *recordingSink) Put(recs []connect.SinkRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.puts <= s.failPuts {
		s.ctx.Timeout(50 * time.Millisecond)
		return &connect.RetriableError{Err: errors.New("store unavailable")}
	}
	for _, r := range recs {
		v := fmt.Sprint(r.Value)
		if s.report != "" && v == s.report {
			if err := s.ctx.ReportError(r, errors.New("cannot write")); err != nil {
				return err
			}
			continue
		}
		s.buffered = append(s.buffered, v)
	}
	return nil
}

func (s *recordingSink) Flush(offs map[connect.TopicPartition]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushed = append(s.flushed, s.buffered...)
	s.buffered = nil
	s.flushOffs = append(s.flushOffs, offs)
	return nil
}

func (s *recordingSink) Close(p []connect.TopicPartition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, p...)
	return nil
}

func (s *recordingSink) Stop() error { return nil }

func (s *recordingSink) state() (flushed []string, puts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.flushed...), s.puts
}

// lastFlushOffset is the offset of partition 0 the last Flush was given.
func (s *recordingSink) lastFlushOffset(topic string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.flushOffs) == 0 {
		return -1
	}
	o, ok := s.flushOffs[len(s.flushOffs)-1][connect.TopicPartition{Topic: topic}]
	if !ok {
		return -1
	}
	return o
}

func committed(t *testing.T, addr, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return -1 // the group does not exist yet
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok {
		return -1
	}
	return o.At
}

func sinkConfig(name, topic string, extra ...string) map[string]string {
	c := map[string]string{"name": name, "connector.class": "test.SinkConnector", "topics": topic,
		"transforms": "s", "transforms.s.type": "test.Suffix", "transforms.s.suffix": "!"}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i]] = extra[i+1]
	}
	return c
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func TestSinkTask_PutFlushCommit(t *testing.T) {
	addr := startKafka(t, 1, "in")
	produce(t, addr, "in", values("v", 20)...)
	sink := &recordingSink{failPuts: 1}
	reg := newRegistry(t, nil, func() connect.SinkTask { return sink })
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	id := connect.TaskID{Connector: "snk"}
	l := newListener()
	if err := w.StartTask(id, sinkConfig("snk", "in"), nil, l); err != nil {
		t.Fatal(err)
	}
	eventually(t, "20 records flushed", func() bool { f, _ := sink.state(); return len(f) >= 20 })
	// The group's commit never passes what Flush was given.
	eventually(t, "the commit", func() bool { return committed(t, addr, "connect-snk", "in") == 20 })
	if f := sink.lastFlushOffset("in"); f != 20 {
		t.Fatalf("last Flush offset %d, want 20", f)
	}
	produce(t, addr, "in", values("w", 5)...)
	eventually(t, "25 records flushed", func() bool { f, _ := sink.state(); return len(f) >= 25 })
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	flushed, puts := sink.state()
	want := append(values("v", 20), values("w", 5)...)
	for i := range want {
		want[i] += "!"
	}
	if fmt.Sprint(flushed) != fmt.Sprint(want) {
		t.Fatalf("flushed %v\nwant %v (each once, in order)", flushed, want)
	}
	if puts < 2 {
		t.Fatalf("%d puts: the retriable failure was not retried", puts)
	}
	if got := committed(t, addr, "connect-snk", "in"); got != 25 {
		t.Fatalf("committed %d, want 25", got)
	}
	if len(sink.opened) == 0 || len(sink.closed) == 0 {
		t.Fatalf("opened %v closed %v", sink.opened, sink.closed)
	}
	if got := l.list(); fmt.Sprint(got) != "[startup running shutdown]" {
		t.Fatalf("listener heard %v", got)
	}

	// A new task of the connector resumes after the committed offset.
	sink2 := &recordingSink{}
	reg2 := newRegistry(t, nil, func() connect.SinkTask { return sink2 })
	w2 := newTestWorker(t, addr, reg2, NewMemoryOffsetStore())
	produce(t, addr, "in", "x0")
	if err := w2.StartTask(id, sinkConfig("snk", "in"), nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new record", func() bool { f, _ := sink2.state(); return len(f) >= 1 })
	time.Sleep(200 * time.Millisecond)
	if f, _ := sink2.state(); fmt.Sprint(f) != "[x0!]" {
		t.Fatalf("after restart the task got %v, want [x0!]", f)
	}
}

func TestSinkTask_ToleranceAllDeadLetters(t *testing.T) {
	addr := startKafka(t, 1, "in")
	produce(t, addr, "in", "a", "poison", "b", "bad")
	sink := &recordingSink{report: "bad!"}
	reg := newRegistry(t, nil, func() connect.SinkTask { return sink })
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	id := connect.TaskID{Connector: "dlq", Task: 3}
	cfg := sinkConfig("dlq", "in", "errors.tolerance", "all", "errors.log.enable", "true",
		"errors.deadletterqueue.topic.name", "dlq-topic", "errors.deadletterqueue.topic.replication.factor", "1",
		"errors.deadletterqueue.context.headers.enable", "true",
		// The dead-letter queue has its own producer and admin client,
		// with the connector's overrides.
		"producer.override.compression.type", "gzip", "admin.override.request.timeout.ms", "5000",
		"admin.override.client.id", "dlq-admin")
	if err := w.StartTask(id, cfg, nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the commit past every record", func() bool { return committed(t, addr, "connect-dlq", "in") == 4 })
	if f, _ := sink.state(); fmt.Sprint(f) != "[a! b!]" {
		t.Fatalf("sink got %v, want [a! b!]", f)
	}
	dl := consumeAll(t, addr, "dlq-topic", 2)
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	h := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, x := range r.Headers {
			m[x.Key] = string(x.Value)
		}
		return m
	}
	conv, put := dl[0], dl[1]
	if c := conv.Attrs.CompressionType(); c != 1 {
		t.Errorf("dead letter compression %d, want 1 (gzip, from producer.override.compression.type)", c)
	}
	if string(conv.Value) != "poison" || string(put.Value) != "bad" {
		t.Fatalf("dead letters %q %q, want the original bytes poison, bad", conv.Value, put.Value)
	}
	ch := h(conv)
	want := map[string]string{HeaderTopic: "in", HeaderPartition: "0", HeaderOffset: "1", HeaderConnector: "dlq", HeaderTaskID: "3",
		HeaderStage: "VALUE_CONVERTER", HeaderClass: "test.StringConverter", HeaderExceptionMsg: "poison value"}
	for k, v := range want {
		if ch[k] != v {
			t.Errorf("header %s = %q, want %q", k, ch[k], v)
		}
	}
	if ch[HeaderExceptionType] == "" || !strings.Contains(ch[HeaderStacktrace], "poison value") {
		t.Errorf("exception headers %q / %q", ch[HeaderExceptionType], ch[HeaderStacktrace])
	}
	if ph := h(put); ph[HeaderStage] != "TASK_PUT" || ph[HeaderOffset] != "3" || ph[HeaderExceptionMsg] != "cannot write" {
		t.Errorf("errant record headers %v", ph)
	}
}

func TestSinkTask_ToleranceNoneFails(t *testing.T) {
	addr := startKafka(t, 1, "in")
	produce(t, addr, "in", "a", "poison", "b")
	sink := &recordingSink{}
	reg := newRegistry(t, nil, func() connect.SinkTask { return sink })
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	id := connect.TaskID{Connector: "strict"}
	l := newListener()
	if err := w.StartTask(id, sinkConfig("strict", "in"), nil, l); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not fail")
	}
	if !errors.Is(l.failure, errToleranceExceeded) || !strings.Contains(l.failure.Error(), "poison value") {
		t.Fatalf("failure %v", l.failure)
	}
	if got := l.list(); fmt.Sprint(got) != "[startup running failure]" {
		t.Fatalf("listener heard %v", got)
	}
	// Nothing past the poison record was committed.
	if got := committed(t, addr, "connect-strict", "in"); got > 1 {
		t.Fatalf("committed %d past the failed record", got)
	}
	_ = w.StopTask(id)
}

func TestWorker_StartTaskBadConfig(t *testing.T) {
	reg := newRegistry(t, nil, func() connect.SinkTask { return &recordingSink{} })
	w := newTestWorker(t, "127.0.0.1:1", reg, NewMemoryOffsetStore())
	l := newListener()
	err := w.StartTask(connect.TaskID{Connector: "x"}, map[string]string{"name": "x", "connector.class": "test.SinkConnector"}, nil, l)
	if err == nil || fmt.Sprint(l.list()) != "[startup failure]" {
		t.Fatalf("err %v, listener %v", err, l.list())
	}
	if err := w.StartTask(connect.TaskID{Connector: "y"}, map[string]string{"name": "y", "connector.class": "nope"}, nil, newListener()); err == nil {
		t.Fatal("an unknown connector class started")
	}
}

// rewindingSink moves partition 0 to offset 2 when it is opened.
type rewindingSink struct{ recordingSink }

func (s *rewindingSink) Open(p []connect.TopicPartition) error {
	s.ctx.Offset(map[connect.TopicPartition]int64{{Topic: "in"}: 2})
	return s.recordingSink.Open(p)
}

func TestSinkTask_RewindPauseResume(t *testing.T) {
	addr := startKafka(t, 1, "in")
	produce(t, addr, "in", "a", "b", "c", "d")
	sink := &rewindingSink{}
	reg := newRegistry(t, nil, func() connect.SinkTask { return sink })
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	id := connect.TaskID{Connector: "rw"}
	l := newListener()
	if err := w.StartTask(id, sinkConfig("rw", "in"), nil, l); err != nil {
		t.Fatal(err)
	}
	eventually(t, "records from offset 2", func() bool { f, _ := sink.state(); return len(f) >= 2 })
	if f, _ := sink.state(); fmt.Sprint(f) != "[c! d!]" {
		t.Fatalf("after the rewind the task got %v, want [c! d!]", f)
	}
	if err := w.PauseTask(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // let a poll in progress (at most a flush interval) end
	produce(t, addr, "in", "e")
	time.Sleep(300 * time.Millisecond)
	if f, _ := sink.state(); len(f) != 2 {
		t.Fatalf("a paused task got %v", f)
	}
	if err := w.ResumeTask(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the record after resume", func() bool { f, _ := sink.state(); return len(f) == 3 })
	if err := w.StopTask(id); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(l.list()); got != "[startup running pause resume shutdown]" {
		t.Fatalf("listener heard %s", got)
	}
}

// Two tasks of a connector share its group: a rebalance moves a
// partition, which is flushed, committed and closed on revocation, so no
// record is lost or (with clean hand-overs) passed twice.
func TestSinkTask_RebalanceBetweenTasks(t *testing.T) {
	addr := startKafka(t, 2, "in2")
	var mu sync.Mutex
	var sinks []*recordingSink
	reg := newRegistry(t, nil, func() connect.SinkTask {
		mu.Lock()
		defer mu.Unlock()
		s := &recordingSink{}
		sinks = append(sinks, s)
		return s
	})
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	cfg := sinkConfig("reb", "in2")
	total := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var all []string
		for _, s := range sinks {
			f, _ := s.state()
			all = append(all, f...)
		}
		return all
	}
	produceBoth := func(prefix string, n int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "in2", Partition: int32(i % 2), Value: []byte(fmt.Sprintf("%s%d", prefix, i))}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produceBoth("a", 10)
	if err := w.StartTask(connect.TaskID{Connector: "reb", Task: 0}, cfg, nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first records", func() bool { return len(total()) >= 10 })
	if err := w.StartTask(connect.TaskID{Connector: "reb", Task: 1}, cfg, nil, newListener()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both tasks hold a partition", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sinks) == 2 && sinks[1].assigned() == 1 && sinks[0].assigned() == 1
	})
	produceBoth("b", 10)
	eventually(t, "every record", func() bool { return len(total()) >= 20 })
	if err := w.StopAll(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, v := range total() {
		seen[v]++
	}
	for i := 0; i < 10; i++ {
		for _, p := range []string{"a", "b"} {
			if v := fmt.Sprintf("%s%d!", p, i); seen[v] != 1 {
				t.Errorf("%s delivered %d times", v, seen[v])
			}
		}
	}
	if len(sinks[0].closed) == 0 {
		t.Error("the first task never closed the partition it gave up")
	}
}

// panickySink panics in Put.
type panickySink struct{ recordingSink }

func (*panickySink) Put([]connect.SinkRecord) error { panic("boom") }

func TestWorker_PanickingTaskFails(t *testing.T) {
	addr := startKafka(t, 1, "in")
	produce(t, addr, "in", "a")
	reg := newRegistry(t, nil, func() connect.SinkTask { return &panickySink{} })
	w := newTestWorker(t, addr, reg, NewMemoryOffsetStore())
	l := newListener()
	id := connect.TaskID{Connector: "boom"}
	if err := w.StartTask(id, sinkConfig("boom", "in"), nil, l); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not fail")
	}
	if !strings.Contains(l.failure.Error(), "boom") {
		t.Fatalf("failure %v", l.failure)
	}
	// A restart replaces the failed task.
	if err := w.StartTask(id, sinkConfig("boom", "in"), nil, newListener()); err != nil {
		t.Fatal(err)
	}
}
