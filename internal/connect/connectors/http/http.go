// Package http is Fjord Connect's HTTP sink connector: its tasks send
// each record's value to one HTTP endpoint, one request per record or
// batched as a JSON array, in the manner of Confluent's HTTP Sink
// connector, whose key names it takes (http.api.url, request.method,
// headers, header.separator, batch.max.size, batch.json.as.array,
// max.retries, retry.backoff.ms, retry.on.status.codes,
// http.request.timeout.ms, http.connect.timeout.ms,
// behavior.on.null.values).
//
// Invariants: Flush returns nil only once every record put before it was
// answered with a 2xx or handed to the errant record reporter (the
// dead-letter queue), so the offsets the runtime commits after it never
// name an undelivered record: delivery is at least once. A failure that
// retrying may cure (a status of retry.on.status.codes, a connection
// error, a timeout) is retried max.retries times and then returned as a
// *connect.RetriableError; any other status is permanent for the records
// of its request, which go to SinkTaskContext.ReportError one by one.
// Every request is bounded by http.request.timeout.ms.
package http

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// Class is the connector's class name. The registry also answers to its
// simple name, HttpSinkConnector, and to HttpSink.
const Class = "io.fjord.connect.http.HttpSinkConnector"

// Version is the connector's version, as GET /connector-plugins shows it.
const Version = "1.0.0"

// Configuration keys, Confluent's HTTP Sink names.
const (
	KeyURL             = "http.api.url"
	KeyMethod          = "request.method"
	KeyHeaders         = "headers"
	KeyHeaderSeparator = "header.separator"
	KeyBatchMaxSize    = "batch.max.size"
	KeyBatchAsArray    = "batch.json.as.array"
	KeyMaxRetries      = "max.retries"
	KeyRetryBackoffMs  = "retry.backoff.ms"
	KeyRetryCodes      = "retry.on.status.codes"
	KeyRequestTimeout  = "http.request.timeout.ms"
	KeyConnectTimeout  = "http.connect.timeout.ms"
	KeyNullValues      = "behavior.on.null.values"
)

// behavior.on.null.values' values.
const (
	NullIgnore = "ignore"
	NullFail   = "fail"
)

// DefaultRetryCodes is retry.on.status.codes' default: too many requests
// and every server error. Confluent retries every status from 400 up;
// a 4xx other than 429 says the request itself is wrong, which sending
// it again cannot cure, so Fjord sends it to the dead-letter queue.
const DefaultRetryCodes = "429,500-"

const groupConn, groupBatch, groupRetry = "Connection", "Batching", "Retries"

// Register adds the connector to r.
func Register(r *connect.Registry) error {
	if err := r.Register(connect.Plugin{Class: Class, Type: connect.PluginSink, Version: Version,
		New: func() any { return &SinkConnector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", Class, err)
	}
	return nil
}

func atLeast(n int64) func(any) error {
	return func(v any) error {
		var x int64
		switch y := v.(type) {
		case int32:
			x = int64(y)
		case int64:
			x = y
		}
		if x < n {
			return fmt.Errorf("Value must be at least %d", n)
		}
		return nil
	}
}

func validURL(v any) error {
	u, err := url.Parse(strings.TrimSpace(v.(string)))
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}

func validCodes(v any) error {
	_, err := parseCodes(v.(string))
	return err
}

// sinkConfig declares the connector's keys.
func sinkConfig() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyURL, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Group: groupConn, OrderInGroup: 1, Width: "LONG", DisplayName: "HTTP URL",
			Doc: "The URL each request is sent to.", Validator: validURL},
		{Name: KeyMethod, Type: connect.ConfigString, Default: "POST", Importance: connect.High, Group: groupConn, OrderInGroup: 2, Width: "SHORT", DisplayName: "Request method",
			Doc: "The HTTP request method.", Recommended: []string{"POST", "PUT", "PATCH"}, Validator: connect.OneOf("POST", "PUT", "PATCH")},
		{Name: KeyHeaders, Type: connect.ConfigString, Default: "", Importance: connect.Low, Group: groupConn, OrderInGroup: 3, Width: "LONG", DisplayName: "Headers",
			Doc: "Headers sent with every request, Name:Value pairs separated by header.separator (Name1:Value1|Name2:Value2). A Content-Type here replaces the connector's own."},
		{Name: KeyHeaderSeparator, Type: connect.ConfigString, Default: "|", Importance: connect.Low, Group: groupConn, OrderInGroup: 4, Width: "SHORT", DisplayName: "Header separator",
			Doc: "The separator of the pairs in headers."},
		{Name: KeyRequestTimeout, Type: connect.ConfigInt, Default: "30000", Importance: connect.Medium, Group: groupConn, OrderInGroup: 5, Width: "SHORT", DisplayName: "Request timeout (ms)",
			Doc: "How long one request may take, from connecting to reading the response, in milliseconds; a request that times out is retried.", Validator: atLeast(1)},
		{Name: KeyConnectTimeout, Type: connect.ConfigInt, Default: "30000", Importance: connect.Low, Group: groupConn, OrderInGroup: 6, Width: "SHORT", DisplayName: "Connect timeout (ms)",
			Doc: "How long connecting (and the TLS handshake) may take, in milliseconds.", Validator: atLeast(1)},
		{Name: KeyBatchMaxSize, Type: connect.ConfigInt, Default: "1", Importance: connect.High, Group: groupBatch, OrderInGroup: 1, Width: "SHORT", DisplayName: "Batch max size",
			Doc: "How many records are buffered before they are sent; with batch.json.as.array, the most records in one request.", Validator: atLeast(1)},
		{Name: KeyBatchAsArray, Type: connect.ConfigBoolean, Default: "false", Importance: connect.High, Group: groupBatch, OrderInGroup: 2, Width: "SHORT", DisplayName: "Batch as a JSON array",
			Doc: "If true, a request's body is a JSON array of up to batch.max.size records' values; if false, each record is sent in a request of its own."},
		{Name: KeyNullValues, Type: connect.ConfigString, Default: NullIgnore, Importance: connect.Low, Group: groupBatch, OrderInGroup: 3, Width: "SHORT", DisplayName: "Behavior on null values",
			Doc:         "What to do with a record whose value is null (a tombstone): 'ignore' skips it; 'fail' reports it as an errant record (the dead-letter queue, or the task fails under errors.tolerance=none).",
			Recommended: []string{NullIgnore, NullFail}, Validator: connect.OneOf(NullIgnore, NullFail)},
		{Name: KeyMaxRetries, Type: connect.ConfigInt, Default: "10", Importance: connect.Medium, Group: groupRetry, OrderInGroup: 1, Width: "SHORT", DisplayName: "Max retries",
			Doc: "How many times a request is retried after a retriable failure before the task returns a retriable error (the runtime then passes the records again after retry.backoff.ms).", Validator: atLeast(0)},
		{Name: KeyRetryBackoffMs, Type: connect.ConfigInt, Default: "3000", Importance: connect.Medium, Group: groupRetry, OrderInGroup: 2, Width: "SHORT", DisplayName: "Retry backoff (ms)",
			Doc: "The wait before the first retry, in milliseconds; each further retry waits twice as long, up to a minute.", Validator: atLeast(0)},
		{Name: KeyRetryCodes, Type: connect.ConfigString, Default: DefaultRetryCodes, Importance: connect.Medium, Group: groupRetry, OrderInGroup: 3, Width: "MEDIUM", DisplayName: "Retry on status codes",
			Doc: "The response statuses that are retried, comma separated: a code (503), a range (500-599) or an open range (500-). Any other status that is not 2xx is a permanent failure of the request's records. Connection errors and timeouts are always retried.", Validator: validCodes},
	}
}

// codeRange is one entry of retry.on.status.codes, both ends included.
type codeRange struct{ lo, hi int }

// parseCodes reads retry.on.status.codes: "429,500-599,503,500-".
func parseCodes(s string) ([]codeRange, error) {
	var out []codeRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		r := codeRange{hi: 999}
		var err error
		if r.lo, err = strconv.Atoi(strings.TrimSpace(lo)); err != nil || r.lo < 100 || r.lo > 999 {
			return nil, fmt.Errorf("%q is not a status code or range", part)
		}
		switch {
		case !isRange:
			r.hi = r.lo
		case strings.TrimSpace(hi) != "":
			if r.hi, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || r.hi < r.lo || r.hi > 999 {
				return nil, fmt.Errorf("%q is not a status code or range", part)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// parseHeaders reads headers: "Name:Value|Name2:Value2" with sep between
// pairs; a pair without a colon or with an empty name is an error, as
// silently dropping a header (an API key) would make every request fail.
func parseHeaders(s, sep string) ([][2]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if sep == "" {
		return nil, fmt.Errorf("%s must not be empty", KeyHeaderSeparator)
	}
	var out [][2]string
	for _, pair := range strings.Split(s, sep) {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("header %q is not Name:Value", pair)
		}
		value = strings.TrimSpace(value)
		// Caught here, a bad header is a validation error; caught by the
		// HTTP client it would look like a connection error, retried
		// forever.
		if strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) }) >= 0 {
			return nil, fmt.Errorf("header name %q is not an HTTP token", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("header %s: the value holds a line break or NUL", name)
		}
		out = append(out, [2]string{name, value})
	}
	return out, nil
}
