package transform

import (
	"strings"
	"testing"

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
