package datagen

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fjordstream/fjord/internal/connect"
)

// customProps is props with schema.string instead of the quickstart.
func customProps(schema string, kv ...string) map[string]string {
	p := props(kv...)
	delete(p, KeyQuickstart)
	p[KeySchemaString] = schema
	return p
}

const everyKindSchema = `{
  "type": "record", "name": "reading", "namespace": "plant.sensors", "doc": "one reading",
  "fields": [
    {"name": "seq", "type": {"type": "long", "arg.properties": {"iteration": {"start": 100, "step": 5}}}},
    {"name": "level", "type": {"type": "int", "arg.properties": {"range": {"min": -3, "max": 4}}}},
    {"name": "site", "doc": "where", "type": {"type": "string", "arg.properties": {"options": ["north", "south"]}}},
    {"name": "sensor", "type": {"type": "string", "arg.properties": {"regex": "S[0-9]{2}-(hot|cold)_[a-f]+"}}},
    {"name": "note", "type": {"type": "string", "arg.properties": {"length": {"min": 3, "max": 6}}}},
    {"name": "blob", "type": {"type": "bytes", "arg.properties": {"length": 16}}},
    {"name": "temp", "type": {"type": "double", "arg.properties": {"range": {"min": 10.5, "max": 11.5}}}},
    {"name": "ratio", "type": "float"},
    {"name": "ok", "type": "boolean"},
    {"name": "any", "type": "long"},
    {"name": "plain", "type": "string"},
    {"name": "state", "type": {"type": "enum", "name": "state", "symbols": ["ON", "OFF"]}},
    {"name": "maybe", "type": ["null", {"type": "int", "arg.properties": {"options": [7, 8]}}]},
    {"name": "doc_rec", "doc": "documented", "type": {"type": "record", "name": "dr", "fields": [{"name": "a", "type": "int"}]}},
    {"name": "doc_opt", "doc": "documented too", "type": ["null", {"type": "record", "name": "dro", "fields": [{"name": "b", "type": "int"}]}]},
    {"name": "where", "type": {"type": "record", "name": "pos", "fields": [
      {"name": "x", "type": {"type": "long", "arg.properties": {"range": {"min": 0, "max": 10}}}},
      {"name": "tag", "type": ["null", "string"], "arg.properties": {"regex": "[A-Z]{3}"}}
    ]}}
  ]}`

func TestDatagen_CustomSchemaDrawsWhatItSays(t *testing.T) {
	task := startTask(t, nil, customProps(everyKindSchema, KeySchemaKeyfield, "sensor", KeyRandomSeed, "9"))
	s := task.s.quickstart.schema
	if s.Name != "plant.sensors.reading" || s.Doc != "one reading" || s.Field("site").Schema.Doc != "where" {
		t.Fatalf("schema name %q doc %q, site doc %q", s.Name, s.Doc, s.Field("site").Schema.Doc)
	}
	wantTypes := map[string]connect.Type{"seq": connect.TypeInt64, "level": connect.TypeInt32, "blob": connect.TypeBytes,
		"temp": connect.TypeFloat64, "ratio": connect.TypeFloat32, "ok": connect.TypeBoolean, "state": connect.TypeString,
		"maybe": connect.TypeInt32, "where": connect.TypeStruct}
	for name, typ := range wantTypes {
		if f := s.Field(name); f == nil || f.Schema.Type != typ {
			t.Fatalf("field %s: %+v, want type %v", name, f, typ)
		}
	}
	if !s.Field("maybe").Schema.Optional || s.Field("seq").Schema.Optional || !s.Field("where").Schema.Field("tag").Schema.Optional {
		t.Fatal("only the unions with null are optional")
	}
	sensorRE := regexp.MustCompile(`^S[0-9]{2}-(hot|cold)_[a-f]+$`)
	seen := map[string]map[any]bool{}
	mark := func(f string, v any) {
		if seen[f] == nil {
			seen[f] = map[any]bool{}
		}
		seen[f][v] = true
	}
	recs, err := task.Poll(context.Background())
	if err != nil || len(recs) != batchSize {
		t.Fatalf("poll: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		v := r.Value.(*connect.Struct)
		if err := v.Validate(); err != nil {
			t.Fatalf("record %d does not fit its schema: %v", i, err)
		}
		if got := v.Get("seq"); got != int64(100+5*i) {
			t.Fatalf("record %d: seq %v", i, got)
		}
		if l := v.Get("level").(int32); l < -3 || l >= 4 {
			t.Fatalf("level %d", l)
		}
		mark("level", v.Get("level"))
		mark("site", v.Get("site"))
		if sn := v.Get("sensor").(string); !sensorRE.MatchString(sn) || r.Key != sn || r.KeySchema != connect.StringSchema {
			t.Fatalf("sensor %q, key %v", sn, r.Key)
		}
		if n := len(v.Get("note").(string)); n < 3 || n >= 6 {
			t.Fatalf("note %q", v.Get("note"))
		}
		mark("note", len(v.Get("note").(string)))
		if len(v.Get("blob").([]byte)) != 16 || len(v.Get("plain").(string)) != defaultStringLen {
			t.Fatalf("blob %x plain %q", v.Get("blob"), v.Get("plain"))
		}
		if x := v.Get("temp").(float64); x < 10.5 || x >= 11.5 {
			t.Fatalf("temp %v", x)
		}
		if x := v.Get("ratio").(float32); x < 0 || x >= 1 {
			t.Fatalf("ratio %v", x)
		}
		mark("ok", v.Get("ok"))
		mark("state", v.Get("state"))
		mark("maybe", v.Get("maybe"))
		w := v.Get("where").(*connect.Struct)
		if x := w.Get("x").(int64); x < 0 || x >= 10 {
			t.Fatalf("where.x %d", x)
		}
		if tag := w.Get("tag"); tag != nil && !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(tag.(string)) {
			t.Fatalf("where.tag %q", tag)
		}
		mark("tag-null", w.Get("tag") == nil)
	}
	for f, n := range map[string]int{"level": 7, "site": 2, "note": 3, "ok": 2, "state": 2, "maybe": 3, "tag-null": 2} {
		if len(seen[f]) != n {
			t.Errorf("%s: %d distinct values in %d records, want %d: %v", f, len(seen[f]), len(recs), n, seen[f])
		}
	}
}

func TestDatagen_CustomSchemaDefaultsToNullKeysAndReadsFiles(t *testing.T) {
	schema := `{"type":"record","name":"r","fields":[{"name":"v","type":{"type":"string","arg.properties":{"length":1000}}}]}`
	task := startTask(t, nil, customProps(schema))
	recs, _ := task.Poll(context.Background())
	if len(recs) == 0 || recs[0].Key != nil || recs[0].KeySchema != connect.OptionalStringSchema {
		t.Fatalf("key %v (%v), want a null key", recs[0].Key, recs[0].KeySchema)
	}
	if v := recs[0].Value.(*connect.Struct).Get("v").(string); len(v) != 1000 || v == recs[1].Value.(*connect.Struct).Get("v") {
		t.Fatalf("a 1000-character string, different each record: %d %q", len(v), v[:10])
	}
	path := filepath.Join(t.TempDir(), "r.avsc")
	if err := os.WriteFile(path, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	p := props()
	delete(p, KeyQuickstart)
	p[KeySchemaFilename] = path
	task = startTask(t, nil, p)
	if recs, _ := task.Poll(context.Background()); len(recs) == 0 || len(recs[0].Value.(*connect.Struct).Get("v").(string)) != 1000 {
		t.Fatal("schema.filename not used")
	}
}

func TestDatagen_CustomSchemaErrorsNameTheKeyAndTheField(t *testing.T) {
	rec := func(fieldType string) string {
		return `{"type":"record","name":"r","fields":[{"name":"f","type":` + fieldType + `}]}`
	}
	c := &Connector{}
	for name, tc := range map[string]struct {
		p       map[string]string
		key     string
		mention string
	}{
		"not JSON":          {customProps(`{"type":`), KeySchemaString, "not JSON"},
		"not a record":      {customProps(`"string"`), KeySchemaString, "record"},
		"no fields":         {customProps(`{"type":"record","name":"r","fields":[]}`), KeySchemaString, "fields"},
		"array":             {customProps(rec(`{"type":"array","items":"int"}`)), KeySchemaString, "field f"},
		"two-type union":    {customProps(rec(`["int","string"]`)), KeySchemaString, "union"},
		"named reference":   {customProps(rec(`"some.Named"`)), KeySchemaString, "some.Named"},
		"bad regex":         {customProps(rec(`{"type":"string","arg.properties":{"regex":"[a-"}}`)), KeySchemaString, "regex"},
		"empty range":       {customProps(rec(`{"type":"int","arg.properties":{"range":{"min":5,"max":5}}}`)), KeySchemaString, "range"},
		"string iteration":  {customProps(rec(`{"type":"string","arg.properties":{"iteration":{"start":1}}}`)), KeySchemaString, "iteration"},
		"option type":       {customProps(rec(`{"type":"int","arg.properties":{"options":["a"]}}`)), KeySchemaString, "option"},
		"huge length":       {customProps(rec(`{"type":"string","arg.properties":{"length":100000000}}`)), KeySchemaString, "length"},
		"missing key field": {customProps(rec(`"int"`), KeySchemaKeyfield, "g"), KeySchemaKeyfield, `"g"`},
		"two schemas":       {props(KeySchemaString, rec(`"int"`)), KeyQuickstart, "exactly one"},
		"missing file":      {props(KeyQuickstart, "", KeySchemaFilename, "/nonexistent/x.avsc"), KeySchemaFilename, "read the schema"},
		"not a file":        {props(KeyQuickstart, "", KeySchemaFilename, os.TempDir()), KeySchemaFilename, "not a regular file"},
		"unknown property":  {customProps(rec(`{"type":"int","arg.properties":{"odds":[1]}}`)), KeySchemaString, "odds"},
		"logical type":      {customProps(rec(`{"type":"long","logicalType":"timestamp-millis"}`)), KeySchemaString, "logical type"},
		"iteration restart": {customProps(rec(`{"type":"int","arg.properties":{"iteration":{"start":1,"restart":3}}}`)), KeySchemaString, "restart"},
		"bytes key field":   {customProps(rec(`"bytes"`), KeySchemaKeyfield, "f"), KeySchemaKeyfield, "bytes"},
		"slow regex":        {customProps(rec(`{"type":"string","arg.properties":{"regex":"((){9999}){9999}"}}`)), KeySchemaString, "steps"},
	} {
		err := c.Start(nil, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: Start: %v, want an error mentioning %q", name, err, tc.mention)
		}
		vals := c.Validate(tc.p)
		if len(vals) != 1 || vals[0].Name != tc.key || len(vals[0].Errors) != 1 || !strings.Contains(vals[0].Errors[0], tc.mention) {
			t.Errorf("%s: Validate: %+v, want one error on %s mentioning %q", name, vals, tc.key, tc.mention)
		}
	}
}

func TestParseRegex_DrawsMatchingStrings(t *testing.T) {
	for _, src := range []string{
		"User_[1-9]{0,1}", "Page_[1-9][0-9]?", "[a-zA-Z]{5,10}", "ZVV|ZVZZT|ZXZZT", "(ab|cd)+x*",
		`\d{3}-\w\.\s`, `price\$`, "[^a-z]{4}", "[-a]b[a-]", "(?:red|green){2}", "^anchored$", "é[àü]{2}", "x{2,}", "a+?b*?",
		"[0-9a-f]{1000}",
	} {
		node, err := parseRegex(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		goSrc := strings.TrimPrefix(src, "^")
		if !strings.HasSuffix(goSrc, `\$`) {
			goSrc = strings.TrimSuffix(goSrc, "$")
		}
		goRE := regexp.MustCompile("^(?:" + goSrc + ")$")
		r := rng{state: 42}
		distinct := map[string]bool{}
		for range 300 {
			s := string(node.draw(nil, &r))
			if !goRE.MatchString(s) || !utf8.ValidString(s) {
				t.Fatalf("%s drew %q, which does not match", src, s)
			}
			distinct[s] = true
		}
		if len(distinct) < 2 && !slices.Contains([]string{"^anchored$", `price\$`}, src) {
			t.Errorf("%s: always drew %v", src, distinct)
		}
	}
	for _, bad := range []string{"(a{60000}){60000}", "[a-", "(ab", "ab)", "*a", "a{3", "a{5,2}", `\p{L}`, "(?i)a", "[z-a]", "a^b", `a\`} {
		if _, err := parseRegex(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseAvroSchema checks that no schema text crashes the parser or
// the generator, and that what a regex draws matches it.
func FuzzParseAvroSchema(f *testing.F) {
	f.Add(everyKindSchema)
	f.Add(`{"type":"record","name":"r","fields":[{"name":"f","doc":"d","type":["null",{"type":"record","name":"n","fields":[{"name":"g","type":"long"}]}]}]}`)
	f.Add(`{"type":"record","name":"r","fields":[{"name":"f","type":{"type":"string","arg.properties":{"regex":"[a-c]{2,4}(x|y)?"}}}]}`)
	f.Add(`{"type":"record","name":"r","fields":[{"name":"f","type":["null",{"type":"record","name":"n","fields":[{"name":"g","type":"long"}]}]}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		q, err := parseAvroSchema(text)
		if err != nil {
			return
		}
		task := &Task{s: settings{topic: "t", quickstart: q, keyIndex: -1}, partition: map[string]any{}, data: rng{state: 1}}
		for _, r := range task.generate(3) {
			if err := r.Value.(*connect.Struct).Validate(); err != nil {
				t.Fatalf("drawn value does not fit the schema: %v", err)
			}
		}
	})
}

// FuzzParseRegex checks that a parsed regex draws strings Go's regexp
// matches, whenever Go's regexp accepts the same text.
func FuzzParseRegex(f *testing.F) {
	for _, s := range []string{"User_[1-9]{0,1}", "(ab|c)+[^x]?", `\d\w\s\.`, "[-a-c]{2,}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		node, err := parseRegex(src)
		if err != nil {
			return
		}
		goRE, err := regexp.Compile("^(?:" + strings.TrimSuffix(strings.TrimPrefix(src, "^"), "$") + ")$")
		r := rng{state: uint64(len(src))}
		for range 5 {
			s := node.draw(nil, &r)
			if len(s) > 64<<20 {
				t.Fatalf("%q drew %d bytes", src, len(s))
			}
			// Go's regexp matches in time proportional to the text
			// times the program, so only short draws are checked.
			if err == nil && len(s) <= 4096 && utf8.ValidString(src) && !goRE.Match(s) {
				t.Fatalf("%q drew %q, which Go's regexp does not match", src, s)
			}
		}
	})
}

// Unset range bounds are the type's own, so one bound is enough.
func TestDatagen_RangeDefaultsAreTheTypes(t *testing.T) {
	schema := `{"type":"record","name":"r","fields":[
	  {"name":"neg","type":{"type":"int","arg.properties":{"range":{"max":0}}}},
	  {"name":"big","type":{"type":"long","arg.properties":{"range":{"min":5000000000}}}},
	  {"name":"any","type":{"type":"long","arg.properties":{"range":{}}}},
	  {"name":"pos","type":{"type":"double","arg.properties":{"range":{"min":5}}}},
	  {"name":"f","type":{"type":"float","arg.properties":{"range":{"max":-2}}}}]}`
	task := startTask(t, nil, customProps(schema, KeyRandomSeed, "3"))
	recs, _ := task.Poll(context.Background())
	for _, r := range recs {
		v := r.Value.(*connect.Struct)
		if n := v.Get("neg").(int32); n >= 0 {
			t.Fatalf("neg %d", n)
		}
		if n := v.Get("big").(int64); n < 5000000000 {
			t.Fatalf("big %d", n)
		}
		if x := v.Get("pos").(float64); x < 5 || math.IsInf(x, 0) || math.IsNaN(x) {
			t.Fatalf("pos %v", x)
		}
		if x := v.Get("f").(float32); x >= -2 || math.IsInf(float64(x), 0) {
			t.Fatalf("f %v", x)
		}
	}
}
