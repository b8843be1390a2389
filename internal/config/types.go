package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is a configuration value's type. The numeric values are Kafka's
// ConfigType codes as sent in DescribeConfigs responses (v3+), so a Type can
// go on the wire unchanged.
type Type int8

// Kafka's configuration types, numbered as Kafka's DescribeConfigs ConfigType.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// String returns the type's name as Kafka's documentation writes it.
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeShort:
		return "short"
	case TypeLong:
		return "long"
	case TypeDouble:
		return "double"
	case TypeList:
		return "list"
	case TypeClass:
		return "class"
	case TypePassword:
		return "password"
	default:
		return "unknown"
	}
}

// Scope says where a key may be set: in the broker's properties, as a
// per-topic override, or both (min.insync.replicas, compression.type,
// unclean.leader.election.enable).
type Scope uint8

// Scopes; they combine with |.
const (
	ScopeBroker Scope = 1 << iota
	ScopeTopic
)

// String names the scope for documentation.
func (s Scope) String() string {
	switch s {
	case ScopeBroker:
		return "broker"
	case ScopeTopic:
		return "topic"
	case ScopeBroker | ScopeTopic:
		return "broker,topic"
	default:
		return "none"
	}
}

// Importance is Kafka's rough ranking of how likely a key needs changing.
type Importance int8

// Importance levels, as in Kafka's ConfigDef.
const (
	High Importance = iota
	Medium
	Low
)

// String returns "high", "medium" or "low".
func (i Importance) String() string {
	switch i {
	case High:
		return "high"
	case Medium:
		return "medium"
	default:
		return "low"
	}
}

// Source says where a described value comes from. The numeric values are
// Kafka's DescribeConfigs ConfigSource codes.
type Source int8

// Kafka's ConfigSource codes. Fjord produces DynamicTopic, StaticBroker and
// Default; the others exist so callers can name Kafka's codes.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
)

// String returns Kafka's enum name for the source.
func (s Source) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	default:
		return "UNKNOWN"
	}
}

// Sentinel errors for errors.Is.
var (
	// ErrInvalidConfig marks an unknown key or a value that does not parse or
	// validate. The protocol layer maps it to Kafka's INVALID_CONFIG.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrUnknownKey marks a key the registry does not know (in the scope
	// asked). Errors that wrap it also wrap ErrInvalidConfig.
	ErrUnknownKey = errors.New("unknown config key")
	// ErrInvalidRequest marks a malformed alter request (duplicate keys, an
	// unknown operation); Kafka answers INVALID_REQUEST for these.
	ErrInvalidRequest = errors.New("invalid config request")
	// ErrSyntax marks a properties file that cannot be parsed.
	ErrSyntax = errors.New("properties syntax error")
)

// Error describes one rejected key or value. It wraps ErrInvalidConfig (and
// ErrUnknownKey when Unknown is set) for errors.Is.
type Error struct {
	Key     string
	Value   string // the value as given; not printed when Secret is set
	Reason  string // why the value is rejected, e.g. "not a long"
	Unknown bool   // the key itself is unknown in this scope
	Secret  bool   // the key is a password; never echo its value
}

// Error formats as `invalid value "abc" for log.segment.bytes: not an int`.
func (e *Error) Error() string {
	if e.Unknown {
		if e.Reason != "" {
			return fmt.Sprintf("unknown config %s: %s", e.Key, e.Reason)
		}
		return "unknown config " + e.Key
	}
	v := strconv.Quote(e.Value)
	if e.Secret {
		v = "[hidden]"
	}
	return fmt.Sprintf("invalid value %s for %s: %s", v, e.Key, e.Reason)
}

// Is reports whether target is ErrInvalidConfig, or ErrUnknownKey for an
// unknown key.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidConfig || (e.Unknown && target == ErrUnknownKey)
}

// trim strips surrounding white space, as Kafka's ConfigDef trims every value
// before parsing it (Java's String.trim; close enough for config values).
func trim(s string) string { return strings.TrimSpace(s) }

// parseTyped parses raw according to t, as Kafka's ConfigDef.parseType does
// (trimmed input, case-insensitive booleans, lists split on commas). The
// result is bool, int64 (int, short, long), float64, string or []string.
func parseTyped(t Type, raw string) (any, error) {
	s := trim(raw)
	switch t {
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errors.New("not a boolean (true or false)")
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, errors.New("not an int")
		}
		return n, nil
	case TypeShort:
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return nil, errors.New("not a short")
		}
		return n, nil
	case TypeLong:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("not a long")
		}
		return n, nil
	case TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("not a finite double")
		}
		return f, nil
	case TypeList:
		return splitList(s), nil
	case TypeString, TypeClass, TypePassword:
		return s, nil
	}
	return nil, fmt.Errorf("unsupported type %d", t)
}

// splitList splits a Kafka list value: comma separated, each item trimmed, an
// empty string giving an empty list. Empty items are kept (as Kafka does) so
// validators can reject them.
func splitList(s string) []string {
	s = trim(s)
	if s == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = trim(parts[i])
	}
	return parts
}

// msToDuration converts Kafka milliseconds to a Duration. Values beyond
// Duration's range (Kafka's Long.MAX_VALUE "never") saturate, keeping their
// sign, so "forever" stays a very large positive Duration.
func msToDuration(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return time.Duration(math.MaxInt64)
	case ms < -limit:
		return time.Duration(math.MinInt64)
	}
	return time.Duration(ms) * time.Millisecond
}
