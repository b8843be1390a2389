package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/convert"
)

// Client bounds: a task sends one request at a time, so a few idle
// connections suffice; the cap keeps a task from hoarding sockets.
const (
	maxIdleConns    = 4
	idleConnTimeout = 90 * time.Second
	maxBackoff      = time.Minute // the longest wait between two retries
	errBodyLimit    = 512         // bytes of an error response kept for the message
	drainLimit      = 64 << 10    // bytes of a response read so its connection is reused
)

// SinkConnector is the HTTP sink connector: its tasks send records'
// values to http.api.url.
type SinkConnector struct {
	props map[string]string
}

// Version returns the connector's version.
func (c *SinkConnector) Version() string { return Version }

// Config declares the connector's keys.
func (c *SinkConnector) Config() connect.ConfigDef { return sinkConfig() }

// Validate checks what the ConfigDef cannot: headers against
// header.separator.
func (c *SinkConnector) Validate(props map[string]string) []connect.ConfigValue {
	sep, ok := props[KeyHeaderSeparator]
	if !ok {
		sep = "|"
	}
	if _, err := parseHeaders(props[KeyHeaders], sep); err != nil {
		v := props[KeyHeaders]
		return []connect.ConfigValue{{Name: KeyHeaders, Value: &v, RecommendedValues: []string{}, Errors: []string{err.Error()}, Visible: true}}
	}
	return nil
}

// Start checks the configuration and keeps it for the tasks.
func (c *SinkConnector) Start(_ connect.ConnectorContext, props map[string]string) error {
	if _, err := parseConfig(props); err != nil {
		return err
	}
	c.props = maps.Clone(props)
	return nil
}

// TaskConfigs returns maxTasks copies of the configuration: every task
// sends to the same URL, each the records of its own partitions.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, 0, max(maxTasks, 0))
	for range maxTasks {
		out = append(out, maps.Clone(c.props))
	}
	return out, nil
}

// Stop ends the connector; it holds no resources.
func (c *SinkConnector) Stop() error { return nil }

// NewTask returns an unstarted SinkTask.
func (c *SinkConnector) NewTask() connect.SinkTask { return &SinkTask{} }

// config is a task's parsed configuration.
type config struct {
	url            string
	method         string
	headers        [][2]string
	hasContentType bool
	batchSize      int
	asArray        bool
	failOnNull     bool
	maxRetries     int
	backoff        time.Duration
	retryCodes     []codeRange
	requestTimeout time.Duration
	connectTimeout time.Duration
}

func parseConfig(props map[string]string) (config, error) {
	p, err := sinkConfig().Parse(props)
	if err != nil {
		return config{}, fmt.Errorf("http sink: %w", err)
	}
	c := config{
		url:            p.String(KeyURL),
		method:         strings.ToUpper(p.String(KeyMethod)),
		batchSize:      int(p.Int(KeyBatchMaxSize)),
		asArray:        p.Bool(KeyBatchAsArray),
		failOnNull:     strings.EqualFold(p.String(KeyNullValues), NullFail),
		maxRetries:     int(p.Int(KeyMaxRetries)),
		backoff:        time.Duration(p.Int(KeyRetryBackoffMs)) * time.Millisecond,
		requestTimeout: time.Duration(p.Int(KeyRequestTimeout)) * time.Millisecond,
		connectTimeout: time.Duration(p.Int(KeyConnectTimeout)) * time.Millisecond,
	}
	if c.retryCodes, err = parseCodes(p.String(KeyRetryCodes)); err != nil {
		return config{}, fmt.Errorf("http sink: %s: %w", KeyRetryCodes, err)
	}
	// The raw value: Parse trims, and a separator may be a space.
	sep, ok := props[KeyHeaderSeparator]
	if !ok {
		sep = "|"
	}
	if c.headers, err = parseHeaders(p.String(KeyHeaders), sep); err != nil {
		return config{}, fmt.Errorf("http sink: %s: %w", KeyHeaders, err)
	}
	for _, h := range c.headers {
		c.hasContentType = c.hasContentType || strings.EqualFold(h[0], "Content-Type")
	}
	return c, nil
}

// pending is a buffered record with its rendered value.
type pending struct {
	rec         connect.SinkRecord
	body        []byte // the whole body, or the array element when batching as an array
	contentType string
}

// SinkTask sends records to the HTTP endpoint. Put renders records and
// buffers them, sending whenever batch.max.size are buffered; Flush sends
// the rest. The buffer only ever holds records the runtime believes put:
// when Put fails retriably it drops the undelivered records of that call,
// which the runtime passes again; when Flush fails it drops everything,
// as the runtime then rewinds to the last committed offsets.
type SinkTask struct {
	ctx    connect.SinkTaskContext
	cfg    config
	client *http.Client
	json   *convert.JSONConverter // writes values as JSON
	buf    []pending
	// stop ends a backoff or request in flight when the task stops.
	stop   context.Context
	cancel context.CancelFunc
}

// Start reads the configuration and builds the task's HTTP client. A nil
// ctx means there is no errant record reporter: a permanently refused
// record then fails the task.
func (t *SinkTask) Start(ctx connect.SinkTaskContext, props map[string]string) error {
	cfg, err := parseConfig(props)
	if err != nil {
		return err
	}
	t.ctx, t.cfg = ctx, cfg
	if t.json, err = newJSONWriter(); err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: cfg.connectTimeout, KeepAlive: 30 * time.Second}
	t.client = &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: cfg.connectTimeout,
			MaxIdleConns:        maxIdleConns,
			MaxIdleConnsPerHost: maxIdleConns,
			IdleConnTimeout:     idleConnTimeout,
		},
		// The per-request context bounds each attempt too; this is the
		// backstop should a caller ever forget one.
		Timeout: cfg.requestTimeout,
	}
	t.stop, t.cancel = context.WithCancel(context.Background())
	return nil
}

// Open does nothing: every partition goes to the same URL.
func (t *SinkTask) Open([]connect.TopicPartition) error { return nil }

// Put renders and buffers the records, then sends full batches. A record
// that cannot be rendered, or a null value under
// behavior.on.null.values=fail, is reported as errant.
func (t *SinkTask) Put(records []connect.SinkRecord) error {
	if t.client == nil {
		return errors.New("http sink: Put before Start")
	}
	added := 0
	for _, rec := range records {
		if rec.Value == nil {
			if !t.cfg.failOnNull {
				continue
			}
			if err := t.report(rec, errors.New("http sink: null record value (behavior.on.null.values=fail)")); err != nil {
				return err
			}
			continue
		}
		p := pending{rec: rec, contentType: typeJSON}
		var err error
		if t.cfg.asArray {
			p.body, err = renderElement(t.json, rec)
		} else {
			p.body, p.contentType, err = renderSingle(t.json, rec)
		}
		if err != nil {
			if rerr := t.report(rec, fmt.Errorf("http sink: rendering the value: %w", err)); rerr != nil {
				return rerr
			}
			continue
		}
		t.buf = append(t.buf, p)
		added++
	}
	for len(t.buf) >= t.cfg.batchSize {
		if err := t.deliver(t.cfg.batchSize); err != nil {
			var re *connect.RetriableError
			if errors.As(err, &re) {
				// This call's records are the buffer's tail; the runtime
				// passes them again, so keeping them would send them twice.
				keep := len(t.buf) - min(added, len(t.buf))
				clear(t.buf[keep:])
				t.buf = t.buf[:keep]
			}
			return err
		}
	}
	return nil
}

// Flush sends every buffered record and returns once each was delivered
// or reported, so the offsets committed after it are safe.
func (t *SinkTask) Flush(map[connect.TopicPartition]int64) error {
	for len(t.buf) > 0 {
		if err := t.deliver(min(t.cfg.batchSize, len(t.buf))); err != nil {
			// The runtime rewinds to the last committed offsets after a
			// failed Flush and passes these records again.
			t.dropAll()
			return err
		}
	}
	return nil
}

// Close drops buffered records of the partitions: after a revocation the
// runtime flushed them already; after a loss their new owner sends them.
func (t *SinkTask) Close(partitions []connect.TopicPartition) error {
	gone := map[connect.TopicPartition]bool{}
	for _, tp := range partitions {
		gone[tp] = true
	}
	kept := t.buf[:0]
	for _, p := range t.buf {
		if !gone[connect.TopicPartition{Topic: p.rec.OriginalTopic, Partition: p.rec.OriginalPartition}] {
			kept = append(kept, p)
		}
	}
	clear(t.buf[len(kept):])
	t.buf = kept
	return nil
}

// Stop drops the buffer (those offsets were never committed, so the
// records come again) and closes the client's connections.
func (t *SinkTask) Stop() error {
	if t.cancel != nil {
		t.cancel()
	}
	t.dropAll()
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
	return nil
}

func (t *SinkTask) dropAll() {
	clear(t.buf)
	t.buf = t.buf[:0]
}

// dropHead removes the first n buffered records, delivered or reported.
func (t *SinkTask) dropHead(n int) {
	clear(t.buf[:n])
	t.buf = t.buf[n:]
}

// deliver sends the first n buffered records, as one array request or n
// single ones, removing each from the buffer once it is delivered or
// reported. A permanent failure of an array request is narrowed down by
// sending its records one at a time, so only the refused ones go to the
// dead-letter queue (the others may then be received twice: at least
// once).
func (t *SinkTask) deliver(n int) error {
	if t.cfg.asArray && n > 1 {
		elems := make([][]byte, n)
		for i := range n {
			elems[i] = t.buf[i].body
		}
		err := t.send(arrayBody(elems), typeJSON)
		if err == nil {
			t.dropHead(n)
			return nil
		}
		var pe *permanentError
		if !errors.As(err, &pe) {
			return err
		}
	}
	for range n {
		p := t.buf[0]
		body := p.body
		if t.cfg.asArray {
			body = arrayBody([][]byte{p.body})
		}
		err := t.send(body, p.contentType)
		var pe *permanentError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			if rerr := t.report(p.rec, err); rerr != nil {
				return rerr
			}
		default:
			return err
		}
		t.dropHead(1)
	}
	return nil
}

// report hands a refused record to the errant record reporter; with no
// reporter, or when the reporter says the task must fail
// (errors.tolerance=none), the error is returned to fail the task.
func (t *SinkTask) report(rec connect.SinkRecord, err error) error {
	where := fmt.Sprintf("%s[%d]@%d", rec.OriginalTopic, rec.OriginalPartition, rec.OriginalOffset)
	if t.ctx == nil {
		return fmt.Errorf("http sink: record %s: %w (no errant record reporter)", where, err)
	}
	if rerr := t.ctx.ReportError(rec, err); rerr != nil {
		return fmt.Errorf("http sink: record %s: %w", where, rerr)
	}
	return nil
}

// permanentError is a response that retrying cannot cure.
type permanentError struct {
	status int
	body   string
}

func (e *permanentError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, http.StatusText(e.status), e.body)
}

// send makes one request with up to max.retries retries. It returns nil
// on a 2xx, a *permanentError, or a *connect.RetriableError once the
// retries are spent.
func (t *SinkTask) send(body []byte, contentType string) error {
	backoff := t.cfg.backoff
	var last error
	for attempt := 0; ; attempt++ {
		err := t.do(body, contentType)
		var pe *permanentError
		if err == nil || errors.As(err, &pe) {
			return err
		}
		last = err
		if attempt >= t.cfg.maxRetries || t.stop.Err() != nil {
			break
		}
		wait := backoff
		var se *statusError
		if errors.As(err, &se) {
			// A server that says when to come back knows better than
			// our schedule; the cap keeps a wrong answer from stalling
			// the task.
			wait = min(max(wait, se.retryAfter), maxBackoff)
		}
		timer := time.NewTimer(wait)
		select {
		case <-t.stop.Done():
		case <-timer.C:
		}
		timer.Stop()
		backoff = min(backoff*2, maxBackoff)
	}
	if t.ctx != nil {
		t.ctx.Timeout(t.cfg.backoff)
	}
	return &connect.RetriableError{Err: fmt.Errorf("http sink: %s %s failed after %d retries: %w", t.cfg.method, t.cfg.url, t.cfg.maxRetries, last)}
}

// statusError is a response of retry.on.status.codes.
type statusError struct {
	status     int
	body       string
	retryAfter time.Duration // the Retry-After header's wait, or 0
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, http.StatusText(e.status), e.body)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// do makes one attempt. A transport error (retriable) is returned plain,
// a status of retry.on.status.codes as a *statusError (retriable), any
// other status that is not 2xx as a *permanentError.
func (t *SinkTask) do(body []byte, contentType string) error {
	ctx, cancel := context.WithTimeout(t.stop, t.cfg.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, t.cfg.method, t.cfg.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if !t.cfg.hasContentType {
		req.Header.Set("Content-Type", contentType)
	}
	for _, h := range t.cfg.headers {
		req.Header.Add(h[0], h[1])
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Reading the rest lets the connection be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	for _, r := range t.cfg.retryCodes {
		if resp.StatusCode >= r.lo && resp.StatusCode <= r.hi {
			return &statusError{status: resp.StatusCode, body: string(bytes.TrimSpace(msg)),
				retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
		}
	}
	return &permanentError{status: resp.StatusCode, body: string(bytes.TrimSpace(msg))}
}
