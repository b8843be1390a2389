package http

import (
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// fakeCtx is the runtime's side of a task: it records reported records
// and the retry timeout; failReports makes ReportError answer as under
// errors.tolerance=none.
type fakeCtx struct {
	mu          sync.Mutex
	reported    []connect.SinkRecord
	reasons     []error
	timeout     time.Duration
	failReports bool
}

func (c *fakeCtx) Config() map[string]string               { return nil }
func (c *fakeCtx) Assignment() []connect.TopicPartition    { return nil }
func (c *fakeCtx) Offset(map[connect.TopicPartition]int64) {}
func (c *fakeCtx) Pause(...connect.TopicPartition)         {}
func (c *fakeCtx) Resume(...connect.TopicPartition)        {}
func (c *fakeCtx) RequestCommit()                          {}
func (c *fakeCtx) Timeout(d time.Duration)                 { c.mu.Lock(); c.timeout = d; c.mu.Unlock() }
func (c *fakeCtx) reportedValues() (out []string) {
	for _, r := range c.reported {
		out = append(out, r.Value.(string))
	}
	return out
}

func (c *fakeCtx) ReportError(r connect.SinkRecord, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = append(c.reported, r)
	c.reasons = append(c.reasons, err)
	if c.failReports {
		return errors.New("Tolerance exceeded in error handler")
	}
	return nil
}

// request is one request a test server received.
type request struct {
	method string
	header http.Header
	body   string
}

// server is an httptest server that records requests and answers with
// respond (200 when nil).
type server struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(n int, body string) int // n: the request's number, from 1
}

func newServer(t *testing.T, respond func(n int, body string) int) *server {
	t.Helper()
	s := &server{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{method: r.Method, header: r.Header.Clone(), body: string(b)})
		n := len(s.reqs)
		s.mu.Unlock()
		code := http.StatusOK
		if s.respond != nil {
			code = s.respond(n, string(b))
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("answer " + strconv.Itoa(code)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func (s *server) bodies() []string {
	var out []string
	for _, r := range s.requests() {
		out = append(out, r.body)
	}
	return out
}

// startTask starts a task against url with fast retries and extra keys.
func startTask(t *testing.T, ctx connect.SinkTaskContext, url string, kv ...string) *SinkTask {
	t.Helper()
	props := map[string]string{KeyURL: url, KeyRetryBackoffMs: "1", KeyMaxRetries: "3", KeyRequestTimeout: "5000"}
	for i := 0; i+1 < len(kv); i += 2 {
		props[kv[i]] = kv[i+1]
	}
	task := (&SinkConnector{}).NewTask().(*SinkTask)
	if err := task.Start(ctx, props); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

// recs makes string records of one partition at offsets 0, 1, ...
func recs(vals ...string) []connect.SinkRecord {
	out := make([]connect.SinkRecord, len(vals))
	for i, v := range vals {
		out[i] = connect.SinkRecord{Record: connect.Record{Topic: "t", Partition: 0, ValueSchema: connect.StringSchema, Value: v},
			KafkaOffset: int64(i), OriginalTopic: "t", OriginalPartition: 0, OriginalOffset: int64(i)}
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestRegisterNames(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Class, "HttpSinkConnector", "HttpSink"} {
		c, typ, err := r.NewConnector(name)
		if err != nil || typ != connect.SinkType {
			t.Fatalf("%s: %v %v", name, typ, err)
		}
		if _, ok := c.(connect.SinkConnector); !ok {
			t.Fatalf("%s: %T is not a sink connector", name, c)
		}
	}
}

// Full batches go out from Put as JSON arrays; Flush sends the rest.
func TestBatchJSONArray(t *testing.T) {
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL, KeyBatchMaxSize, "3", KeyBatchAsArray, "true")
	if err := task.Put(recs(`{"a":1}`, "plain", `[1,2]`, "4")); err != nil {
		t.Fatal(err)
	}
	equal(t, "after Put", srv.bodies(), []string{`[{"a":1},"plain",[1,2]]`})
	if err := task.Put(recs("x<y", "6")); err != nil {
		t.Fatal(err)
	}
	equal(t, "after the second Put", srv.bodies(), []string{`[{"a":1},"plain",[1,2]]`, `[4,"x<y",6]`})
	if err := task.Put(recs("7")); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	equal(t, "after Flush", srv.bodies(), []string{`[{"a":1},"plain",[1,2]]`, `[4,"x<y",6]`, `[7]`})
	for _, r := range srv.requests() {
		if r.method != http.MethodPost || r.header.Get("Content-Type") != typeJSON {
			t.Fatalf("request %s with Content-Type %q", r.method, r.header.Get("Content-Type"))
		}
	}
}

// Without arrays each record is a request of its own, its value as is.
func TestSingleRequests(t *testing.T) {
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL)
	in := recs(`{"a":1}`, "plain text")
	in = append(in, connect.SinkRecord{Record: connect.Record{Value: []byte{0xff, 0x00}}})
	if err := task.Put(in); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := []struct{ body, ctype string }{{`{"a":1}`, typeJSON}, {"plain text", typeText}, {"\xff\x00", typeBytes}}
	for i, w := range want {
		if reqs[i].body != w.body || reqs[i].header.Get("Content-Type") != w.ctype {
			t.Errorf("request %d: %q %q, want %q %q", i, reqs[i].body, reqs[i].header.Get("Content-Type"), w.body, w.ctype)
		}
	}
}

// headers are sent with every request, a Content-Type among them
// replacing the connector's; request.method is used.
func TestHeadersAndMethod(t *testing.T) {
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL, KeyMethod, "put",
		KeyHeaders, "Authorization:Bearer abc:def| X-Trace : 1 |Content-Type:application/vnd.x+json")
	if err := task.Put(recs("v")); err != nil {
		t.Fatal(err)
	}
	r := srv.requests()[0]
	if r.method != http.MethodPut {
		t.Errorf("method %s", r.method)
	}
	for k, v := range map[string]string{"Authorization": "Bearer abc:def", "X-Trace": "1", "Content-Type": "application/vnd.x+json"} {
		if got := r.header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s: %q, want %q", k, got, v)
		}
	}
	task2 := startTask(t, &fakeCtx{}, srv.URL, KeyHeaders, "A:1;B:2", KeyHeaderSeparator, ";")
	if err := task2.Put(recs("w")); err != nil {
		t.Fatal(err)
	}
	if r := srv.requests()[1]; r.header.Get("A") != "1" || r.header.Get("B") != "2" {
		t.Errorf("header.separator: %v", r.header)
	}
}

// 503 and 429 are retried, with the same body, until a 2xx.
func TestRetriedStatuses(t *testing.T) {
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv := newServer(t, func(n int, _ string) int {
			if n <= 2 {
				return code
			}
			return http.StatusOK
		})
		task := startTask(t, &fakeCtx{}, srv.URL)
		if err := task.Put(recs("v")); err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		equal(t, strconv.Itoa(code), srv.bodies(), []string{"v", "v", "v"})
	}
}

// Retries spent: Put returns a RetriableError, asks the runtime to wait
// retry.backoff.ms, and forgets the call's records, so passing them
// again (as the runtime does) sends each once.
func TestRetriesSpent(t *testing.T) {
	var mu sync.Mutex
	down := true
	srv := newServer(t, func(int, string) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	ctx := &fakeCtx{}
	task := startTask(t, ctx, srv.URL, KeyMaxRetries, "2", KeyRetryBackoffMs, "2", KeyBatchMaxSize, "2", KeyBatchAsArray, "true")
	if err := task.Put(recs("1")); err != nil { // buffered: a batch is 2
		t.Fatal(err)
	}
	batch := recs("2", "3")
	err := task.Put(batch)
	var re *connect.RetriableError
	if !errors.As(err, &re) {
		t.Fatalf("Put: %v, want a RetriableError", err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Fatalf("%d attempts, want 1 + max.retries", n)
	}
	if ctx.timeout != 2*time.Millisecond {
		t.Errorf("Timeout %v", ctx.timeout)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if err := task.Put(batch); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	got := srv.bodies()[3:]
	equal(t, "after recovery", got, []string{"[1,2]", "[3]"})
}

// A connection error is retried, then retriable.
func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	task := startTask(t, &fakeCtx{}, url, KeyMaxRetries, "1")
	var re *connect.RetriableError
	if err := task.Put(recs("v")); !errors.As(err, &re) {
		t.Fatalf("Put: %v, want a RetriableError", err)
	}
}

// A request slower than http.request.timeout.ms is abandoned and retried.
func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(int, string) int {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return http.StatusOK
	})
	defer close(release) // before srv.Close, which waits for handlers
	task := startTask(t, &fakeCtx{}, srv.URL, KeyRequestTimeout, "50", KeyMaxRetries, "1")
	start := time.Now()
	err := task.Put(recs("v"))
	var re *connect.RetriableError
	if !errors.As(err, &re) {
		t.Fatalf("Put: %v, want a RetriableError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Put took %v", d)
	}
	if n := len(srv.requests()); n != 2 {
		t.Fatalf("%d attempts", n)
	}
}

// A 400 is permanent: an array batch is narrowed down record by record,
// the refused one goes to the reporter, the others are delivered.
func TestBadRecordReported(t *testing.T) {
	srv := newServer(t, func(_ int, body string) int {
		if strings.Contains(body, "bad") {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	for _, array := range []bool{true, false} {
		ctx := &fakeCtx{}
		before := len(srv.requests())
		task := startTask(t, ctx, srv.URL, KeyBatchMaxSize, "3", KeyBatchAsArray, strconv.FormatBool(array))
		if err := task.Put(recs("a", "bad", "c", "d")); err != nil {
			t.Fatal(err)
		}
		if err := task.Flush(nil); err != nil {
			t.Fatal(err)
		}
		var delivered []string
		for _, b := range srv.bodies()[before:] {
			if !strings.Contains(b, "bad") {
				delivered = append(delivered, b)
			}
		}
		want := []string{"a", "c", "d"}
		if array {
			want = []string{`["a"]`, `["c"]`, `["d"]`}
		}
		equal(t, "delivered", delivered, want)
		equal(t, "reported", ctx.reportedValues(), []string{"bad"})
		var pe *permanentError
		if !errors.As(ctx.reasons[0], &pe) || pe.status != http.StatusBadRequest || !strings.Contains(pe.Error(), "answer 400") {
			t.Errorf("reason %v", ctx.reasons[0])
		}
	}
}

// With no reporter, or one that says the task must fail, a refused
// record fails the task (a non-retriable error).
func TestRefusedWithoutReporter(t *testing.T) {
	srv := newServer(t, func(int, string) int { return http.StatusUnprocessableEntity })
	for name, ctx := range map[string]connect.SinkTaskContext{"no reporter": nil, "tolerance none": &fakeCtx{failReports: true}} {
		task := startTask(t, ctx, srv.URL)
		err := task.Put(recs("v"))
		var re *connect.RetriableError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("%s: Put: %v, want a fatal error", name, err)
		}
		if !strings.Contains(err.Error(), "t[0]@0") {
			t.Errorf("%s: %v does not name the record", name, err)
		}
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests: a 422 must not be retried", n)
	}
}

// Flush sends everything buffered, in order, and returns once delivered.
func TestFlushDeliversAll(t *testing.T) {
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL, KeyBatchMaxSize, "100")
	if err := task.Put(recs("1", "2", "3")); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(recs("4", "5")); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 0 {
		t.Fatalf("%d requests before Flush", n)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	equal(t, "flushed", srv.bodies(), []string{"1", "2", "3", "4", "5"})
	if err := task.Flush(nil); err != nil || len(srv.requests()) != 5 {
		t.Fatalf("a second Flush: %v, %d requests", err, len(srv.requests()))
	}
}

// A failed Flush drops the buffer: the runtime rewinds and passes the
// records again.
func TestFlushFailureDropsBuffer(t *testing.T) {
	var mu sync.Mutex
	down := true
	srv := newServer(t, func(int, string) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	task := startTask(t, &fakeCtx{}, srv.URL, KeyBatchMaxSize, "10", KeyBatchAsArray, "true", KeyMaxRetries, "0")
	if err := task.Put(recs("1", "2")); err != nil {
		t.Fatal(err)
	}
	var re *connect.RetriableError
	if err := task.Flush(nil); !errors.As(err, &re) {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("%d requests: the failed batch was kept", n)
	}
}

// Close drops the buffered records of the closed partitions only.
func TestCloseDropsPartitions(t *testing.T) {
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL, KeyBatchMaxSize, "10", KeyBatchAsArray, "true")
	in := recs("p0", "p1")
	in[1].OriginalPartition = 1
	if err := task.Put(in); err != nil {
		t.Fatal(err)
	}
	if err := task.Close([]connect.TopicPartition{{Topic: "t", Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := task.Flush(nil); err != nil {
		t.Fatal(err)
	}
	equal(t, "sent", srv.bodies(), []string{`["p0"]`})
}

// Null values are skipped, or reported under behavior.on.null.values=fail.
func TestNullValues(t *testing.T) {
	srv := newServer(t, nil)
	tomb := connect.SinkRecord{OriginalTopic: "t", OriginalOffset: 9}
	task := startTask(t, &fakeCtx{}, srv.URL)
	if err := task.Put([]connect.SinkRecord{tomb}); err != nil || len(srv.requests()) != 0 {
		t.Fatalf("ignore: %v, %d requests", err, len(srv.requests()))
	}
	ctx := &fakeCtx{}
	task = startTask(t, ctx, srv.URL, KeyNullValues, "fail")
	if err := task.Put([]connect.SinkRecord{tomb}); err != nil || len(ctx.reported) != 1 || len(srv.requests()) != 0 {
		t.Fatalf("fail: %v, %d reported, %d requests", err, len(ctx.reported), len(srv.requests()))
	}
}

// Structured values become JSON: a Struct by field names, maps, logical
// types, bytes as base64.
func TestJSONValues(t *testing.T) {
	addr := connect.StructSchema(connect.Field{Name: "city", Schema: connect.StringSchema}, connect.Field{Name: "zip", Schema: connect.OptionalInt64Schema})
	schema := connect.StructSchema(
		connect.Field{Name: "id", Schema: connect.Int32Schema},
		connect.Field{Name: "price", Schema: connect.DecimalSchema(2)},
		connect.Field{Name: "at", Schema: connect.TimestampSchema()},
		connect.Field{Name: "day", Schema: connect.DateSchema()},
		connect.Field{Name: "raw", Schema: connect.BytesSchema},
		connect.Field{Name: "tags", Schema: connect.ArraySchema(connect.StringSchema)},
		connect.Field{Name: "attrs", Schema: connect.MapSchema(connect.StringSchema, connect.Float64Schema)},
		connect.Field{Name: "addr", Schema: addr},
	)
	a := connect.NewStruct(addr)
	_ = a.Put("city", `Oslo "N"`)
	s := connect.NewStruct(schema)
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for k, v := range map[string]any{"id": int32(7), "price": big.NewRat(1999, 100), "at": at, "day": time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		"raw": []byte("hi"), "tags": []any{"a", "b"}, "attrs": map[any]any{"y": 2.5, "x": 1.0}, "addr": a} {
		if err := s.Put(k, v); err != nil {
			t.Fatal(k, err)
		}
	}
	cases := []struct {
		schema *connect.Schema
		value  any
		want   string
	}{
		{schema, s, `{"id":7,"price":19.99,"at":1709294400000,"day":19783,"raw":"aGk=","tags":["a","b"],"attrs":{"x":1.0,"y":2.5},"addr":{"city":"Oslo \"N\"","zip":null}}`},
		{nil, map[string]any{"b": []any{int64(1), true, nil}, "a": "<&>"}, `{"a":"<&>","b":[1,true,null]}`},
		{nil, map[any]any{int32(2): "two", int32(1): "one"}, `[[1,"one"],[2,"two"]]`},
		{connect.Int64Schema, int64(42), `42`},
	}
	srv := newServer(t, nil)
	task := startTask(t, &fakeCtx{}, srv.URL)
	for i, c := range cases {
		r := connect.SinkRecord{Record: connect.Record{Topic: "t", ValueSchema: c.schema, Value: c.value}}
		if err := task.Put([]connect.SinkRecord{r}); err != nil {
			t.Fatal(err)
		}
		req := srv.requests()[i]
		if req.body != c.want || req.header.Get("Content-Type") != typeJSON {
			t.Errorf("case %d:\n got %s\nwant %s", i, req.body, c.want)
		}
	}
	// A value JSON cannot hold is an errant record, not a task failure.
	ctx := &fakeCtx{}
	task = startTask(t, ctx, srv.URL)
	bad := connect.SinkRecord{Record: connect.Record{Value: struct{}{}}}
	if err := task.Put([]connect.SinkRecord{bad}); err != nil || len(ctx.reported) != 1 {
		t.Fatalf("unrenderable value: %v, %d reported", err, len(ctx.reported))
	}
}

// The connector validates its keys and hands tasks copies.
func TestConnectorConfig(t *testing.T) {
	c := &SinkConnector{}
	for _, props := range []map[string]string{
		{},
		{KeyURL: "ftp://x"},
		{KeyURL: "localhost:80"},
		{KeyURL: "http://h", KeyRetryCodes: "5xx"},
		{KeyURL: "http://h", KeyRetryCodes: "600-500"},
		{KeyURL: "http://h", KeyHeaders: "NoColon"},
		{KeyURL: "http://h", KeyBatchMaxSize: "0"},
		{KeyURL: "http://h", KeyMethod: "GET"},
		{KeyURL: "http://h", KeyHeaders: "Bad Name:v"},
		{KeyURL: "http://h", KeyHeaders: "X-A:v\r\nX-B:w"},
	} {
		if err := c.Start(nil, props); err == nil {
			t.Errorf("%v accepted", props)
		}
	}
	if errs := c.Validate(map[string]string{KeyHeaders: ":v"}); len(errs) != 1 {
		t.Errorf("Validate: %v", errs)
	}
	props := map[string]string{KeyURL: "https://h/p", KeyRetryCodes: "408, 429,500-"}
	if err := c.Start(nil, props); err != nil {
		t.Fatal(err)
	}
	cfgs, err := c.TaskConfigs(3)
	if err != nil || len(cfgs) != 3 || cfgs[2][KeyURL] != "https://h/p" {
		t.Fatalf("TaskConfigs: %v %v", cfgs, err)
	}
	codes, _ := parseCodes("408, 429,500-")
	if len(codes) != 3 || codes[0] != (codeRange{408, 408}) || codes[2] != (codeRange{500, 999}) {
		t.Errorf("codes %v", codes)
	}
}

// Retry-After, in seconds or as a date, stretches the wait before a retry.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{"": 0, "2": 2 * time.Second, "x": 0, "-1": 0,
		now.Add(3 * time.Second).Format(http.TimeFormat): 3 * time.Second, now.Add(-time.Hour).Format(http.TimeFormat): 0} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", h, got, want)
		}
	}
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	task := startTask(t, &fakeCtx{}, srv.URL)
	if err := task.Put(recs("v")); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Fatalf("retried at %v", times)
	}
}

// The REST API's validation shows a bad headers value on that key.
func TestValidateConfigThroughRegistry(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"name": "h", "connector.class": "HttpSink", "topics": "in", KeyURL: "http://h"}
	if infos, _ := connect.ValidateConfig(r, base, connect.ValidateOptions{}); infos.ErrorCount != 0 {
		t.Fatalf("valid config: %d errors: %+v", infos.ErrorCount, infos)
	}
	base[KeyHeaders] = "A:1|nocolon"
	if infos, _ := connect.ValidateConfig(r, base, connect.ValidateOptions{}); infos.ErrorCount != 1 {
		t.Fatalf("bad headers: %d errors", infos.ErrorCount)
	}
}
