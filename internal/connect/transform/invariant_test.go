package transform

import (
	"fmt"
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

// snapshot prints a record deeply enough to see any change to its key,
// value (struct values, map entries) or headers.
func snapshot(r connect.Record) string {
	deep := func(v any) string {
		switch x := v.(type) {
		case *connect.Struct:
			return fmt.Sprintf("%p %s %v", x.Schema, fieldsOf(x), len(x.Schema.Fields))
		}
		return fmt.Sprintf("%#v", v)
	}
	return fmt.Sprintf("%s|%p|%s|%p|%s|%v", r.Topic, r.KeySchema, deep(r.Key), r.ValueSchema, deep(r.Value), r.Headers)
}

// TestTransforms_DoNotChangeInput checks the package invariant: every
// transform leaves the record it was given, its struct or map, and its
// headers as they were.
func TestTransforms_DoNotChangeInput(t *testing.T) {
	reg := registry(t)
	cases := map[string]map[string]string{
		"InsertField$Value":        {"topic.field": "t", "static.field": "s", "static.value": "v"},
		"ReplaceField$Value":       {"exclude": "age", "renames": "name:n"},
		"MaskField$Value":          {"fields": "name,age"},
		"ValueToKey":               {"fields": "id"},
		"ExtractField$Value":       {"field": "name"},
		"HoistField$Value":         {"field": "wrapped"},
		"Cast$Value":               {"spec": "age:string"},
		"TimestampRouter":          {},
		"RegexRouter":              {"regex": "(.*)", "replacement": "$1-x"},
		"Flatten$Value":            {},
		"SetSchemaMetadata$Value":  {"schema.name": "other"},
		"InsertHeader":             {"header": "h", "value.literal": "v"},
		"DropHeaders":              {"headers": "keep"},
		"TimestampConverter$Value": {"field": "age", "target.type": "Timestamp"},
	}
	s := userSchema()
	for class, props := range cases {
		p, ok := reg.Lookup(class)
		if !ok {
			t.Fatalf("%s not registered", class)
		}
		tr := p.New().(connect.Transformation)
		if err := tr.Configure(props); err != nil {
			t.Fatalf("%s: %v", class, err)
		}
		for _, in := range []connect.Record{
			rec(nil, nil, s, user(s, 1, "ann", 30)),
			rec(nil, nil, nil, map[string]any{"id": int64(1), "name": "ann", "age": int64(30)}),
		} {
			in.Headers = []connect.Header{{Key: "keep", Value: "1"}, {Key: "other", Value: "2"}}
			before := snapshot(in)
			_, _, _ = tr.Apply(in) // some refuse one of the shapes; the input must still be intact
			if after := snapshot(in); after != before {
				t.Errorf("%s changed its input:\n%s\n%s", class, before, after)
			}
		}
	}
}
