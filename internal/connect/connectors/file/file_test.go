package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// fakeSourceCtx is the runtime's side of a source task: committed offsets
// by partition.
type fakeSourceCtx struct {
	mu      sync.Mutex
	config  map[string]string
	offsets map[string]map[string]any
}

func (c *fakeSourceCtx) Config() map[string]string { return c.config }

func (c *fakeSourceCtx) Offset(p map[string]any) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsets[fmt.Sprint(p)], nil
}

func (c *fakeSourceCtx) commit(r connect.SourceRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offsets == nil {
		c.offsets = map[string]map[string]any{}
	}
	c.offsets[fmt.Sprint(r.SourcePartition)] = r.SourceOffset
}

func startSource(t *testing.T, ctx *fakeSourceCtx, props map[string]string) *SourceTask {
	t.Helper()
	task := NewSourceTask()
	task.idle = 20 * time.Millisecond
	if err := task.Start(ctx, props); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func poll(t *testing.T, task *SourceTask) []connect.SourceRecord {
	t.Helper()
	recs, err := task.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// lines returns the records' values and offset positions.
func lines(recs []connect.SourceRecord) (vals []string, pos []any) {
	for _, r := range recs {
		vals = append(vals, r.Value.(string))
		pos = append(pos, r.SourceOffset[FieldPosition])
	}
	return vals, pos
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestSource_ReadsLinesWithKafkasOffsets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "a\nbb\r\nc\rd\n")
	task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t"})
	recs := poll(t, task)
	vals, pos := lines(recs)
	if !reflect.DeepEqual(vals, []string{"a", "bb", "c", "d"}) || !reflect.DeepEqual(pos, []any{int64(2), int64(6), int64(8), int64(10)}) {
		t.Fatalf("got %q at %v", vals, pos)
	}
	r := recs[0]
	if r.Topic != "t" || r.Key != nil || r.KeySchema != nil || r.ValueSchema != connect.StringSchema || r.Partition != connect.NoPartition {
		t.Fatalf("record %+v", r)
	}
	if !reflect.DeepEqual(r.SourcePartition, map[string]any{FieldFilename: path}) {
		t.Fatalf("partition %v", r.SourcePartition)
	}
	if recs := poll(t, task); recs != nil {
		t.Fatalf("nothing new, got %d records", len(recs))
	}
}

func TestSource_BatchSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "1\n2\n3\n4\n5\n")
	task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t", KeyBatchSize: "2"})
	for _, want := range []int{2, 2, 1} {
		if n := len(poll(t, task)); n != want {
			t.Fatalf("batch of %d, want %d", n, want)
		}
	}
}

func TestSource_LinesLongerThanAReadAndManyBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	long := strings.Repeat("x", 3*readChunk+17)
	var want []string
	var text strings.Builder
	for i := range 5000 {
		l := strconv.Itoa(i)
		if i%1000 == 500 {
			l = long
		}
		want = append(want, l)
		text.WriteString(l + "\n")
	}
	appendFile(t, path, text.String())
	task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t", KeyBatchSize: "700"})
	var got []string
	var last any
	for len(got) < len(want) {
		recs := poll(t, task)
		if recs == nil {
			t.Fatalf("stopped after %d lines", len(got))
		}
		if len(recs) > 700 {
			t.Fatalf("a batch of %d", len(recs))
		}
		vals, pos := lines(recs)
		got, last = append(got, vals...), pos[len(pos)-1]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("lines differ")
	}
	if last != int64(text.Len()) {
		t.Fatalf("last position %v, file size %d", last, text.Len())
	}
}

func TestSource_PartialLineWaitsForItsNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "one\ntw")
	task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t"})
	if vals, _ := lines(poll(t, task)); !reflect.DeepEqual(vals, []string{"one"}) {
		t.Fatalf("got %q", vals)
	}
	if recs := poll(t, task); recs != nil {
		t.Fatalf("a partial line was emitted: %v", recs[0].Value)
	}
	appendFile(t, path, "o\r")
	if recs := poll(t, task); recs != nil {
		t.Fatal("a line ending in a lone \\r at the end was emitted before the next byte")
	}
	appendFile(t, path, "\nthree\n")
	vals, pos := lines(poll(t, task))
	if !reflect.DeepEqual(vals, []string{"two", "three"}) || !reflect.DeepEqual(pos, []any{int64(9), int64(15)}) {
		t.Fatalf("got %q at %v", vals, pos)
	}
}

func TestSource_WaitsForAMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.txt")
	task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t"})
	start := time.Now()
	if recs := poll(t, task); recs != nil {
		t.Fatal("records from a missing file")
	}
	if time.Since(start) < 15*time.Millisecond {
		t.Fatal("Poll did not wait for the missing file")
	}
	appendFile(t, path, "hello\n")
	if vals, _ := lines(poll(t, task)); !reflect.DeepEqual(vals, []string{"hello"}) {
		t.Fatalf("got %q", vals)
	}
}

func TestSource_ResumesFromTheStoredOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "a\nb\nc\n")
	ctx := &fakeSourceCtx{}
	props := map[string]string{KeyFile: path, KeyTopic: "t"}
	first := startSource(t, ctx, props)
	recs := poll(t, first)
	ctx.commit(recs[0]) // only "a" was acknowledged before the restart
	first.Stop()

	second := startSource(t, ctx, props)
	if vals, pos := lines(poll(t, second)); !reflect.DeepEqual(vals, []string{"b", "c"}) || !reflect.DeepEqual(pos, []any{int64(4), int64(6)}) {
		t.Fatalf("after restart got %q at %v", vals, pos)
	}

	// An offset store decoding JSON hands positions back as float64.
	ctx.offsets[fmt.Sprint(map[string]any{FieldFilename: path})] = map[string]any{FieldPosition: float64(4)}
	third := startSource(t, ctx, props)
	if vals, _ := lines(poll(t, third)); !reflect.DeepEqual(vals, []string{"c"}) {
		t.Fatalf("from a float64 offset got %q", vals)
	}

	ctx.offsets[fmt.Sprint(map[string]any{FieldFilename: path})] = map[string]any{FieldPosition: "4"}
	bad := startSource(t, ctx, props)
	if _, err := bad.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "incorrect type") {
		t.Fatalf("a string position: %v", err)
	}
}

func TestSource_StopUnblocksPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "")
	for _, how := range []string{"stop", "cancel"} {
		task := startSource(t, &fakeSourceCtx{}, map[string]string{KeyFile: path, KeyTopic: "t"})
		task.idle = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := task.Poll(ctx)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if how == "stop" {
			if err := task.Stop(); err != nil {
				t.Fatal(err)
			}
		} else {
			cancel()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not unblock Poll", how)
		}
		cancel()
	}
}

func TestSource_Stdin(t *testing.T) {
	r, w := io.Pipe()
	task := NewSourceTask()
	task.idle = time.Hour
	task.stdin = r
	if err := task.Start(&fakeSourceCtx{}, map[string]string{KeyTopic: "t"}); err != nil {
		t.Fatal(err)
	}
	go w.Write([]byte("x\ny"))
	recs := poll(t, task) // wakes on stdin's data, not the hour
	if vals, pos := lines(recs); !reflect.DeepEqual(vals, []string{"x"}) || pos[0] != nil {
		t.Fatalf("got %q at %v", vals, pos)
	}
	if !reflect.DeepEqual(recs[0].SourcePartition, map[string]any{FieldFilename: nil}) {
		t.Fatalf("partition %v", recs[0].SourcePartition)
	}
	done := make(chan struct{})
	go func() { task.Poll(context.Background()); close(done) }()
	time.Sleep(20 * time.Millisecond)
	task.Stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not unblock a Poll waiting on stdin")
	}
	w.Close()
}

func TestSourceConnector_OneTaskAndRequiredTopic(t *testing.T) {
	c := &SourceConnector{}
	if err := c.Start(nil, map[string]string{KeyFile: "/x"}); err == nil {
		t.Fatal("started without a topic")
	}
	props := map[string]string{KeyFile: "/x", KeyTopic: "t", connect.KeyName: "n"}
	if err := c.Start(nil, props); err != nil {
		t.Fatal(err)
	}
	cfgs, err := c.TaskConfigs(5)
	if err != nil || len(cfgs) != 1 || !reflect.DeepEqual(cfgs[0], props) {
		t.Fatalf("task configs %v %v", cfgs, err)
	}
	if res := c.Config().Validate(map[string]string{KeyTopic: "t", KeyBatchSize: "x"}); connect.ErrorCount(res) != 1 {
		t.Fatalf("validate: %+v", res)
	}
}

func TestRegister_KafkaNamesAndAliases(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]connect.ConnectorType{
		SourceClass: connect.SourceType, "FileStreamSourceConnector": connect.SourceType, "FileStreamSource": connect.SourceType,
		SinkClass: connect.SinkType, "FileStreamSinkConnector": connect.SinkType, "FileStreamSink": connect.SinkType,
	} {
		c, got, err := r.NewConnector(name)
		if err != nil || got != typ {
			t.Errorf("%s: %v %v", name, got, err)
			continue
		}
		switch c.(type) {
		case connect.SourceConnector, connect.SinkConnector:
		default:
			t.Errorf("%s: %T is neither a source nor a sink", name, c)
		}
	}
}

func startSink(t *testing.T, path string) (*SinkTask, *int) {
	t.Helper()
	task := NewSinkTask()
	syncs := new(int)
	task.fsync = func(f *os.File) error { *syncs++; return f.Sync() }
	if err := task.Start(nil, map[string]string{KeyFile: path, connect.KeyTopics: "t"}); err != nil {
		t.Fatal(err)
	}
	return task, syncs
}

func sinkRecords(vals ...any) []connect.SinkRecord {
	out := make([]connect.SinkRecord, len(vals))
	for i, v := range vals {
		out[i] = connect.SinkRecord{Record: connect.Record{Topic: "t", Value: v}, KafkaOffset: int64(i)}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSink_WritesValuesAndFsyncsOnFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	task, syncs := startSink(t, path)
	defer task.Stop()
	schema := connect.StructSchema(connect.Field{Name: "id", Schema: connect.Int32Schema}, connect.Field{Name: "name", Schema: connect.OptionalStringSchema})
	st := connect.NewStruct(schema)
	st.Put("id", int32(7))
	if err := task.Put(sinkRecords("hello", int64(42), nil, st, 2.5)); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if *syncs != 1 {
		t.Fatalf("Flush fsynced %d times", *syncs)
	}
	if got, want := readFile(t, path), "hello\n42\nnull\nStruct{id=7}\n2.5\n"; got != want {
		t.Fatalf("file holds %q, want %q", got, want)
	}
}

func TestSink_AtLeastOnceAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	task, _ := startSink(t, path)
	task.Put(sinkRecords("a", "b"))
	if err := task.Flush(nil); err != nil { // the runtime commits offset 2 after this
		t.Fatal(err)
	}
	task.Put(sinkRecords("c")) // put, not flushed, not committed
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	// The restarted task is handed everything after the committed offset
	// again: "c" is written twice, nothing is lost.
	again, _ := startSink(t, path)
	again.Put(sinkRecords("c", "d"))
	again.Flush(nil)
	again.Stop()
	if got := readFile(t, path); got != "a\nb\nc\nc\nd\n" {
		t.Fatalf("file holds %q", got)
	}
}

func TestSink_Stdout(t *testing.T) {
	var out bytes.Buffer
	task := NewSinkTask()
	task.stdout = &out
	if err := task.Start(nil, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	task.Put(sinkRecords("x", true))
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "x\ntrue\n" {
		t.Fatalf("stdout got %q", out.String())
	}
	c := &SinkConnector{}
	c.Start(nil, map[string]string{connect.KeyTopics: "t"})
	if cfgs, _ := c.TaskConfigs(3); len(cfgs) != 3 {
		t.Fatalf("%d task configs, want 3 (Kafka's)", len(cfgs))
	}
}

func TestAppendJava_AsJavaToString(t *testing.T) {
	inner := connect.StructSchema(connect.Field{Name: "x", Schema: connect.Float64Schema})
	in := connect.NewStruct(inner)
	in.Put("x", 1.0)
	outer := connect.StructSchema(connect.Field{Name: "a", Schema: inner}, connect.Field{Name: "b", Schema: connect.ArraySchema(connect.StringSchema)})
	out := connect.NewStruct(outer)
	out.Put("a", in)
	out.Put("b", []any{"p", "q"})
	for _, c := range []struct {
		schema *connect.Schema
		v      any
		want   string
	}{
		{nil, 1.0, "1.0"}, {nil, 1e7, "1.0E7"}, {nil, 1.5e-4, "1.5E-4"}, {nil, 123.456, "123.456"},
		{nil, float32(0.1), "0.1"}, {nil, -2.0, "-2.0"}, {nil, 1.234e-10, "1.234E-10"},
		{nil, int8(-3), "-3"}, {nil, false, "false"}, {nil, []byte("raw"), "raw"},
		{connect.DecimalSchema(2), big.NewRat(314, 100), "3.14"},
		{nil, map[any]any{"b": int32(2), "a": int32(1)}, "{a=1, b=2}"},
		{nil, map[string]any{"k": nil}, "{k=null}"},
		{outer, out, "Struct{a=Struct{x=1.0},b=[p, q]}"},
		{nil, time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC), "Mon Dec 07 15:04:05 UTC 2026"},
	} {
		if got := string(appendJava(nil, c.schema, c.v)); got != c.want {
			t.Errorf("%#v: got %q, want %q", c.v, got, c.want)
		}
	}
}
