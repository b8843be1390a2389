package rest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// recordingServer serves h and records each request's method, URI and
// body as it arrived.
type recordingServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRecordingServer(t *testing.T, h http.Handler) *recordingServer {
	t.Helper()
	rs := &recordingServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.seen = append(rs.seen, r.Method+" "+r.URL.RequestURI()+" "+string(b))
		rs.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

func TestForward_ToLeader(t *testing.T) {
	leaderHerder := newFakeHerder()
	leaderHerder.configs["a"] = map[string]string{"name": "a", "connector.class": sinkClass}
	leader := newRecordingServer(t, NewHandler(leaderHerder, Options{}))

	follower := newFakeHerder()
	follower.err = &connect.NotLeaderError{LeaderURL: leader.URL + "/"}
	h := NewHandler(follower, Options{})

	// A write: same method, path, query and body; the answer relayed
	// with its status and Location.
	body := `{"name":"b","config":{"connector.class":"FileStreamSink"}}`
	status, hdr, got := request(t, h, "POST", "/connectors?x=1", body)
	if status != http.StatusCreated || hdr.Get("Location") != "/connectors/b" || !strings.Contains(got, `"name":"b"`) {
		t.Fatalf("forwarded create: %d %v %s", status, hdr, got)
	}
	if _, ok := leaderHerder.configs["b"]; !ok {
		t.Fatal("the leader did not create the connector")
	}
	if reqs := leader.requests(); len(reqs) != 1 || reqs[0] != "POST /connectors?forward=true&x=1 "+body {
		t.Fatalf("leader saw %q", reqs)
	}

	// The leader's errors come back as they are.
	status, _, got = request(t, h, "POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSink"}}`)
	if status != http.StatusConflict || !sameJSON(t, got, errBody(409, "Connector a already exists")) {
		t.Fatalf("forwarded conflict: %d %s", status, got)
	}

	// Escaped path segments stay escaped.
	status, _, _ = request(t, h, "PUT", "/connectors/a%2Fb/pause", "")
	if reqs := leader.requests(); status != 404 || !strings.HasPrefix(reqs[len(reqs)-1], "PUT /connectors/a%2Fb/pause?forward=true") {
		t.Fatalf("escaped path: %d, leader saw %q", status, reqs[len(reqs)-1])
	}
}

// Two workers that each name the other as leader: the request goes A to
// B (forward=true), B to A (forward=false), and A gives up with 409; no
// loop.
func TestForward_AtMostTwoHops(t *testing.T) {
	var aURL string
	bHerder := newFakeHerder()
	b := newRecordingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHerder.err = &connect.NotLeaderError{LeaderURL: aURL}
		NewHandler(bHerder, Options{}).ServeHTTP(w, r)
	}))
	aHerder := newFakeHerder()
	aHerder.err = &connect.NotLeaderError{LeaderURL: b.URL}
	a := newRecordingServer(t, NewHandler(aHerder, Options{}))
	aURL = a.URL

	resp, err := http.Post(a.URL+"/connectors/x/restart", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !sameJSON(t, string(got), errBody(409, msgTwoHops)) {
		t.Fatalf("answer %d %s", resp.StatusCode, got)
	}
	want := []string{"POST /connectors/x/restart ", "POST /connectors/x/restart?forward=false "}
	if reqs := a.requests(); len(reqs) != 2 || reqs[0] != want[0] || reqs[1] != want[1] {
		t.Fatalf("A saw %q", reqs)
	}
	if reqs := b.requests(); len(reqs) != 1 || reqs[0] != "POST /connectors/x/restart?forward=true " {
		t.Fatalf("B saw %q", reqs)
	}
}

func TestForward_Timeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	f := newFakeHerder()
	f.err = &connect.NotLeaderError{LeaderURL: slow.URL}
	h := NewHandler(f, Options{ForwardTimeout: 50 * time.Millisecond})
	status, _, got := request(t, h, "PUT", "/connectors/a/pause", "")
	if status != http.StatusInternalServerError || !sameJSON(t, got, errBody(500, msgTimedOut)) {
		t.Fatalf("answer %d %s", status, got)
	}
}

func TestForward_LeaderUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	f := newFakeHerder()
	f.err = &connect.NotLeaderError{LeaderURL: url}
	status, _, got := request(t, NewHandler(f, Options{}), "DELETE", "/connectors/a", "")
	if status != http.StatusInternalServerError || !strings.Contains(got, "IO Error trying to forward REST request") {
		t.Fatalf("answer %d %s", status, got)
	}
}
