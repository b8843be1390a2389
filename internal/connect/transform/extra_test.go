package transform

import (
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

func TestHeaderTransforms(t *testing.T) {
	r := rec(nil, nil, nil, "v")
	r.Headers = []connect.Header{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}}
	out, _, err := configured(t, &InsertHeader{}, map[string]string{"header": "src", "value.literal": "db"}).Apply(r)
	if err != nil || len(out.Headers) != 4 || out.Headers[3].Key != "src" || out.Headers[3].Value != "db" || len(r.Headers) != 3 {
		t.Fatalf("%+v %v", out.Headers, err)
	}
	out, _, err = configured(t, &DropHeaders{}, map[string]string{"headers": "a"}).Apply(r)
	if err != nil || len(out.Headers) != 1 || out.Headers[0].Key != "b" || len(r.Headers) != 3 || r.Headers[0].Key != "a" {
		t.Fatalf("%+v %v", out.Headers, err)
	}
	if err := (&InsertHeader{}).Configure(map[string]string{"header": "x"}); err == nil || !strings.Contains(err.Error(), `Missing required configuration "value.literal"`) {
		t.Fatal(err)
	}
	if err := (&DropHeaders{}).Configure(map[string]string{"headers": ""}); err == nil {
		t.Fatal("empty headers list accepted")
	}
}

func TestSetSchemaMetadata(t *testing.T) {
	s := userSchema()
	tr := configured(t, NewSetSchemaMetadata(false), map[string]string{"schema.name": "com.example.User", "schema.version": "7"})
	out, _, err := tr.Apply(rec(nil, nil, s, user(s, 1, "a", 2)))
	if err != nil || out.ValueSchema.Name != "com.example.User" || out.ValueSchema.Version != 7 || s.Name != "user" {
		t.Fatalf("%+v %v", out.ValueSchema, err)
	}
	if st := out.Value.(*connect.Struct); st.Schema != out.ValueSchema || connect.Validate(out.ValueSchema, st) != nil {
		t.Fatal("the struct does not carry the new schema")
	}
	if _, _, err := tr.Apply(rec(nil, nil, nil, map[string]any{})); err == nil || !strings.Contains(err.Error(), "Schema required for [updating schema metadata]") {
		t.Fatal(err)
	}
	if err := NewSetSchemaMetadata(true).Configure(map[string]string{}); err == nil || !strings.Contains(err.Error(), "Neither schema name nor version configured") {
		t.Fatal(err)
	}
}

func TestFlatten(t *testing.T) {
	addr := connect.StructSchema(connect.Field{Name: "city", Schema: connect.StringSchema}, connect.Field{Name: "zip", Schema: connect.OptionalInt32Schema})
	addr.Optional = true
	s := connect.StructSchema(connect.Field{Name: "id", Schema: connect.Int64Schema}, connect.Field{Name: "addr", Schema: addr},
		connect.Field{Name: "tags", Schema: connect.ArraySchema(connect.StringSchema)})
	a := connect.NewStruct(addr)
	a.Values = []any{"Oslo", int32(150)}
	st := connect.NewStruct(s)
	st.Values = []any{int64(1), a, []any{"x"}}
	tr := configured(t, NewFlatten(false), map[string]string{"delimiter": "_"})
	out, _, err := tr.Apply(rec(nil, nil, s, st))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldsOf(out.Value); got != "struct{id:int64=1 addr_city:string?=Oslo addr_zip:int32?=150 tags:array=[x]}" {
		t.Fatal(got)
	}
	if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
		t.Fatal(err)
	}
	st2 := connect.NewStruct(s)
	st2.Values = []any{int64(2), nil, []any{}}
	out2, _, err := tr.Apply(rec(nil, nil, s, st2))
	if err != nil || fieldsOf(out2.Value) != "struct{id:int64=2 addr_city:string?=<nil> addr_zip:int32?=<nil> tags:array=[]}" || out2.ValueSchema != out.ValueSchema {
		t.Fatalf("%s %v", fieldsOf(out2.Value), err)
	}
	out, _, err = configured(t, NewFlatten(false), map[string]string{}).Apply(rec(nil, nil, nil,
		map[string]any{"a": map[string]any{"b": map[string]any{"c": int64(1)}, "d": []any{1}}, "e": nil}))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, out.Value, map[string]any{"a.b.c": int64(1), "a.d": []any{1}, "e": nil})
	if out, keep, err := tr.Apply(rec(nil, nil, s, nil)); err != nil || !keep || out.Value != nil {
		t.Fatal("tombstone")
	}
}

func TestTimestampConverter(t *testing.T) {
	ts := at.Add(123 * time.Millisecond) // 2024-05-06 07:08:09.123 UTC
	s := connect.StructSchema(connect.Field{Name: "id", Schema: connect.Int64Schema}, connect.Field{Name: "at", Schema: connect.TimestampSchema()})
	st := connect.NewStruct(s)
	st.Values = []any{int64(1), ts}
	out, _, err := configured(t, NewTimestampConverter(false), map[string]string{"field": "at", "target.type": "string", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS"}).
		Apply(rec(nil, nil, s, st))
	if err != nil || fieldsOf(out.Value) != "struct{id:int64=1 at:string=2024-05-06T07:08:09.123}" {
		t.Fatalf("%s %v", fieldsOf(out.Value), err)
	}
	if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		props map[string]string
		in    any
		want  any
	}{
		{map[string]string{"target.type": "unix", "format": "yyyy-MM-dd HH:mm:ss.SSS"}, "2024-05-06 07:08:09.123", ts.UnixMilli()},
		{map[string]string{"target.type": "unix", "unix.precision": "seconds"}, ts, ts.Unix()},
		{map[string]string{"target.type": "Timestamp", "unix.precision": "microseconds"}, ts.UnixMicro(), ts},
		{map[string]string{"target.type": "Date"}, ts, time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{map[string]string{"target.type": "Time"}, ts, time.Date(1970, 1, 1, 7, 8, 9, 123e6, time.UTC)},
		{map[string]string{"target.type": "string", "format": "dd/MM/yy hh:mm a"}, ts, "06/05/24 07:08 AM"},
		{map[string]string{"target.type": "Timestamp", "format": "dd MMM yyyy HH:mm:ss Z"}, "06 May 2024 09:08:09 +0200", at},
	} {
		out, _, err := configured(t, NewTimestampConverter(false), tc.props).Apply(rec(nil, nil, nil, tc.in))
		if err != nil {
			t.Fatalf("%v: %v", tc.props, err)
		}
		if got, ok := out.Value.(time.Time); ok {
			if !got.Equal(tc.want.(time.Time)) {
				t.Fatalf("%v: %v, want %v", tc.props, got, tc.want)
			}
			continue
		}
		mustEqual(t, out.Value, tc.want)
	}
	out, _, err = configured(t, NewTimestampConverter(true), map[string]string{"target.type": "Date"}).Apply(rec(connect.OptionalInt64Schema, ts.UnixMilli(), nil, nil))
	if err != nil || out.KeySchema.Name != connect.DateName || !out.KeySchema.Optional {
		t.Fatalf("%+v %v", out.KeySchema, err)
	}
	if err := NewTimestampConverter(false).Configure(map[string]string{"target.type": "string"}); err == nil || !strings.Contains(err.Error(), "requires format option") {
		t.Fatal(err)
	}
	if err := NewTimestampConverter(false).Configure(map[string]string{"target.type": "epoch"}); err == nil {
		t.Fatal("bad target accepted")
	}
	if _, _, err := configured(t, NewTimestampConverter(false), map[string]string{"target.type": "unix"}).Apply(rec(nil, nil, connect.BooleanSchema, true)); err == nil ||
		!strings.Contains(err.Error(), "does not correspond to a known timestamp type format") {
		t.Fatal(err)
	}
	if _, _, err := configured(t, NewTimestampConverter(false), map[string]string{"target.type": "unix", "format": "yyyy"}).Apply(rec(nil, nil, nil, "20x4")); err == nil {
		t.Fatal("a bad timestamp string was parsed")
	}
}
