package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/fjordstream/fjord/internal/connect"
)

// KeyConverterEncoding is StringConverter's character set key.
const KeyConverterEncoding = "converter.encoding"

// StringConverter is Kafka's org.apache.kafka.connect.storage.StringConverter:
// a value's text in converter.encoding (UTF-8, or ISO-8859-1), read back
// as an optional string.
type StringConverter struct{ latin1 bool }

// Config declares StringConverter's keys.
func (c *StringConverter) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyConverterEncoding, Type: connect.ConfigString, Default: "UTF-8", Importance: connect.High, Group: "Converter", Width: "MEDIUM", DisplayName: "Encoding",
			Doc: "The name of the Java character set to use for encoding strings as byte arrays."},
		ConverterTypeConfig(),
	}
}

// Configure reads converter.encoding.
func (c *StringConverter) Configure(props map[string]string, _ bool) error {
	enc := strings.ToUpper(strings.TrimSpace(props[KeyConverterEncoding]))
	switch enc {
	case "", "UTF8", "UTF-8":
		c.latin1 = false
	case "ISO-8859-1", "ISO8859_1", "LATIN1":
		c.latin1 = true
	default:
		return fmt.Errorf("StringConverter: Invalid value %s for configuration %s: unsupported encoding (UTF-8 and ISO-8859-1 are)", props[KeyConverterEncoding], KeyConverterEncoding)
	}
	return nil
}

// FromConnectData writes the value's text (strings as they are, anything
// else as Java's toString would print it); nil stays nil.
func (c *StringConverter) FromConnectData(_ string, _ []connect.Header, _ *connect.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	s := toJavaString(value)
	if !c.latin1 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?' // Java's encoder replaces unmappable characters so
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// ToConnectData reads the bytes as an optional string (nil: a null value).
func (c *StringConverter) ToConnectData(_ string, _ []connect.Header, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return connect.OptionalStringSchema, nil, nil
	}
	if !c.latin1 {
		return connect.OptionalStringSchema, string(data), nil
	}
	var sb strings.Builder
	for _, b := range data {
		sb.WriteRune(rune(b))
	}
	return connect.OptionalStringSchema, sb.String(), nil
}

// ByteArrayConverter is Kafka's
// org.apache.kafka.connect.converters.ByteArrayConverter: bytes passed
// through as they are.
type ByteArrayConverter struct{}

// Config declares ByteArrayConverter's keys.
func (*ByteArrayConverter) Config() connect.ConfigDef {
	return connect.ConfigDef{ConverterTypeConfig()}
}

// Configure does nothing: the converter has no settings.
func (*ByteArrayConverter) Configure(map[string]string, bool) error { return nil }

// FromConnectData returns the value's bytes; the schema, if any, must be
// bytes.
func (*ByteArrayConverter) FromConnectData(_ string, _ []connect.Header, schema *connect.Schema, value any) ([]byte, error) {
	if schema != nil && schema.Type != connect.TypeBytes {
		return nil, fmt.Errorf("%w: Invalid schema type for ByteArrayConverter: %s", connect.ErrData, strings.ToUpper(string(schema.Type)))
	}
	if value == nil {
		return nil, nil
	}
	b, ok := value.([]byte)
	if !ok {
		return nil, fmt.Errorf("%w: ByteArrayConverter is not compatible with objects of type %T", connect.ErrData, value)
	}
	return b, nil
}

// ToConnectData returns the bytes with the optional bytes schema.
func (*ByteArrayConverter) ToConnectData(_ string, _ []connect.Header, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return connect.OptionalBytesSchema, nil, nil
	}
	return connect.OptionalBytesSchema, data, nil
}

// NumberConverter is Kafka's LongConverter, IntegerConverter and
// DoubleConverter: one number in the big-endian form of Kafka's
// LongSerializer, IntegerSerializer and DoubleSerializer.
type NumberConverter struct{ kind connect.Type }

// NewNumberConverter returns the converter of numbers of kind: int64
// (LongConverter), int32 (IntegerConverter) or float64 (DoubleConverter).
func NewNumberConverter(kind connect.Type) *NumberConverter { return &NumberConverter{kind: kind} }

// Config declares the converter's keys.
func (*NumberConverter) Config() connect.ConfigDef { return connect.ConfigDef{ConverterTypeConfig()} }

// Configure does nothing: the converter has no settings.
func (*NumberConverter) Configure(map[string]string, bool) error { return nil }

func (c *NumberConverter) javaName() string {
	switch c.kind {
	case connect.TypeInt32:
		return "Integer"
	case connect.TypeFloat64:
		return "Double"
	}
	return "Long"
}

func (c *NumberConverter) schema() *connect.Schema {
	switch c.kind {
	case connect.TypeInt32:
		return connect.OptionalInt32Schema
	case connect.TypeFloat64:
		return connect.OptionalFloat64Schema
	}
	return connect.OptionalInt64Schema
}

// FromConnectData writes the number big-endian; nil stays nil.
func (c *NumberConverter) FromConnectData(_ string, _ []connect.Header, _ *connect.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	switch x := value.(type) {
	case int64:
		if c.kind == connect.TypeInt64 {
			return binary.BigEndian.AppendUint64(nil, uint64(x)), nil
		}
	case int32:
		if c.kind == connect.TypeInt32 {
			return binary.BigEndian.AppendUint32(nil, uint32(x)), nil
		}
	case float64:
		if c.kind == connect.TypeFloat64 {
			return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), nil
		}
	}
	return nil, fmt.Errorf("%w: Failed to serialize to a %s: value of Go type %T", connect.ErrData, strings.ToUpper(c.javaName()), value)
}

// ToConnectData reads a big-endian number of the converter's size.
func (c *NumberConverter) ToConnectData(_ string, _ []connect.Header, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return c.schema(), nil, nil
	}
	want := 8
	if c.kind == connect.TypeInt32 {
		want = 4
	}
	if len(data) != want {
		return nil, nil, fmt.Errorf("%w: Failed to deserialize %s: Size of data received by %sDeserializer is not %d", connect.ErrData, strings.ToUpper(c.javaName()), c.javaName(), want)
	}
	switch c.kind {
	case connect.TypeInt32:
		return c.schema(), int32(binary.BigEndian.Uint32(data)), nil
	case connect.TypeFloat64:
		return c.schema(), math.Float64frombits(binary.BigEndian.Uint64(data)), nil
	}
	return c.schema(), int64(binary.BigEndian.Uint64(data)), nil
}

// toJavaString prints a value roughly as Java's toString would: strings
// as they are, numbers in Java's forms, other values through the header
// converter's text form.
func toJavaString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var sb strings.Builder
	appendText(&sb, nil, v, false)
	if !utf8.ValidString(sb.String()) {
		return strings.ToValidUTF8(sb.String(), "\uFFFD")
	}
	return sb.String()
}

// HeaderConverterOf returns a header converter backed by c, for
// header.converter naming a converter class: Kafka's JsonConverter,
// StringConverter, ByteArrayConverter and number converters are header
// converters too, and writing a header is writing its value.
func HeaderConverterOf(c connect.Converter) connect.HeaderConverter { return converterHeaders{c} }

type converterHeaders struct{ c connect.Converter }

func (h converterHeaders) Configure(props map[string]string) error {
	return h.c.Configure(props, false)
}

func (h converterHeaders) FromConnectHeader(topic, _ string, schema *connect.Schema, value any) ([]byte, error) {
	return h.c.FromConnectData(topic, nil, schema, value)
}

func (h converterHeaders) ToConnectHeader(topic, _ string, data []byte) (*connect.Schema, any, error) {
	return h.c.ToConnectData(topic, nil, data)
}
