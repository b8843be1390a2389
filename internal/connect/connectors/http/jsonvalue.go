package http

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// The import layering keeps connectors off the converters' package, so
// this is a small JSON writer of connect values, shaped as Kafka's
// JsonConverter with schemas.enable=false writes them: a Struct is an
// object by field names in schema order, a map with string keys an
// object (keys sorted, for stable bodies) and any other map an array of
// [key, value] pairs, bytes base64, Date, Time and Timestamp as days,
// milliseconds of the day and milliseconds since the epoch. One
// difference: a Decimal is a JSON number (JsonConverter's
// decimal.format=NUMERIC), which an HTTP API reads more easily than
// Kafka's default base64 of the unscaled bytes.

const millisPerDay = 24 * 60 * 60 * 1000

// maxDepth bounds nesting, so a self-referencing value fails instead of
// overflowing the stack.
const maxDepth = 100

// appendJSON writes v (of schema s, nil: schemaless) as JSON.
func appendJSON(b []byte, s *connect.Schema, v any) ([]byte, error) {
	return appendValue(b, s, v, 0)
}

func appendValue(b []byte, s *connect.Schema, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: value nested deeper than %d", connect.ErrData, maxDepth)
	}
	if v == nil && s != nil && s.Default != nil {
		v = s.Default // as JsonConverter's replace.null.with.default
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case string:
		return appendString(b, x), nil
	case []byte:
		return appendString(b, base64.StdEncoding.EncodeToString(x)), nil
	case *big.Rat:
		return appendDecimal(b, s, x), nil
	case time.Time:
		return appendTime(b, s, x), nil
	case []any:
		var elem *connect.Schema
		if s != nil {
			elem = s.ValueSchema
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, elem, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return appendMap(b, nil, m, depth)
	case map[any]any:
		return appendMap(b, s, x, depth)
	case *connect.Struct:
		b = append(b, '{')
		for i, f := range x.Schema.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.Name)
			b = append(b, ':')
			var fv any
			if i < len(x.Values) {
				fv = x.Values[i]
			}
			var err error
			if b, err = appendValue(b, f.Schema, fv, depth+1); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("%w: %T cannot be written as JSON", connect.ErrData, v)
}

func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v cannot be written as JSON", connect.ErrData, f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}

// appendDecimal writes r with the schema's scale, exactly; without a
// scale, with as many digits as a float64 holds.
func appendDecimal(b []byte, s *connect.Schema, r *big.Rat) []byte {
	if s != nil {
		if n, err := strconv.Atoi(s.Parameters[connect.DecimalScaleParameter]); err == nil && n >= 0 && n <= 1000 {
			return append(b, r.FloatString(n)...)
		}
	}
	if r.IsInt() {
		return append(b, r.Num().String()...)
	}
	f, _ := r.Float64()
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendTime(b []byte, s *connect.Schema, t time.Time) []byte {
	ms := t.UnixMilli()
	if s != nil {
		switch s.Name {
		case connect.DateName:
			return strconv.AppendInt(b, floorDiv(ms, millisPerDay), 10)
		case connect.TimeName:
			return strconv.AppendInt(b, ms-floorDiv(ms, millisPerDay)*millisPerDay, 10)
		}
	}
	return strconv.AppendInt(b, ms, 10)
}

func floorDiv(a, n int64) int64 {
	q := a / n
	if a%n != 0 && a < 0 {
		q--
	}
	return q
}

func appendMap(b []byte, s *connect.Schema, m map[any]any, depth int) ([]byte, error) {
	var ks, vs *connect.Schema
	object := true
	if s != nil {
		ks, vs = s.KeySchema, s.ValueSchema
	}
	for k := range m {
		if _, ok := k.(string); !ok {
			object = false
			break
		}
	}
	type entry struct {
		k   any
		key []byte
	}
	entries := make([]entry, 0, len(m))
	for k := range m {
		kb, err := appendValue(nil, ks, k, depth+1)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		entries = append(entries, entry{k, kb})
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(string(x.key), string(y.key)) })
	open, end := byte('{'), byte('}')
	if !object {
		open, end = '[', ']'
	}
	b = append(b, open)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if !object {
			b = append(b, '[')
		}
		b = append(b, e.key...)
		if object {
			b = append(b, ':')
		} else {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, vs, m[e.k], depth+1); err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		if !object {
			b = append(b, ']')
		}
	}
	return append(b, end), nil
}

// appendString writes s as a JSON string, leaving <, > and & alone (as
// Jackson does; encoding/json would escape them for HTML).
func appendString(b []byte, s string) []byte {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, strings.TrimSuffix(sb.String(), "\n")...)
}
