package connect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ConfigType is a configuration key's type, Kafka's ConfigDef.Type.
type ConfigType string

// Kafka's config types, as the REST API names them.
const (
	ConfigBoolean  ConfigType = "BOOLEAN"
	ConfigString   ConfigType = "STRING"
	ConfigInt      ConfigType = "INT"
	ConfigShort    ConfigType = "SHORT"
	ConfigLong     ConfigType = "LONG"
	ConfigDouble   ConfigType = "DOUBLE"
	ConfigList     ConfigType = "LIST"
	ConfigClass    ConfigType = "CLASS"
	ConfigPassword ConfigType = "PASSWORD"
)

// Importance is a key's importance, Kafka's ConfigDef.Importance.
type Importance string

// Kafka's importance levels.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// NoDefault marks a key as required (Kafka's ConfigDef.NO_DEFAULT_VALUE).
const NoDefault = "\x00required"

// ConfigKey declares one configuration key.
type ConfigKey struct {
	Name string
	Type ConfigType
	// Default is the default as the user would write it; NoDefault makes
	// the key required; "" with HasNullDefault false is an empty
	// default.
	Default    string
	Importance Importance
	Doc        string
	// Group, OrderInGroup, Width, DisplayName and Dependents are the UI
	// hints Kafka's validate endpoint returns.
	Group        string
	OrderInGroup int
	Width        string
	DisplayName  string
	Dependents   []string
	// NullDefault: the default is null (shown as null, not "").
	NullDefault bool
	// Validator, when set, checks a parsed value; its error text is the
	// key's validation message.
	Validator func(value any) error
	// Recommended lists the values the validate endpoint recommends.
	Recommended []string
}

// Required reports whether the key has no default.
func (k ConfigKey) Required() bool { return k.Default == NoDefault }

// ConfigDef is a connector's, transform's or predicate's declared keys.
type ConfigDef []ConfigKey

// Key returns the declaration of name, or nil.
func (d ConfigDef) Key(name string) *ConfigKey {
	for i := range d {
		if d[i].Name == name {
			return &d[i]
		}
	}
	return nil
}

// Merge returns d followed by the keys of others it does not declare.
func (d ConfigDef) Merge(others ...ConfigDef) ConfigDef {
	out := slices.Clone(d)
	for _, o := range others {
		for _, k := range o {
			if out.Key(k.Name) == nil {
				out = append(out, k)
			}
		}
	}
	return out
}

// ConfigValue is one key's validation result, the REST API's
// ConfigValueInfo: the value given, recommended values, and what is wrong.
type ConfigValue struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// Validate checks props against the declared keys (required keys present,
// values parse as their type, validators pass) and returns one result per
// declared key, in declaration order, as Kafka's ConfigDef.validate does.
func (d ConfigDef) Validate(props map[string]string) []ConfigValue {
	out := make([]ConfigValue, 0, len(d))
	for _, k := range d {
		cv := ConfigValue{Name: k.Name, RecommendedValues: nonNilStrings(k.Recommended), Errors: []string{}, Visible: true}
		raw, set := props[k.Name]
		switch {
		case set:
			v := raw
			if k.Type == ConfigPassword {
				v = "[hidden]"
			}
			cv.Value = &v
		case !k.Required() && !k.NullDefault:
			v := k.Default
			cv.Value = &v
		}
		if _, err := k.Parse(props); err != nil {
			cv.Errors = append(cv.Errors, err.Error())
		}
		out = append(out, cv)
	}
	return out
}

// ErrorCount returns how many errors results hold.
func ErrorCount(results []ConfigValue) int {
	n := 0
	for _, r := range results {
		n += len(r.Errors)
	}
	return n
}

// Parse returns the key's value in props (its default when absent) as
// the Go type of its config type: bool, string, int32 (INT), int16
// (SHORT), int64 (LONG), float64 (DOUBLE), []string (LIST), or nil (a null
// default). Error texts are Kafka's.
func (k ConfigKey) Parse(props map[string]string) (any, error) {
	raw, set := props[k.Name]
	if !set {
		if k.Required() {
			return nil, fmt.Errorf("Missing required configuration %q which has no default value.", k.Name)
		}
		if k.NullDefault {
			return nil, nil
		}
		raw = k.Default
	}
	v, err := parseValue(k.Type, strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("Invalid value %s for configuration %s: %v", raw, k.Name, err)
	}
	if k.Validator != nil {
		if err := k.Validator(v); err != nil {
			return nil, fmt.Errorf("Invalid value %s for configuration %s: %v", raw, k.Name, err)
		}
	}
	return v, nil
}

func parseValue(t ConfigType, s string) (any, error) {
	switch t {
	case ConfigBoolean:
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("Expected value to be either true or false")
	case ConfigInt:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type INT")
		}
		return int32(n), nil
	case ConfigShort:
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type SHORT")
		}
		return int16(n), nil
	case ConfigLong:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type LONG")
		}
		return n, nil
	case ConfigDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type DOUBLE")
		}
		return f, nil
	case ConfigList:
		if s == "" {
			return []string{}, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	case ConfigString, ConfigClass, ConfigPassword:
		return s, nil
	}
	return nil, fmt.Errorf("unknown config type %s", t)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Props reads a configuration through its declaration: each getter
// returns the parsed value or the default. Build it with Parse.
type Props struct {
	def    ConfigDef
	values map[string]any
	raw    map[string]string
}

// Parse validates props against d and returns them parsed, or the first
// error (use Validate for every error).
func (d ConfigDef) Parse(props map[string]string) (*Props, error) {
	p := &Props{def: d, values: map[string]any{}, raw: props}
	for _, k := range d {
		v, err := k.Parse(props)
		if err != nil {
			return nil, err
		}
		p.values[k.Name] = v
	}
	return p, nil
}

// String returns a STRING, CLASS or PASSWORD key ("" when null).
func (p *Props) String(name string) string { s, _ := p.values[name].(string); return s }

// Bool returns a BOOLEAN key.
func (p *Props) Bool(name string) bool { b, _ := p.values[name].(bool); return b }

// Int returns an INT, SHORT or LONG key as an int64.
func (p *Props) Int(name string) int64 {
	switch v := p.values[name].(type) {
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

// Float returns a DOUBLE key.
func (p *Props) Float(name string) float64 { f, _ := p.values[name].(float64); return f }

// List returns a LIST key.
func (p *Props) List(name string) []string { l, _ := p.values[name].([]string); return l }

// IsSet reports whether the user gave the key (not its default).
func (p *Props) IsSet(name string) bool { _, ok := p.raw[name]; return ok }

// Raw returns the configuration as given.
func (p *Props) Raw() map[string]string { return p.raw }
