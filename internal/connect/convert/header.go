package convert

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// Kafka's Values date formats (ISO 8601, UTC), as Go layouts.
const (
	isoDate      = "2006-01-02"
	isoTime      = "15:04:05.000Z"
	isoTimestamp = "2006-01-02T15:04:05.000Z"
)

// SimpleHeaderConverter is Kafka's
// org.apache.kafka.connect.storage.SimpleHeaderConverter, the default
// header.converter: a header value is written as text (strings as they
// are, numbers and booleans as Java prints them, lists as [a,b], maps as
// {k:v}) and read back by inferring the type from the text.
type SimpleHeaderConverter struct{}

// Config declares the converter's keys (none of its own).
func (*SimpleHeaderConverter) Config() connect.ConfigDef {
	return connect.ConfigDef{ConverterTypeConfig()}
}

// Configure does nothing: the converter has no settings.
func (*SimpleHeaderConverter) Configure(map[string]string) error { return nil }

// FromConnectHeader writes value as UTF-8 text; nil stays nil.
func (*SimpleHeaderConverter) FromConnectHeader(_, _ string, schema *connect.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	var sb strings.Builder
	appendText(&sb, schema, value, false)
	return []byte(sb.String()), nil
}

// ToConnectHeader reads text back, inferring its schema as Kafka's
// Values.parseString does: booleans, the smallest integer type that holds
// an integer, float64, ISO dates and times, [lists] and {maps}; anything
// else is a string.
func (*SimpleHeaderConverter) ToConnectHeader(_, _ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	s := string(data)
	if strings.TrimSpace(s) == "" {
		return connect.StringSchema, s, nil
	}
	p := &textParser{s: s}
	schema, v, ok := p.value(false)
	p.skipSpace()
	if !ok || p.i != len(p.s) {
		return connect.StringSchema, s, nil
	}
	return schema, v, nil
}

// appendText writes v as Kafka's Values.convertToString does; embedded
// strings (inside a list or map) are quoted.
func appendText(sb *strings.Builder, schema *connect.Schema, v any, embedded bool) {
	name := ""
	if schema != nil {
		name = schema.Name
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case string:
		if embedded {
			sb.WriteByte('"')
			sb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(x))
			sb.WriteByte('"')
		} else {
			sb.WriteString(x)
		}
	case int8:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int16:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case int:
		sb.WriteString(strconv.Itoa(x))
	case float32:
		sb.WriteString(javaDouble(float64(x), 32))
	case float64:
		sb.WriteString(javaDouble(x, 64))
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case []byte:
		sb.WriteString(base64.StdEncoding.EncodeToString(x))
	case time.Time:
		switch name {
		case connect.DateName:
			sb.WriteString(x.UTC().Format(isoDate))
		case connect.TimeName:
			sb.WriteString(x.UTC().Format(isoTime))
		default:
			sb.WriteString(x.UTC().Format(isoTimestamp))
		}
	case *big.Rat:
		if scale, err := decimalScale(schema); err == nil {
			if u, err := unscaledOf(x, scale); err == nil {
				sb.WriteString(plainDecimal(u, scale))
				return
			}
		}
		sb.WriteString(x.FloatString(decimalDigits(x)))
	case []any:
		var elem *connect.Schema
		if schema != nil {
			elem = schema.ValueSchema
		}
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteByte(',')
			}
			appendText(sb, elem, e, true)
		}
		sb.WriteByte(']')
	case map[any]any:
		var ks, vs *connect.Schema
		if schema != nil {
			ks, vs = schema.KeySchema, schema.ValueSchema
		}
		appendTextMap(sb, ks, vs, x)
	case map[string]any:
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		appendTextMap(sb, nil, nil, m)
	case *connect.Struct:
		// Kafka prints a Struct with its toString: the set fields only.
		sb.WriteString("Struct{")
		n := 0
		for i, f := range x.Schema.Fields {
			if i >= len(x.Values) || x.Values[i] == nil {
				continue
			}
			if n > 0 {
				sb.WriteByte(',')
			}
			n++
			sb.WriteString(f.Name)
			sb.WriteByte('=')
			appendText(sb, f.Schema, x.Values[i], false)
		}
		sb.WriteByte('}')
	default:
		fmt.Fprint(sb, x)
	}
}

func appendTextMap(sb *strings.Builder, ks, vs *connect.Schema, m map[any]any) {
	type kv struct {
		text string
		k    any
	}
	entries := make([]kv, 0, len(m))
	for k := range m {
		var b strings.Builder
		appendText(&b, ks, k, true)
		entries = append(entries, kv{b.String(), k})
	}
	// Sorted so a header's text does not change between runs.
	slices.SortFunc(entries, func(a, b kv) int { return strings.Compare(a.text, b.text) })
	sb.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(e.text)
		sb.WriteByte(':')
		appendText(sb, vs, m[e.k], true)
	}
	sb.WriteByte('}')
}

// decimalDigits is how many fractional digits print r exactly (when its
// denominator is a product of 2s and 5s), else 20.
func decimalDigits(r *big.Rat) int {
	ten := big.NewInt(10)
	for n := 0; n < 20; n++ {
		p := new(big.Int).Exp(ten, big.NewInt(int64(n)), nil)
		if new(big.Int).Mod(p, r.Denom()).Sign() == 0 {
			return n
		}
	}
	return 20
}

// javaDouble prints f as Java's Double.toString (Float.toString for 32
// bits) does: plain between 10^-3 and 10^7, else d.dddE±n, always with a
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
	a := math.Abs(f)
	if a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, bits)
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}
