package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// ErrorMessage is Kafka Connect's error body (its ErrorMessage entity):
// every non-2xx answer carries one, so scripts can read error_code and
// message whatever went wrong.
type ErrorMessage struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// Message is the body of the offsets endpoints' answers (Kafka's Message
// entity).
type Message struct {
	Message string `json:"message"`
}

// Kafka Connect's messages for the conditions the REST layer itself
// detects; scripts match on some of them, so they are kept word for word.
const (
	msgStaleConfig = "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)"
	msgNoLeader    = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
	msgTwoHops     = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
	msgTimedOut    = "Request timed out"
)

// httpError is an error the REST layer raises with its status, like
// Kafka's ConnectRestException.
type httpError struct {
	status int
	msg    string
}

// Error is the message the answer carries.
func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// errorStatus maps an error to Kafka Connect's status code and message.
// The herder's sentinel prefixes ("not found: ") are stripped because
// Kafka's messages carry only the detail ("Connector x not found").
func errorStatus(err error) (int, string) {
	for {
		var oe *opError
		if !errors.As(err, &oe) {
			break
		}
		err = oe.err
	}
	var he *httpError
	var bad *connect.BadConfigError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.Error()
	case errors.Is(err, connect.ErrNotFound):
		return http.StatusNotFound, detail(err, connect.ErrNotFound)
	case errors.Is(err, connect.ErrRebalancing):
		if err == connect.ErrRebalancing {
			return http.StatusConflict, msgStaleConfig
		}
		return http.StatusConflict, detail(err, connect.ErrRebalancing)
	case errors.Is(err, connect.ErrConflict):
		return http.StatusConflict, detail(err, connect.ErrConflict)
	case errors.Is(err, connect.ErrBadRequest):
		return http.StatusBadRequest, detail(err, connect.ErrBadRequest)
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusInternalServerError, msgTimedOut
	}
	return http.StatusInternalServerError, err.Error()
}

// detail strips a sentinel's "text: " prefix from err's message.
func detail(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
		return rest
	}
	return msg
}

// writeJSON writes v with status; encoding into a buffer first lets an
// encoding failure still become a proper 500 instead of a torn body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(ErrorMessage{ErrorCode: status, Message: fmt.Sprintf("encoding the response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes Kafka's error body for err.
func writeError(w http.ResponseWriter, err error) {
	status, msg := errorStatus(err)
	writeJSON(w, status, ErrorMessage{ErrorCode: status, Message: msg})
}

// decodeJSON parses a request body into v. Kafka answers a body it cannot
// map with Jackson's message; Fjord keeps the shape (error_code, message)
// but answers 400, the status the problem deserves (see docs).
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("Request body must not be empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("Cannot deserialize request body: %v", err)
	}
	if dec.More() {
		return badRequest("Cannot deserialize request body: trailing data after the JSON value")
	}
	return nil
}

// stringMap turns a decoded JSON object into a configuration map the way
// Kafka's Jackson does for Map<String, String>: numbers and booleans
// become their text (scripts commonly send "tasks.max": 1), while objects
// and arrays are refused.
func stringMap(raw map[string]any) (map[string]string, error) {
	if raw == nil {
		return nil, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			if x {
				out[k] = "true"
			} else {
				out[k] = "false"
			}
		case nil:
			return nil, badRequest("Cannot deserialize request body: configuration value of %q is null", k)
		default:
			return nil, badRequest("Cannot deserialize request body: configuration value of %q is not a string", k)
		}
	}
	return out, nil
}

// decodeConfig parses a body that is a configuration map.
func decodeConfig(body []byte) (map[string]string, error) {
	var raw map[string]any
	if err := decodeJSON(body, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, badRequest("Request body must be a JSON object of configuration keys and values")
	}
	return stringMap(raw)
}
