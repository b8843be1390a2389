package cli

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeCluster is a kfake cluster whose answers a test may replace per API
// key, and which may advertise keys kfake does not serve (DescribeQuorum,
// 55), answering them from the test: the "tiny responder" for requests
// whose broker side lives elsewhere.
type fakeCluster struct {
	t    *testing.T
	c    *kfake.Cluster
	addr string

	mu       sync.Mutex
	requests map[int16][]kmsg.Request // guarded by mu: what the handlers saw
}

// newFakeCluster starts kfake with n brokers and the options given.
func newFakeCluster(t *testing.T, n int, opts ...kfake.Opt) *fakeCluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(n)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &fakeCluster{t: t, c: c, addr: c.ListenAddrs()[0], requests: map[int16][]kmsg.Request{}}
}

// answer makes every request of key get fn's response (its version set to
// the request's), and records the requests.
func (f *fakeCluster) answer(key int16, fn func(kmsg.Request) kmsg.Response) {
	f.c.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.c.KeepControl()
		f.mu.Lock()
		f.requests[key] = append(f.requests[key], req)
		f.mu.Unlock()
		resp := fn(req)
		resp.SetVersion(req.GetVersion())
		return resp, nil, true
	})
}

// seen returns the requests of key the fake answered.
func (f *fakeCluster) seen(key int16) []kmsg.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests[key])
}

// advertise adds key (versions 0 to maxVersion) to kfake's own ApiVersions
// answer, so clients send it; answer must then handle it.
func (f *fakeCluster) advertise(key, maxVersion int16) {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr))
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	cl.Close()
	if err != nil {
		f.t.Fatalf("kfake ApiVersions: %v", err)
	}
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = key, 0, maxVersion
	keys := append(slices.Clone(base.ApiKeys), k)
	f.answer(18, func(req kmsg.Request) kmsg.Response {
		resp := req.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = keys
		return resp
	})
}

// run executes fjord against the fake with a 10s --timeout.
func (f *fakeCluster) run(args ...string) result {
	f.t.Helper()
	return runFjord(f.t, "", append([]string{"--bootstrap-server", f.addr, "--timeout", "10s"}, args...)...)
}

// ok runs and fails the test unless the exit code is 0.
func (f *fakeCluster) ok(args ...string) result {
	f.t.Helper()
	r := f.run(args...)
	if r.code != ExitOK {
		f.t.Fatalf("fjord %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// mustEqual fails unless want and got are deeply equal, showing both (as
// text for strings, as JSON otherwise).
func mustEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return
	}
	if ws, ok := want.(string); ok {
		t.Errorf("%s:\nwant:\n%s\ngot:\n%s", what, ws, got)
		return
	}
	wj, _ := json.MarshalIndent(want, "", "  ")
	gj, _ := json.MarshalIndent(got, "", "  ")
	t.Errorf("%s:\nwant: %s\ngot:  %s", what, wj, gj)
}
