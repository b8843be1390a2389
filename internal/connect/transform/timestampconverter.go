package transform

import (
	"fmt"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// TimestampConverter is Kafka's TimestampConverter$Key and $Value: it
// converts a timestamp (the whole key or value, or one field) between
// strings in a SimpleDateFormat pattern, Unix epoch numbers
// (unix.precision), and the Date, Time and Timestamp logical types, in
// UTC.
type TimestampConverter struct {
	side        side
	field       string
	target      string
	format      []dateToken
	layout      string // Go layout parsing format; "" when format is empty
	precision   string
	replaceNull bool
	cache       schemaCache
}

const tsPurpose = "converting timestamp formats"

var tsTargets = []string{"string", "unix", "Date", "Time", "Timestamp"}

// Config declares TimestampConverter's keys.
func (*TimestampConverter) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "field", Type: connect.ConfigString, Default: "", Importance: connect.High,
			Doc: "The field containing the timestamp, or empty if the entire value is a timestamp"},
		{Name: "target.type", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Recommended: tsTargets,
			Validator: func(v any) error {
				for _, t := range tsTargets {
					if v.(string) == t {
						return nil
					}
				}
				return fmt.Errorf("String must be one of: %s", strings.Join(tsTargets, ", "))
			},
			Doc: "The desired timestamp representation: string, unix, Date, Time, or Timestamp"},
		{Name: "format", Type: connect.ConfigString, Default: "", Importance: connect.Medium,
			Doc: "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string."},
		{Name: "unix.precision", Type: connect.ConfigString, Default: "milliseconds", Importance: connect.Low,
			Recommended: []string{"nanoseconds", "microseconds", "milliseconds", "seconds"},
			Validator:   connect.OneOf("nanoseconds", "microseconds", "milliseconds", "seconds"),
			Doc:         "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used to generate the output when type=unix or used to parse the input if the input is a Long."},
		replaceNullConfig(),
	}
}

// Configure reads and checks the keys.
func (t *TimestampConverter) Configure(props map[string]string) error {
	name := "TimestampConverter" + t.side.suffix()
	p, err := parse(name, t.Config(), props)
	if err != nil {
		return err
	}
	t.field, t.target, t.precision = p.String("field"), p.String("target.type"), strings.ToLower(p.String("unix.precision"))
	t.replaceNull, t.cache, t.format, t.layout = p.Bool("replace.null.with.default"), schemaCache{}, nil, ""
	pattern := p.String("format")
	if t.target == "string" && strings.TrimSpace(pattern) == "" {
		return fmt.Errorf("%s: TimestampConverter requires format option to be specified when using string timestamps", name)
	}
	if pattern != "" {
		if t.format, err = parseDateFormat(pattern); err != nil {
			return fmt.Errorf("%s: TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: %s: %w", name, pattern, err)
		}
		// Parsing strings needs a Go layout; patterns Go cannot parse
		// still format, so the error waits for a string input.
		t.layout, _ = goLayout(t.format)
	}
	return nil
}

// Apply converts the timestamp; tombstones pass through.
func (t *TimestampConverter) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if t.field == "" {
		var ns *connect.Schema
		if schema != nil {
			var err error
			if ns, err = t.cache.get(schema, func() (*connect.Schema, error) { return t.targetSchema(schema) }); err != nil {
				return r, false, err
			}
		}
		v, err := t.convert(schema, value)
		if err != nil {
			return r, false, err
		}
		return t.side.set(r, ns, v), true, nil
	}
	if schema == nil {
		m, err := requireMap(value, tsPurpose)
		if err != nil {
			return r, false, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		if v := m[t.field]; v != nil {
			if out[t.field], err = t.convert(nil, v); err != nil {
				return r, false, err
			}
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, tsPurpose)
	if err != nil {
		return r, false, err
	}
	ns, err := t.cache.get(st.Schema, func() (*connect.Schema, error) {
		s := structBasics(st.Schema)
		s.Optional = st.Schema.Optional
		for _, f := range st.Schema.Fields {
			fs := f.Schema
			if f.Name == t.field {
				var err error
				if fs, err = t.targetSchema(fs); err != nil {
					return nil, err
				}
			}
			s.Fields = append(s.Fields, connect.Field{Name: f.Name, Index: f.Index, Schema: fs})
		}
		return s, nil
	})
	if err != nil {
		return r, false, err
	}
	out := connect.NewStruct(ns)
	for i, f := range st.Schema.Fields {
		v := fieldValue(st, f, t.replaceNull)
		if f.Name == t.field && v != nil {
			if v, err = t.convert(f.Schema, v); err != nil {
				return r, false, err
			}
		}
		out.Values[i] = v
	}
	return t.side.set(r, ns, out), true, nil
}

func (t *TimestampConverter) targetSchema(in *connect.Schema) (*connect.Schema, error) {
	if _, err := inputKind(in, nil); err != nil {
		return nil, err
	}
	var s *connect.Schema
	switch t.target {
	case "string":
		s = &connect.Schema{Type: connect.TypeString}
	case "unix":
		s = &connect.Schema{Type: connect.TypeInt64}
	case "Date":
		s = connect.DateSchema()
	case "Time":
		s = connect.TimeSchema()
	default:
		s = connect.TimestampSchema()
	}
	s.Optional = in.Optional
	return s, nil
}

// inputKind names what a timestamp is: by its schema when it has one,
// else by its Go type.
func inputKind(s *connect.Schema, v any) (string, error) {
	if s != nil {
		switch {
		case s.Name == connect.TimestampName || s.Name == connect.DateName || s.Name == connect.TimeName:
			return s.Name[strings.LastIndex(s.Name, ".")+1:], nil
		case s.Type == connect.TypeString:
			return "string", nil
		case s.Type == connect.TypeInt64:
			return "unix", nil
		}
		return "", fmt.Errorf("%w: Schema %s does not correspond to a known timestamp type format", connect.ErrData, s.Type)
	}
	switch v.(type) {
	case time.Time:
		return "Timestamp", nil
	case int64:
		return "unix", nil
	case string:
		return "string", nil
	}
	return "", fmt.Errorf("%w: TimestampConverter does not support %T objects as timestamps", connect.ErrData, v)
}

func (t *TimestampConverter) convert(s *connect.Schema, v any) (any, error) {
	kind, err := inputKind(s, v)
	if err != nil {
		return nil, err
	}
	var ts time.Time
	switch kind {
	case "string":
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: Expected string timestamp to be a String, but found %T", connect.ErrData, v)
		}
		if t.layout == "" {
			return nil, fmt.Errorf("%w: TimestampConverter cannot parse strings with this format (Fjord parses the letters y M d H h m s S a E z Z X and quoted text)", connect.ErrData)
		}
		if ts, err = time.Parse(t.layout, str); err != nil {
			return nil, fmt.Errorf("%w: Could not parse timestamp: value (%s) does not match pattern: %v", connect.ErrData, str, err)
		}
	case "unix":
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("%w: Expected Unix timestamp to be a Long, but found %T", connect.ErrData, v)
		}
		switch t.precision {
		case "seconds":
			ts = time.Unix(n, 0)
		case "microseconds":
			ts = time.UnixMicro(n)
		case "nanoseconds":
			ts = time.Unix(0, n)
		default:
			ts = time.UnixMilli(n)
		}
	default:
		var ok bool
		if ts, ok = v.(time.Time); !ok {
			return nil, fmt.Errorf("%w: Expected %s to be a time.Time, but found %T", connect.ErrData, kind, v)
		}
	}
	ts = ts.UTC()
	switch t.target {
	case "string":
		return formatDate(t.format, ts), nil
	case "unix":
		switch t.precision {
		case "seconds":
			return ts.Unix(), nil
		case "microseconds":
			return ts.UnixMicro(), nil
		case "nanoseconds":
			return ts.UnixNano(), nil
		}
		return ts.UnixMilli(), nil
	case "Date":
		return time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC), nil
	case "Time":
		return time.Date(1970, 1, 1, ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond()/1e6*1e6, time.UTC), nil
	}
	return ts, nil
}

// goLayout translates a SimpleDateFormat pattern into a Go layout for
// parsing, or fails when Go cannot express it (literal text that Go would
// read as a layout element, letters Go has no equivalent for).
func goLayout(tokens []dateToken) (string, error) {
	var sb strings.Builder
	for i, tk := range tokens {
		if tk.letter == 0 {
			lit := tk.literal
			if i+1 < len(tokens) && tokens[i+1].letter == 'S' && (strings.HasSuffix(lit, ".") || strings.HasSuffix(lit, ",")) {
				lit = lit[:len(lit)-1] // Go's fraction element carries its separator
			}
			if strings.ContainsAny(lit, "0123456789") || containsAny(lit, "Jan", "Mon", "MST", "PM", "pm", "_") {
				return "", fmt.Errorf("literal %q", tk.literal)
			}
			sb.WriteString(lit)
			continue
		}
		var el string
		switch n := tk.count; tk.letter {
		case 'y':
			el = map[bool]string{true: "06", false: "2006"}[n == 2]
		case 'M':
			el = [...]string{"1", "01", "Jan", "January"}[min(n, 4)-1]
		case 'd':
			el = map[bool]string{true: "2", false: "02"}[n == 1]
		case 'H':
			el = "15"
		case 'h':
			el = map[bool]string{true: "3", false: "03"}[n == 1]
		case 'm':
			el = map[bool]string{true: "4", false: "04"}[n == 1]
		case 's':
			el = map[bool]string{true: "5", false: "05"}[n == 1]
		case 'S':
			if i == 0 || tokens[i-1].letter != 0 || !(strings.HasSuffix(tokens[i-1].literal, ".") || strings.HasSuffix(tokens[i-1].literal, ",")) {
				return "", fmt.Errorf("S without a preceding '.'")
			}
			sep := tokens[i-1].literal[len(tokens[i-1].literal)-1:]
			el = sep + strings.Repeat("0", n)
		case 'a':
			el = "PM"
		case 'E':
			el = map[bool]string{true: "Monday", false: "Mon"}[n >= 4]
		case 'z':
			el = "MST"
		case 'Z':
			el = "-0700"
		case 'X':
			el = [...]string{"Z07", "Z0700", "Z07:00"}[min(n, 3)-1]
		default:
			return "", fmt.Errorf("letter %c", tk.letter)
		}
		sb.WriteString(el)
	}
	return sb.String(), nil
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// NewTimestampConverter returns an unconfigured TimestampConverter$Key or
// $Value.
func NewTimestampConverter(key bool) *TimestampConverter { return &TimestampConverter{side: side(key)} }
