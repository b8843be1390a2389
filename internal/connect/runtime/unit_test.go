package runtime

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

func TestSubmittedRecords_OutOfOrderAcks(t *testing.T) {
	s := newSubmittedRecords()
	p1, p2 := map[string]any{"file": "a"}, map[string]any{"file": "b"}
	sub := func(p map[string]any, off int64) *submittedRecord {
		r := &submittedRecord{}
		if tracked, err := s.submit(r, p, map[string]any{"pos": off}); err != nil || !tracked {
			t.Fatal(tracked, err)
		}
		return r
	}
	a1, a2, a3 := sub(p1, 1), sub(p1, 2), sub(p1, 3)
	b1, b2 := sub(p2, 10), sub(p2, 20)
	// Acks arrive out of order: a2, a3 and b2 before a1 and b1.
	a3.ack()
	a2.ack()
	b2.ack()
	if got := s.committable(); len(got) != 0 {
		t.Fatalf("committable before the first records were acked: %v", got)
	}
	b1.ack()
	got := s.committable()
	if len(got) != 1 || got[0].Offset["pos"] != int64(20) {
		t.Fatalf("committable = %v, want only b at 20", got)
	}
	a1.ack()
	got = s.committable()
	if len(got) != 1 || got[0].Offset["pos"] != int64(3) {
		t.Fatalf("committable = %v, want a at 3", got)
	}
	if s.size() != 0 || s.outstanding() != 0 {
		t.Fatalf("size %d outstanding %d after all acked", s.size(), s.outstanding())
	}
	// No partition or offset: nothing to track.
	if tracked, _ := s.submit(&submittedRecord{}, nil, nil); tracked {
		t.Fatal("a record without source offset was tracked")
	}
}

func TestOffsetStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "connect.offsets")
	fs, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]OffsetStore{"memory": NewMemoryOffsetStore(), "file": fs} {
		p := map[string]any{"file": "/x", "n": 1}
		if err := s.Set(ctx, "c", []connect.ConnectorOffset{{Partition: p, Offset: map[string]any{"pos": 42, "f": 1.5}}}); err != nil {
			t.Fatal(name, err)
		}
		got, err := s.Get(ctx, "c", []map[string]any{{"n": int64(1), "file": "/x"}, {"file": "/y"}})
		if err != nil {
			t.Fatal(name, err)
		}
		if !reflect.DeepEqual(got, []map[string]any{{"pos": int64(42), "f": 1.5}, nil}) {
			t.Fatalf("%s: Get = %v", name, got)
		}
		if l, _ := s.List(ctx, "other"); len(l) != 0 {
			t.Fatalf("%s: another connector sees %v", name, l)
		}
		// A nil offset is a tombstone.
		if err := s.Set(ctx, "c", []connect.ConnectorOffset{{Partition: p}}); err != nil {
			t.Fatal(name, err)
		}
		if l, _ := s.List(ctx, "c"); len(l) != 0 {
			t.Fatalf("%s: after tombstone List = %v", name, l)
		}
	}
}

func TestFileOffsetStore_ReopenAndTornWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "connect.offsets")
	s, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]any{"table": "t"}
	for i := 1; i <= 3; i++ {
		if err := s.Set(ctx, "c", []connect.ConnectorOffset{{Partition: p, Offset: map[string]any{"id": i}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of the next write leaves a partial temporary
	// file beside the store: reopening ignores it.
	if err := os.WriteFile(path+".tmp-123", []byte(`{"format":"fjord-connect-offsets","version":1,"offsets":[{"conn`), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s2.Get(ctx, "c", []map[string]any{p})
	if got[0]["id"] != int64(3) {
		t.Fatalf("after reopen: %v, want id 3", got)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"format": "fjord-connect-offsets"`) {
		t.Fatalf("file lacks its format header:\n%s", b)
	}
	// A torn store file (written by something that did not rename) is
	// refused rather than read as empty, which would replay every source.
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileOffsetStore(path); err == nil {
		t.Fatal("a torn offsets file opened")
	}
}

func TestTransformChain_PredicatesAndDrop(t *testing.T) {
	reg := newRegistry(t, nil, nil)
	chain, err := buildChain(reg, map[string]string{
		"transforms": "a, b", "transforms.a.type": "test.Suffix", "transforms.a.suffix": "-a",
		"transforms.b.type": "test.Suffix", "transforms.b.suffix": "-b",
		"transforms.b.predicate": "isX", "transforms.b.negate": "true",
		"predicates": "isX", "predicates.isX.type": "test.ValueIs", "predicates.isX.value": "x-a",
	})
	if err != nil {
		t.Fatal(err)
	}
	op := &retryOperator{log: discardLogger(), ctx: context.Background()}
	for in, want := range map[string]string{"x": "x-a", "y": "y-a-b"} {
		out, keep, err := chain.apply(op, &errorContext{}, connect.Record{Value: in})
		if err != nil || !keep || out.Value != want {
			t.Fatalf("%s -> %v %v %v, want %s", in, out.Value, keep, err, want)
		}
	}
	if _, keep, _ := chain.apply(op, &errorContext{}, connect.Record{Value: "drop"}); keep {
		t.Fatal("a dropped record was kept")
	}
	if _, err := buildChain(reg, map[string]string{"transforms": "z", "transforms.z.type": "nope"}); err == nil {
		t.Fatal("an unknown transform class was accepted")
	}
}

func TestRetryOperator_RetriesThenTolerates(t *testing.T) {
	ctx := context.Background()
	op := &retryOperator{cfg: errorConfig{retryTimeout: 2 * retryDelayMin, retryDelayMax: retryDelayMin}, log: discardLogger(), ctx: ctx}
	calls := 0
	ok, err := op.execute(&errorContext{}, stageTransformation, "x", func() error {
		calls++
		if calls < 2 {
			return &connect.RetriableError{Err: os.ErrDeadlineExceeded}
		}
		return nil
	})
	if !ok || err != nil || calls != 2 {
		t.Fatalf("ok %v err %v calls %d, want success on the 2nd call", ok, err, calls)
	}
	var reported *errorContext
	op.reporters = append(op.reporters, func(ec *errorContext) { reported = ec })
	ok, err = op.execute(&errorContext{}, stageValueConverter, "conv", func() error { return os.ErrInvalid })
	if ok || err == nil || reported == nil || reported.stage != stageValueConverter {
		t.Fatalf("tolerance none: ok %v err %v reported %v", ok, err, reported)
	}
	op.cfg.tolerateAll = true
	if ok, err = op.execute(&errorContext{}, stageValueConverter, "conv", func() error { return os.ErrInvalid }); ok || err != nil {
		t.Fatalf("tolerance all: ok %v err %v, want a skip", ok, err)
	}
}

func TestParseWorkerProps(t *testing.T) {
	cfg, err := ParseWorkerProps(map[string]string{
		"bootstrap.servers": "a:9092, b:9092", "offset.flush.interval.ms": "10000",
		"key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
		"value.converter": "x", "plugin.path": "/p",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.BootstrapServers, []string{"a:9092", "b:9092"}) || cfg.OffsetFlushInterval.Milliseconds() != 10000 ||
		len(cfg.ConverterProps) != 3 || cfg.ConverterProps["key.converter.schemas.enable"] != "false" {
		t.Fatalf("%+v", cfg)
	}
	if _, err := ParseWorkerProps(map[string]string{"offset.flush.interval.ms": "soon"}); err == nil {
		t.Fatal("a bad interval was accepted")
	}
}

// propsConverter remembers how it was configured.
type propsConverter struct {
	stringConverter
	props map[string]string
	isKey bool
}

func (c *propsConverter) Configure(p map[string]string, isKey bool) error {
	c.props, c.isKey = p, isKey
	return nil
}

func TestBuildConverters_ConnectorOverridesWorker(t *testing.T) {
	reg := newRegistry(t, nil, nil)
	reg.MustRegister(connect.Plugin{Class: "test.Props", Type: connect.PluginConverter, New: func() any { return &propsConverter{} }})
	worker := map[string]string{"key.converter": "test.Props", "key.converter.schemas.enable": "false",
		"value.converter": "test.Props", "value.converter.a": "worker"}
	conn := map[string]string{"value.converter": "test.Props", "value.converter.b": "conn"}
	c, err := buildConverters(reg, worker, conn)
	if err != nil {
		t.Fatal(err)
	}
	k, v := c.key.(*propsConverter), c.value.(*propsConverter)
	if !k.isKey || k.props["schemas.enable"] != "false" || k.props["converter.type"] != "key" {
		t.Fatalf("key converter configured with %v (isKey %v)", k.props, k.isKey)
	}
	// The connector's converter takes the connector's keys only.
	if v.isKey || v.props["b"] != "conn" || v.props["a"] != "" {
		t.Fatalf("value converter configured with %v", v.props)
	}
	if _, ok := c.header.(bytesHeaderConverter); !ok {
		t.Fatalf("header converter %T, want the pass-through", c.header)
	}
	if _, err := buildConverters(reg, map[string]string{}, map[string]string{}); err == nil {
		t.Fatal("no key.converter anywhere was accepted")
	}
}
