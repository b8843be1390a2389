package file

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// javaDate is java.util.Date.toString's layout, in UTC here (Java uses the
// JVM's zone).
const javaDate = "Mon Jan 02 15:04:05 MST 2006"

// appendJava appends v as Java's String.valueOf would show the Kafka
// Connect value (Kafka's sink writes record.value() through println): null
// as "null", a Struct as Struct{a=1,b=x}, a list as [a, b], a map as
// {k=v, ...}, doubles as Double.toString. Two deliberate differences: bytes
// are written as they are (Java would print an array's identity, useless),
// and map entries are sorted by key (Java's HashMap order is arbitrary).
func appendJava(b []byte, schema *connect.Schema, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return append(b, x...)
	case []byte:
		return append(b, x...)
	case bool:
		return strconv.AppendBool(b, x)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float32:
		return appendJavaFloat(b, float64(x), 32)
	case float64:
		return appendJavaFloat(b, x, 64)
	case *big.Rat:
		return append(b, x.FloatString(decimalScale(schema))...)
	case time.Time:
		return x.UTC().AppendFormat(b, javaDate)
	case *connect.Struct:
		return appendStruct(b, x)
	case []any:
		var elem *connect.Schema
		if schema != nil {
			elem = schema.ValueSchema
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJava(b, elem, e)
		}
		return append(b, ']')
	case map[any]any:
		var ks, vs *connect.Schema
		if schema != nil {
			ks, vs = schema.KeySchema, schema.ValueSchema
		}
		type entry struct {
			k   []byte
			val any
		}
		entries := make([]entry, 0, len(x))
		for k, val := range x {
			entries = append(entries, entry{appendJava(nil, ks, k), val})
		}
		slices.SortFunc(entries, func(a, c entry) int { return strings.Compare(string(a.k), string(c.k)) })
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, e.k...)
			b = append(b, '=')
			b = appendJava(b, vs, e.val)
		}
		return append(b, '}')
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, k...)
			b = append(b, '=')
			b = appendJava(b, nil, x[k])
		}
		return append(b, '}')
	}
	return fmt.Append(b, v)
}

// appendStruct is Kafka's Struct.toString: the set fields as name=value,
// comma separated, unset (null) fields left out.
func appendStruct(b []byte, s *connect.Struct) []byte {
	b = append(b, "Struct{"...)
	first := true
	for i, f := range s.Schema.Fields {
		if i >= len(s.Values) || s.Values[i] == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.Name...)
		b = append(b, '=')
		b = appendJava(b, f.Schema, s.Values[i])
	}
	return append(b, '}')
}

// decimalScale is a Decimal schema's scale (0 when it has none).
func decimalScale(s *connect.Schema) int {
	if s == nil {
		return 0
	}
	n, err := strconv.Atoi(s.Parameters[connect.DecimalScaleParameter])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// appendJavaFloat is Java's Double.toString (Float.toString for bits 32):
// plain with at least one decimal between 10^-3 and 10^7, otherwise
// computerized scientific notation (1.0E7, 1.5E-4); the shortest digits
// that read back the same.
func appendJavaFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		start := len(b)
		b = strconv.AppendFloat(b, f, 'f', -1, bits)
		if !slices.Contains(b[start:], '.') {
			b = append(b, ".0"...)
		}
		return b
	}
	s := strconv.FormatFloat(f, 'e', -1, bits) // d.ddde±xx
	mant, exp, _ := strings.Cut(s, "e")
	b = append(b, mant...)
	if !strings.Contains(mant, ".") {
		b = append(b, ".0"...)
	}
	n, _ := strconv.Atoi(exp)
	b = append(b, 'E')
	return strconv.AppendInt(b, int64(n), 10)
}
