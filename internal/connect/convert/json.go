package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// JsonConverter's configuration keys (Kafka's JsonConverterConfig and
// ConverterConfig).
const (
	KeySchemasEnable           = "schemas.enable"
	KeySchemasCacheSize        = "schemas.cache.size"
	KeyDecimalFormat           = "decimal.format"
	KeyReplaceNullWithDefault  = "replace.null.with.default"
	KeyConverterType           = "converter.type"
	DecimalFormatBase64        = "BASE64"
	DecimalFormatNumeric       = "NUMERIC"
	errEnvelopeText            = `JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`
	envelopeSchema, envPayload = "schema", "payload"
)

// ErrEnvelope is returned by ToConnectData when schemas.enable is true and
// the message is not a {"schema":...,"payload":...} envelope; its text is
// Kafka's.
var ErrEnvelope = errors.New(errEnvelopeText)

// ConverterTypeConfig is Kafka's ConverterConfig: converter.type, which
// Configure sets from isKey.
func ConverterTypeConfig() connect.ConfigKey {
	return connect.ConfigKey{Name: KeyConverterType, Type: connect.ConfigString, NullDefault: true, Importance: connect.Low,
		Doc:         "How this converter will be used.",
		Recommended: []string{"key", "value", "header"}, Validator: connect.OneOf("key", "value", "header")}
}

// JSONConverter is Kafka's org.apache.kafka.connect.json.JsonConverter:
// JSON with, when schemas.enable is true, the schema beside the payload
// in an envelope. Call Configure before use; a configured converter is
// safe for concurrent use (an unconfigured one configures itself with
// Kafka's defaults on first use, which is not).
type JSONConverter struct {
	schemasEnable   bool
	decimalNumeric  bool
	replaceNullDflt bool
	isKey           bool
	configured      bool
}

// Config declares JsonConverter's keys with Kafka's defaults.
func (c *JSONConverter) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeySchemasEnable, Type: connect.ConfigBoolean, Default: "true", Importance: connect.High, Group: "Schemas", OrderInGroup: 0, Width: "MEDIUM", DisplayName: "Enable Schemas",
			Doc: "Include schemas within each of the serialized values and keys."},
		{Name: KeySchemasCacheSize, Type: connect.ConfigInt, Default: "1000", Importance: connect.High, Group: "Schemas", OrderInGroup: 1, Width: "MEDIUM", DisplayName: "Schema Cache Size",
			Doc: "The maximum number of schemas that can be cached in this converter instance."},
		{Name: KeyDecimalFormat, Type: connect.ConfigString, Default: DecimalFormatBase64, Importance: connect.Low, Group: "Serialization", OrderInGroup: 0, Width: "MEDIUM", DisplayName: "Decimal Format",
			Doc:         "Controls which format this converter will serialize decimals in. This value is case insensitive and can be either 'BASE64' (default) or 'NUMERIC'",
			Recommended: []string{DecimalFormatBase64, DecimalFormatNumeric}, Validator: connect.OneOf(DecimalFormatBase64, DecimalFormatNumeric)},
		{Name: KeyReplaceNullWithDefault, Type: connect.ConfigBoolean, Default: "true", Importance: connect.Low, Group: "Serialization", OrderInGroup: 1, Width: "MEDIUM", DisplayName: "Replace null with default",
			Doc: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used."},
		ConverterTypeConfig(),
	}
}

// Configure reads the converter's keys; isKey sets converter.type as
// Kafka's Converter.configure does.
func (c *JSONConverter) Configure(props map[string]string, isKey bool) error {
	p := make(map[string]string, len(props)+1)
	for k, v := range props {
		p[k] = v
	}
	if isKey {
		p[KeyConverterType] = "key"
	} else {
		p[KeyConverterType] = "value"
	}
	parsed, err := c.Config().Parse(p)
	if err != nil {
		return fmt.Errorf("JsonConverter: %w", err)
	}
	c.schemasEnable = parsed.Bool(KeySchemasEnable)
	c.decimalNumeric = strings.EqualFold(parsed.String(KeyDecimalFormat), DecimalFormatNumeric)
	c.replaceNullDflt = parsed.Bool(KeyReplaceNullWithDefault)
	c.isKey = isKey
	c.configured = true
	return nil
}

func (c *JSONConverter) ensureConfigured() {
	if !c.configured {
		// An unconfigured converter behaves as Kafka's defaults, so a
		// forgotten Configure is not a silent format change.
		_ = c.Configure(nil, false)
	}
}

// FromConnectData writes value (of schema, nil: schemaless) as JSON, in
// the envelope when schemas.enable is true. A nil schema with a nil value
// is a tombstone: nil bytes.
func (c *JSONConverter) FromConnectData(topic string, _ []connect.Header, schema *connect.Schema, value any) ([]byte, error) {
	c.ensureConfigured()
	if schema == nil && value == nil {
		return nil, nil
	}
	var out []byte
	var err error
	if c.schemasEnable {
		out = append(out, `{"schema":`...)
		if schema == nil {
			out = append(out, "null"...)
		} else if out, err = c.appendSchema(out, schema); err != nil {
			return nil, fmt.Errorf("converting topic %s to JSON: %w", topic, err)
		}
		out = append(out, `,"payload":`...)
	}
	if out, err = c.appendValue(out, schema, value); err != nil {
		return nil, fmt.Errorf("converting topic %s to JSON: %w", topic, err)
	}
	if c.schemasEnable {
		out = append(out, '}')
	}
	return out, nil
}

// ToConnectData reads JSON bytes (nil or empty: a tombstone) into a schema
// and a value.
func (c *JSONConverter) ToConnectData(topic string, _ []connect.Header, data []byte) (*connect.Schema, any, error) {
	c.ensureConfigured()
	if len(data) == 0 {
		return nil, nil, nil
	}
	tree, err := parseJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error of topic %s: %w", topic, err)
	}
	var schemaNode, payload any
	if c.schemasEnable {
		obj, ok := tree.(map[string]any)
		_, hasSchema := obj[envelopeSchema]
		_, hasPayload := obj[envPayload]
		if !ok || len(obj) != 2 || !hasSchema || !hasPayload {
			return nil, nil, fmt.Errorf("topic %s: %w", topic, ErrEnvelope)
		}
		schemaNode, payload = obj[envelopeSchema], obj[envPayload]
	} else {
		payload = tree
	}
	schema, err := c.parseSchema(schemaNode, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	value, err := c.toConnect(schema, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	return schema, value, nil
}

// parseJSON reads exactly one JSON value, numbers kept as their text so
// integers and decimals are told apart as Jackson does.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}
