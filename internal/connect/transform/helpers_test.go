package transform

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// userSchema is a struct schema most tests use.
func userSchema() *connect.Schema {
	s := connect.StructSchema(
		connect.Field{Name: "id", Schema: connect.Int64Schema},
		connect.Field{Name: "name", Schema: connect.OptionalStringSchema},
		connect.Field{Name: "age", Schema: connect.OptionalInt32Schema},
	)
	s.Name, s.Version = "user", 2
	return s
}

func user(s *connect.Schema, id int64, name string, age int32) *connect.Struct {
	st := connect.NewStruct(s)
	st.Values = []any{id, name, age}
	return st
}

var at = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

var zeroTime time.Time

func rec(keySchema *connect.Schema, key any, valueSchema *connect.Schema, value any) connect.Record {
	return connect.Record{Topic: "orders", Partition: 3, KeySchema: keySchema, Key: key, ValueSchema: valueSchema, Value: value, Timestamp: at}
}

// configured configures t with props or fails the test.
func configured[T interface{ Configure(map[string]string) error }](tb testing.TB, t T, props map[string]string) T {
	tb.Helper()
	if err := t.Configure(props); err != nil {
		tb.Fatal(err)
	}
	return t
}

// fieldsOf prints a struct as name=value pairs with its schema's field
// types, or a map as it is, so tests compare one string.
func fieldsOf(v any) string {
	switch x := v.(type) {
	case *connect.Struct:
		out := "struct{"
		for i, f := range x.Schema.Fields {
			if i > 0 {
				out += " "
			}
			opt := ""
			if f.Schema.Optional {
				opt = "?"
			}
			out += fmt.Sprintf("%s:%s%s=%v", f.Name, f.Schema.Type, opt, fieldsOfInner(x.Values[i]))
		}
		return out + "}"
	}
	return fmt.Sprintf("%v", v)
}

func fieldsOfInner(v any) any {
	if st, ok := v.(*connect.Struct); ok {
		return fieldsOf(st)
	}
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339)
	}
	return v
}

func mustEqual(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}
