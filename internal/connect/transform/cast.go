package transform

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// Cast is Kafka's Cast$Key and Cast$Value: it casts fields (spec
// "field:type,...") or the whole key or value (spec "type") to int8,
// int16, int32, int64, float32, float64, boolean or string, with Java's
// conversions (numbers narrow by truncation, strings parse, booleans are
// 1/0, any primitive or time prints as a string).
type Cast struct {
	side  side
	whole connect.Type
	casts map[string]connect.Type
	order []string
	cache schemaCache
}

const castPurpose = "cast types"

var castTargets = map[string]connect.Type{
	"int8": connect.TypeInt8, "int16": connect.TypeInt16, "int32": connect.TypeInt32, "int64": connect.TypeInt64,
	"float32": connect.TypeFloat32, "float64": connect.TypeFloat64, "boolean": connect.TypeBoolean, "string": connect.TypeString,
}

// Config declares Cast's keys.
func (*Cast) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "spec", Type: connect.ConfigList, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyList,
			Doc: "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean, and string."},
		replaceNullConfig(),
	}
}

// Configure parses the spec.
func (t *Cast) Configure(props map[string]string) error {
	p, err := parse("Cast"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	spec := p.List("spec")
	t.whole, t.casts, t.order, t.cache = "", map[string]connect.Type{}, nil, schemaCache{}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("Cast%s: Invalid value %s for configuration spec: %s", t.side.suffix(), props["spec"], fmt.Sprintf(format, a...))
	}
	for _, m := range spec {
		if strings.Count(m, ":") > 1 {
			return bad("Invalid rename mapping: %s", m) // sic: Kafka's text
		}
		field, typ, hasField := strings.Cut(m, ":")
		if !hasField {
			if len(spec) > 1 {
				return bad("Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec")
			}
			typ = field
		}
		name := strings.ToLower(strings.TrimSpace(typ))
		target, ok := castTargets[name]
		switch {
		case !ok && (name == "bytes" || name == "array" || name == "map" || name == "struct"):
			return bad("Cast transformation does not support casting to %s; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]", strings.ToUpper(name))
		case !ok:
			return bad("Invalid type found in casting spec: %s", strings.TrimSpace(typ))
		}
		if !hasField {
			t.whole = target
			continue
		}
		field = strings.TrimSpace(field)
		if field == "" {
			return bad("Invalid cast mapping: %s", m)
		}
		if _, dup := t.casts[field]; !dup {
			t.order = append(t.order, field)
		}
		t.casts[field] = target
	}
	return nil
}

// Apply casts; tombstones pass through.
func (t *Cast) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if t.whole != "" {
		v, err := castValue(value, t.whole)
		if err != nil {
			return r, false, err
		}
		var ns *connect.Schema
		if schema != nil {
			if ns, err = t.cache.get(schema, func() (*connect.Schema, error) { return wholeSchema(schema, t.whole) }); err != nil {
				return r, false, err
			}
		}
		return t.side.set(r, ns, v), true, nil
	}
	if schema == nil {
		m, err := requireMap(value, castPurpose)
		if err != nil {
			return r, false, err
		}
		out := maps.Clone(m)
		// As Kafka, a listed field the map lacks is added as null.
		for _, k := range t.order {
			v := m[k]
			if v != nil {
				if v, err = castValue(v, t.casts[k]); err != nil {
					return r, false, fmt.Errorf("field %s: %w", k, err)
				}
			}
			out[k] = v
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, castPurpose)
	if err != nil {
		return r, false, err
	}
	ns, err := t.cache.get(st.Schema, func() (*connect.Schema, error) { return t.castSchema(st.Schema) })
	if err != nil {
		return r, false, err
	}
	out := connect.NewStruct(ns)
	for i, f := range st.Schema.Fields {
		v := st.Values[i]
		if target, ok := t.casts[f.Name]; ok && v != nil {
			if v, err = castValue(v, target); err != nil {
				return r, false, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		out.Values[i] = v
	}
	return t.side.set(r, ns, out), true, nil
}

// wholeSchema is the schema of a whole key or value cast to target: the
// input's name, version, doc and parameters (as Kafka's copySchemaBasics;
// a logical type's name is dropped, as it no longer applies), its
// optionality, and its default cast.
func wholeSchema(in *connect.Schema, target connect.Type) (*connect.Schema, error) {
	if !primitive(in) {
		return nil, fmt.Errorf("%w: Cast transformation does not support casting from %s; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]", connect.ErrData, strings.ToUpper(string(in.Type)))
	}
	s := &connect.Schema{Type: target, Optional: in.Optional, Name: in.Name, Version: in.Version, Doc: in.Doc, Parameters: maps.Clone(in.Parameters)}
	switch in.Name {
	case connect.DecimalName, connect.DateName, connect.TimeName, connect.TimestampName:
		s.Name, s.Version, s.Parameters = "", 0, nil
	}
	if in.Default != nil {
		d, err := castValue(in.Default, target)
		if err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
		s.Default = d
	}
	return s, nil
}

func (t *Cast) castSchema(in *connect.Schema) (*connect.Schema, error) {
	s := structBasics(in)
	s.Optional = in.Optional // unlike most transforms, Kafka's Cast keeps it
	for _, f := range in.Fields {
		fs := f.Schema
		if target, ok := t.casts[f.Name]; ok {
			if !primitive(fs) {
				return nil, fmt.Errorf("%w: Cast transformation does not support casting from %s; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]", connect.ErrData, strings.ToUpper(string(fs.Type)))
			}
			ns := &connect.Schema{Type: target, Optional: fs.Optional}
			if fs.Default != nil {
				d, err := castValue(fs.Default, target)
				if err != nil {
					return nil, fmt.Errorf("default of field %s: %w", f.Name, err)
				}
				ns.Default = d
			}
			fs = ns
		}
		s.Fields = append(s.Fields, connect.Field{Name: f.Name, Index: f.Index, Schema: fs})
	}
	return s, nil
}

// primitive reports whether Cast can read a value of s: primitives, bytes
// and the logical types; not structs, arrays or maps.
func primitive(s *connect.Schema) bool {
	switch s.Type {
	case connect.TypeStruct, connect.TypeArray, connect.TypeMap:
		return false
	}
	return true
}

// castValue converts v to target with Java's conversions.
func castValue(v any, target connect.Type) (any, error) {
	if target == connect.TypeString {
		return castString(v)
	}
	var i int64
	var f float64
	isFloat := false
	switch x := v.(type) {
	case int8:
		i = int64(x)
	case int16:
		i = int64(x)
	case int32:
		i = int64(x)
	case int64:
		i = x
	case float32:
		f, isFloat = float64(x), true
	case float64:
		f, isFloat = x, true
	case bool:
		if x {
			i = 1
		}
	case *big.Rat:
		f, _ = x.Float64()
		isFloat = true
	case time.Time:
		i = x.UnixMilli()
	case string:
		return parseCast(x, target)
	case []any, map[string]any, map[any]any, *connect.Struct:
		return nil, fmt.Errorf("%w: Cast transformation does not support casting from %T; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]", connect.ErrData, v)
	default:
		return nil, fmt.Errorf("%w: Unexpected type in Cast transformation: %T", connect.ErrData, v)
	}
	if isFloat && target != connect.TypeFloat32 && target != connect.TypeFloat64 && target != connect.TypeBoolean {
		i = javaLong(f)
	}
	if !isFloat {
		f = float64(i)
	}
	switch target {
	case connect.TypeInt8:
		return int8(i), nil
	case connect.TypeInt16:
		return int16(i), nil
	case connect.TypeInt32:
		return int32(i), nil
	case connect.TypeInt64:
		return i, nil
	case connect.TypeFloat32:
		return float32(f), nil
	case connect.TypeFloat64:
		return f, nil
	case connect.TypeBoolean:
		if isFloat {
			return javaLong(f) != 0, nil // Java: longValue() != 0, so 0.5 is false
		}
		return i != 0, nil
	}
	return nil, fmt.Errorf("%w: Cast transformation does not support casting to %s", connect.ErrData, target)
}

// javaLong converts as Java's (long) cast does: NaN is 0, out-of-range
// values saturate (Go leaves them undefined).
func javaLong(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

func parseCast(s string, target connect.Type) (any, error) {
	bits := map[connect.Type]int{connect.TypeInt8: 8, connect.TypeInt16: 16, connect.TypeInt32: 32, connect.TypeInt64: 64}
	switch target {
	case connect.TypeBoolean:
		return strings.EqualFold(strings.TrimSpace(s), "true"), nil
	case connect.TypeFloat32, connect.TypeFloat64:
		b := 64
		if target == connect.TypeFloat32 {
			b = 32
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), b)
		if err != nil {
			return nil, fmt.Errorf("%w: Value (%s) was out of range for requested data type", connect.ErrData, s)
		}
		if b == 32 {
			return float32(f), nil
		}
		return f, nil
	}
	n, err := strconv.ParseInt(s, 10, bits[target])
	if err != nil {
		return nil, fmt.Errorf("%w: Value (%s) was out of range for requested data type", connect.ErrData, s)
	}
	return castValue(n, target)
}

// castString prints v as Kafka's Cast does (Java's toString; times in
// ISO 8601, UTC).
func castString(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int8, int16, int32, int64, bool:
		return fmt.Sprint(x), nil
	case float32:
		return javaDouble(float64(x), 32), nil
	case float64:
		return javaDouble(x, 64), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case *big.Rat:
		return x.FloatString(ratDigits(x)), nil
	case time.Time:
		// Kafka's Values.dateFormatFor picks the format from the value.
		ms := x.UnixMilli()
		switch {
		case ms < 86400000:
			return x.UTC().Format("15:04:05.000Z"), nil
		case ms%86400000 == 0:
			return x.UTC().Format("2006-01-02"), nil
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z"), nil
	}
	return nil, fmt.Errorf("%w: Unexpected type in Cast transformation: %T", connect.ErrData, v)
}

func ratDigits(r *big.Rat) int {
	for n := 0; n < 20; n++ {
		if new(big.Int).Mod(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil), r.Denom()).Sign() == 0 {
			return n
		}
	}
	return 20
}

// javaDouble prints f as Java's Double.toString (Float.toString for 32
// bits): plain between 10^-3 and 10^7, else d.dddE±n, always with a
// fractional part.
func javaDouble(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, bits), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}
