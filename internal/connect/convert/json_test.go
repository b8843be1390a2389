package convert

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

func newJSON(t testing.TB, props map[string]string) *JSONConverter {
	t.Helper()
	c := &JSONConverter{}
	if err := c.Configure(props, false); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJSON_GoldenEnvelope checks the bytes against envelopes as Kafka's
// documentation and JsonConverter tests show them.
func TestJSON_GoldenEnvelope(t *testing.T) {
	users := connect.StructSchema(
		connect.Field{Name: "registertime", Schema: connect.Int64Schema},
		connect.Field{Name: "userid", Schema: connect.StringSchema},
		connect.Field{Name: "regionid", Schema: connect.StringSchema},
		connect.Field{Name: "gender", Schema: connect.StringSchema})
	users.Name = "ksql.users"
	u := connect.NewStruct(users)
	u.Values = []any{int64(1493819497170), "User_1", "Region_5", "MALE"}

	withDoc := connect.StructSchema(connect.Field{Name: "id", Schema: connect.OptionalInt32Schema},
		connect.Field{Name: "tags", Schema: connect.ArraySchema(connect.StringSchema)},
		connect.Field{Name: "attrs", Schema: connect.MapSchema(connect.StringSchema, connect.Float64Schema)},
		connect.Field{Name: "pairs", Schema: connect.MapSchema(connect.Int32Schema, connect.BooleanSchema)})
	withDoc.Doc, withDoc.Version, withDoc.Optional = "a record", 3, true
	wd := connect.NewStruct(withDoc)
	wd.Values = []any{nil, []any{"a"}, map[any]any{"x": 1.5}, map[any]any{int32(2): true}}

	for _, tc := range []struct {
		name   string
		schema *connect.Schema
		value  any
		props  map[string]string
		want   string
	}{
		{"boolean", connect.BooleanSchema, true, nil, `{"schema":{"type":"boolean","optional":false},"payload":true}`},
		{"float32", connect.Float32Schema, float32(12.34), nil, `{"schema":{"type":"float","optional":false},"payload":12.34}`},
		{"float64 integral", connect.Float64Schema, 2.0, nil, `{"schema":{"type":"double","optional":false},"payload":2.0}`},
		{"float64 large", connect.Float64Schema, 12345678.0, nil, `{"schema":{"type":"double","optional":false},"payload":1.2345678E7}`},
		{"float64 small", connect.Float64Schema, -0.0001, nil, `{"schema":{"type":"double","optional":false},"payload":-1.0E-4}`},
		{"bytes", connect.BytesSchema, []byte("test-string"), nil, `{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}`},
		{"struct of docs", users, u, nil, `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"registertime"},{"type":"string","optional":false,"field":"userid"},{"type":"string","optional":false,"field":"regionid"},{"type":"string","optional":false,"field":"gender"}],"optional":false,"name":"ksql.users"},"payload":{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"MALE"}}`},
		{"nested", withDoc, wd, nil, `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"field":"id"},{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"},{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"double","optional":false},"optional":false,"field":"attrs"},{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"boolean","optional":false},"optional":false,"field":"pairs"}],"optional":true,"version":3,"doc":"a record"},"payload":{"id":null,"tags":["a"],"attrs":{"x":1.5},"pairs":[[2,true]]}}`},
		{"decimal base64", connect.DecimalSchema(2), big.NewRat(156, 100), nil, `{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}`},
		{"decimal numeric", connect.DecimalSchema(2), big.NewRat(156, 100), map[string]string{KeyDecimalFormat: "numeric"}, `{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":1.56}`},
		{"date", connect.DateSchema(), time.Unix(10000*86400, 0).UTC(), nil, `{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}`},
		{"time", connect.TimeSchema(), time.UnixMilli(14400000).UTC(), nil, `{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1},"payload":14400000}`},
		{"timestamp", connect.TimestampSchema(), time.UnixMilli(4000000000).UTC(), nil, `{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":4000000000}`},
		{"schemaless in envelope", nil, map[string]any{"a": int64(1)}, nil, `{"schema":null,"payload":{"a":1}}`},
		{"no envelope", users, u, map[string]string{KeySchemasEnable: "false"}, `{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"MALE"}`},
		{"html chars kept", connect.StringSchema, "<a&b>\n", nil, `{"schema":{"type":"string","optional":false},"payload":"<a&b>\n"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newJSON(t, tc.props)
			got, err := c.FromConnectData("t", nil, tc.schema, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			s, v, err := c.ToConnectData("t", nil, got)
			if err != nil {
				t.Fatal(err)
			}
			if tc.props[KeySchemasEnable] == "false" {
				return
			}
			if !schemaEq(s, tc.schema) || !valueEq(v, tc.value) {
				t.Fatalf("round trip: %+v %#v", s, v)
			}
		})
	}
}

func TestJSON_RoundTripEveryType(t *testing.T) {
	inner := connect.StructSchema(connect.Field{Name: "n", Schema: connect.Int8Schema})
	in := connect.NewStruct(inner)
	in.Values[0] = int8(-3)
	dflt := &connect.Schema{Type: connect.TypeInt16, Optional: true, Default: int16(7)}
	cases := []struct {
		s *connect.Schema
		v any
	}{
		{connect.Int8Schema, int8(-128)}, {connect.Int16Schema, int16(32767)}, {connect.Int32Schema, int32(-5)},
		{connect.Int64Schema, int64(-1 << 63)}, {connect.Float32Schema, float32(-0.5)}, {connect.Float64Schema, 1e300},
		{connect.BooleanSchema, false}, {connect.StringSchema, "ünï\x01"}, {connect.BytesSchema, []byte{0, 255}},
		{connect.OptionalStringSchema, nil}, {connect.ArraySchema(connect.OptionalInt32Schema), []any{int32(1), nil}},
		{connect.MapSchema(connect.Int64Schema, inner), map[any]any{int64(1): in}},
		{connect.DecimalSchema(0), big.NewRat(-129, 1)}, {connect.DecimalSchema(-2), big.NewRat(12300, 1)},
		{connect.DecimalSchema(5), big.NewRat(-1, 100000)}, {connect.DateSchema(), time.Date(1960, 3, 1, 0, 0, 0, 0, time.UTC)},
		{connect.TimeSchema(), time.UnixMilli(86399999).UTC()}, {connect.TimestampSchema(), time.UnixMilli(-1).UTC()},
		{dflt, int16(7)},
	}
	for _, numeric := range []string{"BASE64", "NUMERIC"} {
		for _, enable := range []string{"true", "false"} {
			c := newJSON(t, map[string]string{KeySchemasEnable: enable, KeyDecimalFormat: numeric})
			for _, tc := range cases {
				b, err := c.FromConnectData("t", nil, tc.s, tc.v)
				if err != nil {
					t.Fatalf("%s %v: %v", tc.s.Type, tc.v, err)
				}
				if enable == "false" {
					continue // no schema to read it back by
				}
				s, v, err := c.ToConnectData("t", nil, b)
				if err != nil {
					t.Fatalf("%s: %v", b, err)
				}
				if !schemaEq(s, tc.s) || !valueEq(v, tc.v) {
					t.Fatalf("%s: got %+v %#v", b, s, v)
				}
			}
		}
	}
}

func TestJSON_NullsAndTombstones(t *testing.T) {
	c := newJSON(t, nil)
	if b, err := c.FromConnectData("t", nil, nil, nil); err != nil || b != nil {
		t.Fatalf("tombstone: %q %v", b, err)
	}
	if s, v, err := c.ToConnectData("t", nil, nil); err != nil || s != nil || v != nil {
		t.Fatalf("nil bytes: %v %v %v", s, v, err)
	}
	if s, v, err := c.ToConnectData("t", nil, []byte(`{"schema":null,"payload":null}`)); err != nil || s != nil || v != nil {
		t.Fatalf("null envelope: %v %v %v", s, v, err)
	}
	b, err := c.FromConnectData("t", nil, connect.OptionalInt32Schema, nil)
	if err != nil || string(b) != `{"schema":{"type":"int32","optional":true},"payload":null}` {
		t.Fatalf("optional null: %s %v", b, err)
	}
	if _, err := c.FromConnectData("t", nil, connect.Int32Schema, nil); !errors.Is(err, connect.ErrData) {
		t.Fatalf("required null: %v", err)
	}
	if _, _, err := c.ToConnectData("t", nil, []byte(`{"schema":{"type":"int32"},"payload":null}`)); err == nil ||
		!strings.Contains(err.Error(), "Invalid null value for required INT32 field") {
		t.Fatalf("required null read: %v", err)
	}
	noDefault := newJSON(t, map[string]string{KeyReplaceNullWithDefault: "false"})
	s := &connect.Schema{Type: connect.TypeString, Optional: true, Default: "d"}
	if b, _ := noDefault.FromConnectData("t", nil, s, nil); !strings.HasSuffix(string(b), `"payload":null}`) {
		t.Fatalf("replace.null.with.default=false: %s", b)
	}
	if b, _ := c.FromConnectData("t", nil, s, nil); !strings.HasSuffix(string(b), `"payload":"d"}`) {
		t.Fatalf("replace.null.with.default=true: %s", b)
	}
}

func TestJSON_EnvelopeRequired(t *testing.T) {
	c := newJSON(t, nil)
	for _, in := range []string{`{"a":1}`, `{"schema":null,"payload":1,"x":2}`, `[1]`, `3`} {
		_, _, err := c.ToConnectData("t", nil, []byte(in))
		if !errors.Is(err, ErrEnvelope) || !strings.Contains(err.Error(), `JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`) {
			t.Fatalf("%s: %v", in, err)
		}
	}
	for in, want := range map[string]string{
		`{"schema":{"type":"nope"},"payload":1}`:                          "Unknown schema type: nope",
		`{"schema":{},"payload":1}`:                                       "Schema must contain 'type' field",
		`{"schema":{"type":"array"},"payload":[]}`:                        "Array schema did not specify the element type",
		`{"schema":{"type":"struct","fields":1},"payload":{}}`:            `Struct schema's "fields" argument is not an array.`,
		`{"schema":{"type":"struct","fields":[]},"payload":1}`:            "Structs should be encoded as JSON objects, but found NUMBER",
		`{"schema":{"type":"int8"},"payload":300}`:                        "300 is not a valid int8",
		`{"schema":{"type":"bytes","name":"` + connect.DecimalName + `"}`: "", // syntax error: checked below
	} {
		_, _, err := c.ToConnectData("t", nil, []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestJSON_Schemaless(t *testing.T) {
	c := newJSON(t, map[string]string{KeySchemasEnable: "false"})
	s, v, err := c.ToConnectData("t", nil, []byte(`{"a":1,"b":1.0,"c":[true,null,"x"],"d":{"e":-2e3},"f":123456789012345678901}`))
	if err != nil || s != nil {
		t.Fatal(s, err)
	}
	want := map[string]any{"a": int64(1), "b": 1.0, "c": []any{true, nil, "x"}, "d": map[string]any{"e": -2000.0}, "f": 123456789012345678901.0}
	if !valueEq(v, want) {
		t.Fatalf("got %#v", v)
	}
	b, err := c.FromConnectData("t", nil, nil, v)
	if err != nil || string(b) != `{"a":1,"b":1.0,"c":[true,null,"x"],"d":{"e":-2000.0},"f":1.2345678901234568E20}` {
		t.Fatalf("%s %v", b, err)
	}
	if _, err := c.FromConnectData("t", nil, nil, map[any]any{int32(1): "x"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.FromConnectData("t", nil, nil, map[any]any{int32(1): "x"}); string(b) != `[[1,"x"]]` {
		t.Fatalf("non-string keys: %s", b)
	}
	if _, err := c.FromConnectData("t", nil, nil, time.Now()); !errors.Is(err, connect.ErrData) {
		t.Fatalf("time without schema: %v", err)
	}
}

func TestJSON_LogicalErrors(t *testing.T) {
	c := newJSON(t, nil)
	if _, err := c.FromConnectData("t", nil, connect.DateSchema(), time.Unix(100, 0)); err == nil || !strings.Contains(err.Error(), "Date type should not have any time fields") {
		t.Fatal(err)
	}
	if _, err := c.FromConnectData("t", nil, connect.TimeSchema(), time.Unix(86400*3, 0)); err == nil || !strings.Contains(err.Error(), "Time type should not have any date fields") {
		t.Fatal(err)
	}
	if _, err := c.FromConnectData("t", nil, connect.DecimalSchema(1), big.NewRat(1, 3)); err == nil || !strings.Contains(err.Error(), "mismatching scale") {
		t.Fatal(err)
	}
	if _, _, err := c.ToConnectData("t", nil, []byte(`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}},"payload":1.25}`)); err == nil {
		t.Fatal("a decimal finer than its scale was accepted")
	}
}

func TestPlainDecimal_JavaBigDecimalToString(t *testing.T) {
	for _, tc := range []struct {
		unscaled int64
		scale    int
		want     string
	}{
		{156, 2, "1.56"}, {-156, 2, "-1.56"}, {5, 3, "0.005"}, {1, 6, "0.000001"}, {1, 7, "1E-7"}, {12, 8, "1.2E-7"},
		{123, -2, "1.23E+4"}, {1, -1, "1E+1"}, {0, 2, "0.00"}, {42, 0, "42"},
	} {
		if got := plainDecimal(big.NewInt(tc.unscaled), tc.scale); got != tc.want {
			t.Errorf("%d scale %d: %s, want %s", tc.unscaled, tc.scale, got, tc.want)
		}
		r, ok := new(big.Rat).SetString(tc.want)
		if !ok || r.Cmp(ratOf(big.NewInt(tc.unscaled), tc.scale)) != 0 {
			t.Errorf("%s does not read back", tc.want)
		}
	}
}

func TestTwosComplement(t *testing.T) {
	for n, want := range map[int64]string{0: "00", 1: "01", 127: "7f", 128: "0080", -1: "ff", -128: "80", -129: "ff7f", 156: "009c"} {
		got := twosComplement(big.NewInt(n))
		if hexOf(got) != want || fromTwosComplement(got).Int64() != n {
			t.Errorf("%d: %s", n, hexOf(got))
		}
	}
}

func hexOf(b []byte) string {
	const h = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, h[x>>4], h[x&15])
	}
	return string(out)
}

// FuzzJsonConverter: ToConnectData never panics, and what it accepts
// re-encodes and decodes to an equal schema and value.
func FuzzJsonConverter(f *testing.F) {
	for _, seed := range []string{
		`{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"a"},{"type":"map","keys":{"type":"int8"},"values":{"type":"string","optional":true},"field":"m"}],"optional":false,"name":"x"},"payload":{"a":1,"m":[[1,null]]}}`,
		`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},"payload":"AJw="}`,
		`{"schema":{"type":"int32","name":"org.apache.kafka.connect.data.Date","default":3},"payload":null}`,
		`{"schema":{"type":"array","items":{"type":"float"}},"payload":[1.5,2]}`,
		`{"schema":null,"payload":{"a":[1,2.5,"x",{"b":null}]}}`,
		`{"a":1}`, `null`, ``,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, enable bool) {
		props := map[string]string{KeySchemasEnable: "false"}
		if enable {
			props[KeySchemasEnable] = "true"
		}
		for _, format := range []string{DecimalFormatBase64, DecimalFormatNumeric} {
			props[KeyDecimalFormat] = format
			c := newJSON(t, props)
			s, v, err := c.ToConnectData("t", nil, data)
			if err != nil {
				return
			}
			b, err := c.FromConnectData("t", nil, s, v)
			if err != nil {
				t.Fatalf("re-encoding %q (%+v %#v): %v", data, s, v, err)
			}
			s2, v2, err := c.ToConnectData("t", nil, b)
			if err != nil {
				t.Fatalf("decoding re-encoded %q: %v", b, err)
			}
			if !schemaEq(s, s2) || !valueEq(v, v2) {
				t.Fatalf("%q -> %q: %+v %#v != %+v %#v", data, b, s, v, s2, v2)
			}
		}
	})
}
