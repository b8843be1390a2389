package transform

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

func TestInsertField(t *testing.T) {
	props := map[string]string{"topic.field": "t!", "partition.field": "p", "timestamp.field": "ts", "static.field": "src", "static.value": "db1"}
	s := userSchema()
	for _, tc := range []struct {
		name string
		in   connect.Record
		want string
	}{
		{"struct", rec(nil, nil, s, user(s, 1, "ann", 30)),
			"struct{id:int64=1 name:string?=ann age:int32?=30 t:string=orders p:int32?=3 ts:int64?=2024-05-06T07:08:09Z src:string?=db1}"},
		{"map", rec(nil, nil, nil, map[string]any{"id": int64(1)}),
			"map[id:1 p:3 src:db1 t:orders ts:1714979289000]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := configured(t, NewInsertField(false), props)
			out, keep, err := tr.Apply(tc.in)
			if err != nil || !keep {
				t.Fatal(err)
			}
			if got := fieldsOf(out.Value); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if tc.in.ValueSchema != nil {
				if out.ValueSchema.Name != "user" || out.ValueSchema.Version != 2 || out.ValueSchema.Fields[5].Schema.Name != connect.TimestampName {
					t.Fatalf("schema %+v", out.ValueSchema)
				}
				if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
					t.Fatal(err)
				}
				if fieldsOf(tc.in.Value) != "struct{id:int64=1 name:string?=ann age:int32?=30}" {
					t.Fatal("the input struct changed")
				}
			}
		})
	}
	tr := configured(t, NewInsertField(true), map[string]string{"offset.field": "off"})
	r := rec(nil, map[string]any{"k": "v"}, nil, nil)
	if _, _, err := tr.Apply(r); err == nil || !strings.Contains(err.Error(), "Only SinkRecord supported for [field insertion]") {
		t.Fatalf("offset on a source record: %v", err)
	}
	out, _, err := tr.ApplySink(connect.SinkRecord{Record: r, KafkaOffset: 42})
	if err != nil || fieldsOf(out.Key) != "map[k:v off:42]" || out.KafkaOffset != 42 {
		t.Fatalf("sink: %v %v", out.Key, err)
	}
	if err := NewInsertField(false).Configure(map[string]string{}); err == nil || !strings.Contains(err.Error(), "No field insertion configured") {
		t.Fatal(err)
	}
	if err := NewInsertField(false).Configure(map[string]string{"static.field": "s"}); err == nil || !strings.Contains(err.Error(), "No value specified for static field: s") {
		t.Fatal(err)
	}
	tomb := rec(nil, nil, s, nil)
	if out, keep, err := configured(t, NewInsertField(false), props).Apply(tomb); err != nil || !keep || out.Value != nil {
		t.Fatal("tombstone did not pass through")
	}
	if _, _, err := configured(t, NewInsertField(false), props).Apply(rec(nil, nil, nil, "str")); err == nil ||
		!strings.Contains(err.Error(), "Only Map objects supported in absence of schema for [field insertion], found: string") {
		t.Fatalf("string value: %v", err)
	}
}

func TestReplaceField(t *testing.T) {
	s := userSchema()
	for _, tc := range []struct {
		props      map[string]string
		wantStruct string
		wantMap    string
	}{
		{map[string]string{"exclude": "age"}, "struct{id:int64=1 name:string?=ann}", "map[id:1 name:ann]"},
		{map[string]string{"include": "id,age", "renames": "id:user_id"}, "struct{user_id:int64=1 age:int32?=30}", "map[age:30 user_id:1]"},
		{map[string]string{"blacklist": "name"}, "struct{id:int64=1 age:int32?=30}", "map[age:30 id:1]"},
		{map[string]string{"whitelist": "name", "include": "id"}, "struct{id:int64=1}", "map[id:1]"},
		{map[string]string{"renames": "name:n,age:a"}, "struct{id:int64=1 n:string?=ann a:int32?=30}", "map[a:30 id:1 n:ann]"},
	} {
		tr := configured(t, NewReplaceField(false), tc.props)
		out, _, err := tr.Apply(rec(nil, nil, s, user(s, 1, "ann", 30)))
		if err != nil || fieldsOf(out.Value) != tc.wantStruct {
			t.Fatalf("%v: %s %v", tc.props, fieldsOf(out.Value), err)
		}
		if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
			t.Fatal(err)
		}
		out, _, err = tr.Apply(rec(nil, nil, nil, map[string]any{"id": int64(1), "name": "ann", "age": int32(30)}))
		if err != nil || fieldsOf(out.Value) != tc.wantMap {
			t.Fatalf("%v: %s %v", tc.props, fieldsOf(out.Value), err)
		}
	}
	if err := NewReplaceField(false).Configure(map[string]string{"renames": "a:b:c"}); err == nil || !strings.Contains(err.Error(), "Invalid rename mapping: a:b:c") {
		t.Fatalf("bad rename: %v", err)
	}
	if err := NewReplaceField(false).Configure(map[string]string{"renames": "a:x,b:x"}); err != nil {
		t.Fatal(err) // a clash shows on a record that has both
	}
}

func TestMaskField(t *testing.T) {
	s := connect.StructSchema(connect.Field{Name: "n", Schema: connect.Int32Schema}, connect.Field{Name: "s", Schema: connect.StringSchema},
		connect.Field{Name: "d", Schema: connect.DecimalSchema(2)}, connect.Field{Name: "b", Schema: connect.BooleanSchema},
		connect.Field{Name: "keep", Schema: connect.StringSchema})
	st := connect.NewStruct(s)
	st.Values = []any{int32(7), "secret", big.NewRat(5, 4), true, "x"}
	out, _, err := configured(t, NewMaskField(false), map[string]string{"fields": "n,s,d,b,missing"}).Apply(rec(nil, nil, s, st))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldsOf(out.Value); got != "struct{n:int32=0 s:string= d:bytes=0/1 b:boolean=false keep:string=x}" {
		t.Fatal(got)
	}
	if st.Values[1] != "secret" {
		t.Fatal("the input struct changed")
	}
	out, _, err = configured(t, NewMaskField(false), map[string]string{"fields": "n,s,absent", "replacement": "42"}).Apply(
		rec(nil, nil, nil, map[string]any{"n": int64(7), "s": "secret", "o": 1.5}))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, out.Value, map[string]any{"n": int64(42), "s": "42", "o": 1.5, "absent": nil})
	_, _, err = configured(t, NewMaskField(false), map[string]string{"fields": "n", "replacement": "abc"}).Apply(rec(nil, nil, nil, map[string]any{"n": int32(1)}))
	if err == nil || !strings.Contains(err.Error(), "Unable to convert abc") {
		t.Fatalf("bad replacement: %v", err)
	}
	_, _, err = configured(t, NewMaskField(false), map[string]string{"fields": "b", "replacement": "x"}).Apply(rec(nil, nil, nil, map[string]any{"b": true}))
	if err == nil || !strings.Contains(err.Error(), "with custom replacement") {
		t.Fatalf("boolean replacement: %v", err)
	}
	if err := NewMaskField(false).Configure(map[string]string{}); err == nil || !strings.Contains(err.Error(), `Missing required configuration "fields"`) {
		t.Fatal(err)
	}
}

func TestValueToKey(t *testing.T) {
	s := userSchema()
	tr := configured(t, &ValueToKey{}, map[string]string{"fields": "id,name"})
	out, _, err := tr.Apply(rec(nil, nil, s, user(s, 5, "bo", 1)))
	if err != nil || fieldsOf(out.Key) != "struct{id:int64=5 name:string?=bo}" || fieldsOf(out.Value) != "struct{id:int64=5 name:string?=bo age:int32?=1}" {
		t.Fatalf("%s %v", fieldsOf(out.Key), err)
	}
	out2, _, _ := tr.Apply(rec(nil, nil, s, user(s, 6, "cy", 1)))
	if out2.KeySchema != out.KeySchema {
		t.Fatal("the key schema was not reused for the same value schema")
	}
	out, _, err = tr.Apply(rec(nil, nil, nil, map[string]any{"id": int64(5), "name": "bo", "age": 1}))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, out.Key, map[string]any{"id": int64(5), "name": "bo"})
	_, _, err = configured(t, &ValueToKey{}, map[string]string{"fields": "nope"}).Apply(rec(nil, nil, s, user(s, 5, "bo", 1)))
	if err == nil || !strings.Contains(err.Error(), "Field does not exist: nope") {
		t.Fatal(err)
	}
	_, _, err = tr.Apply(rec(nil, nil, s, map[string]any{}))
	if err == nil || !strings.Contains(err.Error(), "Only Struct objects supported for [copying fields from value to key]") {
		t.Fatal(err)
	}
}

func TestExtractAndHoistField(t *testing.T) {
	s := userSchema()
	ex := configured(t, NewExtractField(true), map[string]string{"field": "id"})
	out, _, err := ex.Apply(rec(s, user(s, 9, "x", 1), nil, nil))
	if err != nil || out.Key != int64(9) || out.KeySchema != connect.Int64Schema {
		t.Fatalf("%v %v", out.Key, err)
	}
	out, _, err = ex.Apply(rec(nil, map[string]any{"id": "k"}, nil, nil))
	if err != nil || out.Key != "k" {
		t.Fatalf("%v %v", out.Key, err)
	}
	if _, _, err := configured(t, NewExtractField(true), map[string]string{"field": "zz"}).Apply(rec(s, user(s, 9, "x", 1), nil, nil)); err == nil ||
		!strings.Contains(err.Error(), "Unknown field: zz") {
		t.Fatal(err)
	}

	outer := connect.StructSchema(connect.Field{Name: "a.b", Schema: s})
	o := connect.NewStruct(outer)
	o.Values[0] = user(s, 3, "n", 4)
	v2 := configured(t, NewExtractField(false), map[string]string{"field": "`a.b`.name", "field.syntax.version": "V2"})
	out, _, err = v2.Apply(rec(nil, nil, outer, o))
	if err != nil || out.Value != "n" || out.ValueSchema != connect.OptionalStringSchema {
		t.Fatalf("V2 struct: %v %v", out.Value, err)
	}
	out, _, err = v2.Apply(rec(nil, nil, nil, map[string]any{"a.b": map[string]any{"name": "m"}}))
	if err != nil || out.Value != "m" {
		t.Fatalf("V2 map: %v %v", out.Value, err)
	}
	for in, want := range map[string][]string{
		"a.`b.c`.d":  {"a", "b.c", "d"},
		"a.b.":       {"a", "b", ""},
		"`a\\`.b`.c": {"a`.b", "c"},
		"`a`b`":      {"a`b"},
		"x":          {"x"},
	} {
		mustEqual(t, mustPath(t, in), want)
	}
	if _, err := parsePath("a.`b"); err == nil || !strings.Contains(err.Error(), "Incomplete backtick pair in path: [a.`b]") {
		t.Fatal(err)
	}
	if _, _, err := v2.Apply(rec(nil, nil, nil, map[string]any{"a.b": "str"})); err == nil || !strings.Contains(err.Error(), "[nested field access]") {
		t.Fatal(err)
	}

	h := configured(t, NewHoistField(false), map[string]string{"field": "line"})
	out, _, _ = h.Apply(rec(nil, nil, connect.StringSchema, "hello"))
	if fieldsOf(out.Value) != "struct{line:string=hello}" {
		t.Fatal(fieldsOf(out.Value))
	}
	out, _, _ = h.Apply(rec(nil, nil, nil, int64(1)))
	mustEqual(t, out.Value, map[string]any{"line": int64(1)})
	if _, _, err := h.Apply(rec(nil, nil, connect.StringSchema, nil)); err == nil || !strings.Contains(err.Error(), `null used for required field: "line"`) {
		t.Fatal(err)
	}
	if out, _, err := h.Apply(rec(nil, nil, connect.OptionalStringSchema, nil)); err != nil || fieldsOf(out.Value) != "struct{line:string?=<nil>}" {
		t.Fatal(err)
	}
}

func mustPath(t *testing.T, s string) []string {
	p, err := parsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRouters(t *testing.T) {
	ts := configured(t, &TimestampRouter{}, map[string]string{})
	out, _, err := ts.Apply(rec(nil, nil, nil, nil))
	if err != nil || out.Topic != "orders-20240506" {
		t.Fatalf("%s %v", out.Topic, err)
	}
	ts = configured(t, &TimestampRouter{}, map[string]string{"topic.format": "${timestamp}/${topic}", "timestamp.format": "yyyy-MM-dd'T'HH:mm:ss.SSS EEE MMM a"})
	if out, _, _ := ts.Apply(rec(nil, nil, nil, nil)); out.Topic != "2024-05-06T07:08:09.000 Mon May AM/orders" {
		t.Fatal(out.Topic)
	}
	if err := (&TimestampRouter{}).Configure(map[string]string{"timestamp.format": "yyyyq"}); err == nil || !strings.Contains(err.Error(), "Illegal pattern character 'q'") {
		t.Fatal(err)
	}
	noTS := rec(nil, nil, nil, nil)
	noTS.Timestamp = zeroTime
	if _, _, err := ts.Apply(noTS); err == nil || !strings.Contains(err.Error(), "Timestamp missing on record") {
		t.Fatal(err)
	}

	for _, tc := range []struct{ regex, repl, topic, want string }{
		{"(.*)", "$1-copy", "orders", "orders-copy"},
		{"ord(.*)", "x$1", "orders", "xers"},
		{"(?P<t>o.*)", "${t}_v2", "orders", "orders_v2"},
		{"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "$10$1", "abcdefghij", "ja"},
		{"(o)(r)", "$12", "or", "o2"},
		{"o.*", `\$x`, "orders", "$x"},
		{"x.*", "y", "orders", "orders"},
	} {
		rr := configured(t, &RegexRouter{}, map[string]string{"regex": tc.regex, "replacement": tc.repl})
		r := rec(nil, nil, nil, nil)
		r.Topic = tc.topic
		if out, _, _ := rr.Apply(r); out.Topic != tc.want {
			t.Errorf("%s -> %s on %s: %s, want %s", tc.regex, tc.repl, tc.topic, out.Topic, tc.want)
		}
	}
	if err := (&RegexRouter{}).Configure(map[string]string{"regex": "(a", "replacement": "x"}); err == nil {
		t.Fatal("a bad regex was accepted")
	}
	if err := (&RegexRouter{}).Configure(map[string]string{"regex": "a"}); err == nil || !strings.Contains(err.Error(), `Missing required configuration "replacement"`) {
		t.Fatal(err)
	}
}

func TestCast(t *testing.T) {
	s := connect.StructSchema(connect.Field{Name: "n", Schema: connect.Int64Schema}, connect.Field{Name: "f", Schema: connect.OptionalFloat64Schema},
		connect.Field{Name: "s", Schema: connect.StringSchema}, connect.Field{Name: "b", Schema: connect.BooleanSchema},
		connect.Field{Name: "ts", Schema: connect.TimestampSchema()})
	st := connect.NewStruct(s)
	st.Values = []any{int64(300), 2.75, "12", true, at}
	tr := configured(t, NewCast(false), map[string]string{"spec": "n:int8,f:int32,s:int16,b:string,ts:int64"})
	out, _, err := tr.Apply(rec(nil, nil, s, st))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldsOf(out.Value); got != "struct{n:int8=44 f:int32?=2 s:int16=12 b:string=true ts:int64=1714979289000}" {
		t.Fatal(got)
	}
	if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
		t.Fatal(err)
	}
	out, _, err = configured(t, NewCast(false), map[string]string{"spec": "a:float64,b:boolean,c:string"}).Apply(
		rec(nil, nil, nil, map[string]any{"a": "1.5", "b": int32(0), "c": 1e20, "d": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, out.Value, map[string]any{"a": 1.5, "b": false, "c": "1.0E20", "d": "x"})
	out, _, _ = configured(t, NewCast(false), map[string]string{"spec": "h:boolean,absent:int8"}).Apply(rec(nil, nil, nil, map[string]any{"h": 0.5}))
	mustEqual(t, out.Value, map[string]any{"h": false, "absent": nil})
	out, _, err = configured(t, NewCast(true), map[string]string{"spec": "string"}).Apply(rec(connect.OptionalInt32Schema, int32(7), nil, nil))
	if err != nil || out.Key != "7" || out.KeySchema.Type != connect.TypeString || !out.KeySchema.Optional {
		t.Fatalf("%v %+v %v", out.Key, out.KeySchema, err)
	}
	out, _, err = configured(t, NewCast(false), map[string]string{"spec": "string"}).Apply(rec(nil, nil, connect.TimestampSchema(), at))
	if err != nil || out.Value != "2024-05-06T07:08:09.000Z" || out.ValueSchema.Name != "" || out.ValueSchema.Type != connect.TypeString {
		t.Fatalf("%v %+v %v", out.Value, out.ValueSchema, err)
	}
	for spec, want := range map[string]string{"a:int8,int8": "may ony specify a single cast", "a:uuid": "Invalid type found in casting spec: uuid",
		"a:b:c": "Invalid rename mapping: a:b:c", "bytes": "does not support casting to BYTES"} {
		if err := NewCast(false).Configure(map[string]string{"spec": spec}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", spec, err)
		}
	}
	arr := connect.StructSchema(connect.Field{Name: "a", Schema: connect.ArraySchema(connect.Int8Schema)})
	if _, _, err := configured(t, NewCast(false), map[string]string{"spec": "a:string"}).Apply(rec(nil, nil, arr, connect.NewStruct(arr))); !errors.Is(err, connect.ErrData) {
		t.Fatal(err)
	}
	if _, _, err := configured(t, NewCast(false), map[string]string{"spec": "a:int32"}).Apply(rec(nil, nil, nil, map[string]any{"a": "x1"})); err == nil {
		t.Fatal("unparsable string cast")
	}
}

func TestPredicates(t *testing.T) {
	r := rec(nil, nil, nil, nil)
	r.Headers = []connect.Header{{Key: "trace", Value: "1"}}
	tn := configured(t, &TopicNameMatches{}, map[string]string{"pattern": "ord.*"})
	if ok, _ := tn.Test(r); !ok {
		t.Fatal("ord.* should match orders")
	}
	if ok, _ := configured(t, &TopicNameMatches{}, map[string]string{"pattern": "ord"}).Test(r); ok {
		t.Fatal("a partial match matched")
	}
	if err := (&TopicNameMatches{}).Configure(map[string]string{"pattern": "("}); err == nil || !strings.Contains(err.Error(), "valid regular expression") {
		t.Fatal(err)
	}
	if ok, _ := configured(t, &HasHeaderKey{}, map[string]string{"name": "trace"}).Test(r); !ok {
		t.Fatal("header")
	}
	if ok, _ := configured(t, &HasHeaderKey{}, map[string]string{"name": "other"}).Test(r); ok {
		t.Fatal("absent header")
	}
	if ok, _ := (&RecordIsTombstone{}).Test(r); !ok {
		t.Fatal("tombstone")
	}
	r.Value = "x"
	if ok, _ := (&RecordIsTombstone{}).Test(r); ok {
		t.Fatal("not a tombstone")
	}
}
