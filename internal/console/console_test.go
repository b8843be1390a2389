package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/console"
)

// The console's pages over a real node: the overview, the topics list
// (paged, searched), a topic, the groups and a group's lag, a missing
// topic's 404, and escaped input.
func TestConsole_Pages(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders"); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 120 {
		many = append(many, fmt.Sprintf("bulk-%03d", i))
	}
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, many...); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("orders", 0, 4, -1)
	if _, err := adm.CommitOffsets(ctx, "readers", offs); err != nil {
		t.Fatal(err)
	}
	// A group name with characters that mean something in a URL.
	if _, err := adm.CommitOffsets(ctx, "x/y#z ü%41", offs); err != nil {
		t.Fatal(err)
	}

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "misc"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`{"a":1,"b":[true]}`, "<b>bold</b>"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "misc", Partition: 0, Key: []byte("k"), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := console.New(console.Config{Client: cl, Seeds: []string{n.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	get := func(path string) (int, string, http.Header) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, tc := range []struct {
		path   string
		code   int
		has    []string
		hasNot []string
	}{
		{"/", 200, []string{"Healthy", "<b>1</b><span>brokers</span>", "<b>2</b><span>consumer groups</span>"}, nil},
		{"/groups", 200, []string{`href="/groups/x%2Fy%23z%20%C3%BC%2541"`}, []string{`href="/groups/x/y`}},
		{"/groups/x%2Fy%23z%20%C3%BC%2541", 200, []string{"x/y#z ü%41", "<td>6</td>"}, nil},
		{"/groups/nosuch", 404, []string{"No such group."}, []string{"Reset offsets"}},
		{"/topics/orders/records?partition=7", 404, []string{"no such partition"}, nil},
		// By name: __consumer_offsets and bulk-000 on, orders and bulk-119 on page 2.
		{"/topics", 200, []string{"Page 1 of 2", `rel="next"`, "bulk-000"}, []string{"bulk-119", `href="/topics/orders"`}},
		{"/topics?page=2", 200, []string{"Page 2 of 2", "bulk-119", `rel="prev"`, `href="/topics/orders"`}, []string{"bulk-000"}},
		{"/topics?q=orders", 200, []string{`href="/topics/orders"`, "Page 1 of 1"}, []string{"bulk-000"}},
		{"/topics/orders", 200, []string{"Partitions", "<td>10</td>", "retention.ms", "3600000"}, nil},
		{"/topics/nope", 404, []string{"No such topic."}, nil},
		{"/groups", 200, []string{`href="/groups/readers"`, "<td>6</td>"}, nil},
		{"/groups/readers", 200, []string{"total lag <b class=\"lag\">6</b>", "<td>4</td>", `<text x="0" y="15">orders/0</text>`, `<text class="value" x="776" y="15">6</text>`}, nil},
		{"/topics?q=%3Cscript%3Ealert(1)%3C/script%3E", 200, []string{"&lt;script&gt;"}, []string{"<script>"}},
		{"/style.css", 200, []string{"font"}, nil},
		{"/topics/orders/records?partition=0&limit=3", 200, []string{"<td>0</td>", "<td>2</td>", `offset=3&amp;limit=3" rel="next"`}, []string{"<td>3</td>"}},
		{"/topics/orders/records?partition=0&offset=8", 200, []string{"<td>8</td>", "<td>9</td>"}, []string{"<td>7</td>"}},
		{"/topics/misc/records?partition=0", 200, []string{"<pre class=\"json\">{\n  &#34;a&#34;: 1,", "&lt;b&gt;bold&lt;/b&gt;", "<code>h=v</code>", "<code>k</code>"}, []string{"<b>bold</b>"}},
		{"/topics/orders/records?partition=0&offset=x", 400, []string{"offset: want a number"}, nil},
	} {
		code, body, hdr := get(tc.path)
		if code != tc.code {
			t.Errorf("%s: %d, want %d\n%s", tc.path, code, tc.code, body)
			continue
		}
		for _, s := range tc.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s lacks %q:\n%s", tc.path, s, body)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(body, s) {
				t.Errorf("%s has %q", tc.path, s)
			}
		}
		if tc.path != "/style.css" && !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'none'") {
			t.Errorf("%s: CSP %q", tc.path, hdr.Get("Content-Security-Policy"))
		}
	}
	// The records page's form produces a test record, then shows it.
	form := url.Values{"partition": {"0"}, "key": {"made"}, "value": {"by the console"}, "csrf": {console.Token(c)}}
	resp, err := http.PostForm(srv.URL+"/topics/misc/produce", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<code>by the console</code>") || !strings.Contains(string(b), "<td>2</td>") {
		t.Fatalf("produce: %d\n%s", resp.StatusCode, b)
	}
}

// A topic created and deleted through the console's forms exists, then
// does not, in the cluster; a form without the page's token, or posted
// from another origin, changes nothing.
func TestConsole_CreateAndDeleteTopic(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := console.New(console.Config{Client: cl})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	exists := func(name string) bool {
		m, err := kadm.NewClient(cl).Metadata(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		td, ok := m.Topics[name]
		return ok && td.Err == nil
	}
	form := url.Values{"name": {"made-here"}, "partitions": {"3"}, "replication": {"1"}, "csrf": {console.Token(c)}}
	if code := post("/topics", url.Values{"name": {"made-here"}, "partitions": {"3"}, "replication": {"1"}}, ""); code != 403 || exists("made-here") {
		t.Fatalf("no token: %d", code)
	}
	if code := post("/topics", form, "http://evil.example"); code != 403 || exists("made-here") {
		t.Fatalf("another origin: %d", code)
	}
	bad := url.Values{"name": {"x"}, "partitions": {"none"}, "replication": {"1"}, "csrf": {console.Token(c)}}
	if code := post("/topics", bad, ""); code != 400 {
		t.Fatalf("bad partitions: %d", code)
	}
	if code := post("/topics", form, srv.URL); code != http.StatusSeeOther {
		t.Fatalf("create: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !exists("made-here") {
		if time.Now().After(deadline) {
			t.Fatal("the created topic does not exist")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := post("/topics/made-here/delete", url.Values{"csrf": {console.Token(c)}}, ""); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for exists("made-here") {
		if time.Now().After(deadline) {
			t.Fatal("the deleted topic still exists")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A config set and removed through the topic page's form, and a group's
// offsets reset through the group page's buttons, change the cluster.
func TestConsole_ConfigAndOffsetReset(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("t"), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("t", 0, 2, -1)
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{Client: cl})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("csrf", console.Token(c))
		resp, err := http.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
	}
	retention := func() string {
		rcs, err := adm.DescribeTopicConfigs(ctx, "t")
		if err != nil || len(rcs) != 1 {
			t.Fatal(err)
		}
		for _, cfg := range rcs[0].Configs {
			if cfg.Key == "retention.ms" && cfg.Source == 1 {
				return cfg.MaybeValue()
			}
		}
		return ""
	}
	committed := func() int64 {
		o, err := adm.FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := o.Lookup("t", 0)
		return r.At
	}
	post("/topics/t/config", url.Values{"key": {"retention.ms"}, "value": {"7200000"}})
	if got := retention(); got != "7200000" {
		t.Fatalf("retention.ms %q after setting it", got)
	}
	post("/topics/t/config", url.Values{"key": {"retention.ms"}, "value": {""}})
	if got := retention(); got != "" {
		t.Fatalf("retention.ms %q after removing it", got)
	}
	post("/groups/g/reset", url.Values{"to": {"latest"}})
	if got := committed(); got != 5 {
		t.Fatalf("committed %d after a reset to the latest", got)
	}
	post("/groups/g/reset", url.Values{"to": {"earliest"}})
	if got := committed(); got != 0 {
		t.Fatalf("committed %d after a reset to the earliest", got)
	}
	// A group that committed nothing has nothing to reset: no offsets
	// appear for it.
	resp, err := http.PostForm(srv.URL+"/groups/never/reset", url.Values{"to": {"latest"}, "csrf": {console.Token(c)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("reset of a group without commits: %d", resp.StatusCode)
	}
	if o, err := adm.FetchOffsets(ctx, "never"); err != nil || len(o.Offsets()) != 0 {
		t.Fatalf("offsets committed for a group that had none: %v %v", o.Offsets(), err)
	}
}

// With sampling, the overview charts the records produced per second and
// a group's page its lag over time.
func TestConsole_ChartsOverTime(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("flow"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "flow"); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.AddOffset("flow", 0, 0, -1)
	if _, err := adm.CommitOffsets(ctx, "slow", offs); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{Client: cl, SampleInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if p := get("/"); !strings.Contains(p, "chart appears after two samples") && !strings.Contains(p, "<polyline") {
		t.Fatalf("overview without a chart section:\n%s", p)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")})
		over, group := get("/"), get("/groups/slow")
		if strings.Contains(over, "<polyline") && strings.Contains(group, "Lag over time") && strings.Contains(group, "<polyline") &&
			!strings.Contains(over, "max 1<") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no charts:\n%s\n%s", over, group)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := get("/?refresh=1"); !strings.Contains(p, `<meta http-equiv="refresh" content="2">`) {
		t.Fatal("no refresh (bounded to 2 s) on a live overview")
	}
	bare, err := console.New(console.Config{Client: cl, SampleInterval: -1, AllowedHosts: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(rec.Body.String(), "Records produced per second") {
		t.Fatal("a chart without sampling")
	}
	// Another host name (a rebound DNS name) is refused; pages refuse to
	// be framed.
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "attacker.example:8080"
	bare.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("another host: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("framing allowed: %v", rec.Header())
	}
}
