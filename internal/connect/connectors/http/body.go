package http

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/convert"
)

// newJSONWriter returns the converter that writes values the sink sends
// as JSON: Kafka's JsonConverter with schemas.enable=false (a Struct is an
// object by field names, a map with string keys an object and any other
// map an array of [key, value] pairs, bytes base64, Date, Time and
// Timestamp as numbers), with decimal.format=NUMERIC: an HTTP API reads a
// Decimal as a number more easily than as Kafka's default base64 of the
// unscaled bytes.
func newJSONWriter() (*convert.JSONConverter, error) {
	c := &convert.JSONConverter{}
	if err := c.Configure(map[string]string{convert.KeySchemasEnable: "false", convert.KeyDecimalFormat: convert.DecimalFormatNumeric}, false); err != nil {
		return nil, fmt.Errorf("http sink: the JSON writer: %w", err)
	}
	return c, nil
}

// appendJSON writes v (of schema s, nil: schemaless) as JSON.
func appendJSON(w *convert.JSONConverter, s *connect.Schema, v any) ([]byte, error) {
	return w.FromConnectData("", nil, s, v)
}

// Content types the connector sets when headers names none.
const (
	typeJSON  = "application/json"
	typeText  = "text/plain; charset=utf-8"
	typeBytes = "application/octet-stream"
)

// renderSingle returns a record's value as the whole body of its own request:
// a string or bytes as they are, anything else as JSON.
func renderSingle(w *convert.JSONConverter, rec connect.SinkRecord) (body []byte, contentType string, err error) {
	switch v := rec.Value.(type) {
	case string:
		if json.Valid([]byte(v)) {
			return []byte(v), typeJSON, nil
		}
		return []byte(v), typeText, nil
	case []byte:
		if json.Valid(v) {
			return v, typeJSON, nil
		}
		return v, typeBytes, nil
	}
	b, err := appendJSON(w, rec.ValueSchema, rec.Value)
	if err != nil {
		return nil, "", err
	}
	return b, typeJSON, nil
}

// renderElement returns a record's value as one element of a JSON array body.
// A string or bytes that is itself JSON (text a StringConverter carried)
// is embedded as it is, so an array of JSON documents stays one; other
// strings are quoted, other bytes base64 as JsonConverter writes them.
func renderElement(w *convert.JSONConverter, rec connect.SinkRecord) ([]byte, error) {
	switch v := rec.Value.(type) {
	case string:
		if json.Valid([]byte(v)) {
			return []byte(v), nil
		}
		return appendJSON(w, connect.StringSchema, v)
	case []byte:
		if json.Valid(v) {
			return v, nil
		}
		return appendJSON(w, connect.StringSchema, base64.StdEncoding.EncodeToString(v))
	}
	return appendJSON(w, rec.ValueSchema, rec.Value)
}

// arrayBody joins rendered elements into a JSON array.
func arrayBody(elems [][]byte) []byte {
	n := 2
	for _, e := range elems {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}
