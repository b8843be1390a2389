package connect

import (
	"errors"
	"maps"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestValidate_SchemasAndValues(t *testing.T) {
	s := StructSchema(Field{Name: "id", Schema: Int64Schema}, Field{Name: "name", Schema: OptionalStringSchema},
		Field{Name: "tags", Schema: ArraySchema(StringSchema)}, Field{Name: "at", Schema: TimestampSchema()},
		Field{Name: "price", Schema: DecimalSchema(2)})
	st := NewStruct(s)
	for name, v := range map[string]any{"id": int64(7), "tags": []any{"a", "b"}, "at": time.Now(), "price": big.NewRat(314, 100)} {
		if err := st.Put(name, v); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	if err := Validate(s, st); err != nil {
		t.Fatal(err)
	}
	if err := st.Put("id", int32(7)); !errors.Is(err, ErrData) {
		t.Fatalf("int32 into an int64 field: %v", err)
	}
	if err := st.Put("nope", 1); !errors.Is(err, ErrData) {
		t.Fatalf("unknown field: %v", err)
	}
	st.Values[0] = nil
	if err := st.Validate(); !errors.Is(err, ErrData) {
		t.Fatalf("null required field: %v", err)
	}
	if err := Validate(ArraySchema(Int32Schema), []any{int32(1), "x"}); !errors.Is(err, ErrData) {
		t.Fatalf("array element of the wrong type: %v", err)
	}
	if err := Validate(nil, "anything"); err != nil {
		t.Fatalf("schemaless: %v", err)
	}
}

func TestConfigDef_ValidateAndParse(t *testing.T) {
	def := CommonConfig()
	res := def.Validate(map[string]string{"connector.class": "X", "tasks.max": "zero", "errors.tolerance": "some"})
	byName := map[string]ConfigValue{}
	for _, r := range res {
		byName[r.Name] = r
	}
	if len(byName["name"].Errors) != 1 || !strings.Contains(byName["name"].Errors[0], `Missing required configuration "name"`) {
		t.Errorf("name: %+v", byName["name"])
	}
	if len(byName["tasks.max"].Errors) != 1 || !strings.Contains(byName["tasks.max"].Errors[0], "Not a number of type INT") {
		t.Errorf("tasks.max: %+v", byName["tasks.max"])
	}
	if len(byName["errors.tolerance"].Errors) != 1 {
		t.Errorf("errors.tolerance: %+v", byName["errors.tolerance"])
	}
	if ErrorCount(res) != 3 {
		t.Errorf("%d errors, want 3", ErrorCount(res))
	}
	p, err := def.Parse(map[string]string{"name": "c", "connector.class": "X", "tasks.max": "4", "transforms": "a, b"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Int("tasks.max") != 4 || p.String("errors.tolerance") != "none" || len(p.List("transforms")) != 2 || p.List("transforms")[1] != "b" {
		t.Fatalf("parsed %+v", p.values)
	}
	if !p.IsSet("tasks.max") || p.IsSet("errors.tolerance") {
		t.Fatal("IsSet")
	}
}

type fakeConnector struct{}

func (fakeConnector) Version() string                                 { return "1" }
func (fakeConnector) Config() ConfigDef                               { return nil }
func (fakeConnector) Start(ConnectorContext, map[string]string) error { return nil }
func (fakeConnector) TaskConfigs(int) ([]map[string]string, error)    { return nil, nil }
func (fakeConnector) Stop() error                                     { return nil }
func (fakeConnector) NewTask() SourceTask                             { return nil }

func TestRegistry_KafkaNamesAndAliases(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(Plugin{Class: "org.apache.kafka.connect.file.FileStreamSourceConnector", Type: PluginSource, Version: "1", New: func() any { return fakeConnector{} }})
	for _, name := range []string{"org.apache.kafka.connect.file.FileStreamSourceConnector", "FileStreamSourceConnector", "FileStreamSource"} {
		if _, typ, err := r.NewConnector(name); err != nil || typ != SourceType {
			t.Errorf("%s: %v %v", name, typ, err)
		}
	}
	if _, _, err := r.NewConnector("FileStream"); err == nil {
		t.Error("an unknown name found a connector")
	}
	if err := r.Register(Plugin{Class: "x.FileStreamSource", Type: PluginTransformation}); err == nil {
		t.Error("a clashing alias was accepted")
	}
	if l := r.List(PluginSource); len(l) != 1 || l[0].Type != PluginSource {
		t.Errorf("list: %+v", l)
	}
}

func TestValidateConfig_KafkaShapes(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(Plugin{Class: "org.apache.kafka.connect.file.FileStreamSourceConnector", Type: PluginSource, Version: "1", New: func() any { return fakeConnector{} }})
	infos, typ := ValidateConfig(r, map[string]string{"connector.class": "FileStreamSource", "name": "f"}, ValidateOptions{})
	if typ != SourceType || infos.ErrorCount != 0 || infos.Name != "FileStreamSource" {
		t.Fatalf("valid source: %v %+v", typ, infos)
	}
	infos, _ = ValidateConfig(r, map[string]string{"connector.class": "Nope", "name": "f", "transforms": "a"}, ValidateOptions{})
	if infos.ErrorCount != 2 {
		t.Fatalf("unknown class and a transform without type: %d errors: %+v", infos.ErrorCount, infos)
	}
	// Bad topic.creation.* keys are an error unless the worker's
	// topic.creation.enable=false makes them ignored.
	badCreation := map[string]string{"connector.class": "FileStreamSource", "name": "f", "topic.creation.default.partitions": "many"}
	if infos, _ = ValidateConfig(r, badCreation, ValidateOptions{}); infos.ErrorCount != 1 {
		t.Fatalf("bad topic.creation key: %d errors", infos.ErrorCount)
	}
	if infos, _ = ValidateConfig(r, badCreation, ValidateOptions{TopicCreationDisabled: true}); infos.ErrorCount != 0 {
		t.Fatalf("bad topic.creation key with topic creation disabled: %d errors: %+v", infos.ErrorCount, infos)
	}
}

// KIP-507's keys are checked as Kafka checks them: known algorithms, and
// the signature algorithm among the verification ones.
func TestParseWorkerConfig_InterWorkerKeys(t *testing.T) {
	base := map[string]string{"bootstrap.servers": "localhost:9092", "group.id": "g", "config.storage.topic": "c",
		"offset.storage.topic": "o", "status.storage.topic": "s"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	p, err := ParseWorkerConfig(Distributed, base)
	if err != nil {
		t.Fatal(err)
	}
	if p.String(WorkerInterWorkerSignature) != "HmacSHA256" || p.Int(WorkerInterWorkerKeyTTL) != 3600000 {
		t.Fatalf("defaults: %q %d", p.String(WorkerInterWorkerSignature), p.Int(WorkerInterWorkerKeyTTL))
	}
	if _, err := ParseWorkerConfig(Distributed, with(WorkerInterWorkerSignature, "HmacSHA512",
		WorkerInterWorkerVerifications, "HmacSHA256, HmacSHA512", WorkerInterWorkerKeySize, "512")); err != nil {
		t.Fatalf("a valid set: %v", err)
	}
	for name, cfg := range map[string]map[string]string{
		"unknown algorithm":             with(WorkerInterWorkerKeyAlgorithm, "RSA"),
		"signature not among verifiers": with(WorkerInterWorkerSignature, "HmacSHA512"),
		"empty verifiers":               with(WorkerInterWorkerVerifications, ""),
		"negative ttl":                  with(WorkerInterWorkerKeyTTL, "-1"),
		"zero key size":                 with(WorkerInterWorkerKeySize, "0"),
	} {
		if _, err := ParseWorkerConfig(Distributed, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
