package http

import (
	"encoding/base64"
	"encoding/json"

	"github.com/fjordstream/fjord/internal/connect"
)

// Content types the connector sets when headers names none.
const (
	typeJSON  = "application/json"
	typeText  = "text/plain; charset=utf-8"
	typeBytes = "application/octet-stream"
)

// renderSingle returns a record's value as the whole body of its own request:
// a string or bytes as they are, anything else as JSON.
func renderSingle(rec connect.SinkRecord) (body []byte, contentType string, err error) {
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
	b, err := appendJSON(nil, rec.ValueSchema, rec.Value)
	if err != nil {
		return nil, "", err
	}
	return b, typeJSON, nil
}

// renderElement returns a record's value as one element of a JSON array body.
// A string or bytes that is itself JSON (text a StringConverter carried)
// is embedded as it is, so an array of JSON documents stays one; other
// strings are quoted, other bytes base64 as JsonConverter writes them.
func renderElement(rec connect.SinkRecord) ([]byte, error) {
	switch v := rec.Value.(type) {
	case string:
		if json.Valid([]byte(v)) {
			return []byte(v), nil
		}
		return appendString(nil, v), nil
	case []byte:
		if json.Valid(v) {
			return v, nil
		}
		return appendString(nil, base64.StdEncoding.EncodeToString(v)), nil
	}
	return appendJSON(nil, rec.ValueSchema, rec.Value)
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
