package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// envTestBootstrap, when set, points these tests at a running broker (e.g.
// a Fjord node) instead of an in-process kfake cluster. Every test then uses
// topic and group names of its own, so a shared broker works.
const envTestBootstrap = "FJORD_TEST_BOOTSTRAP"

// testEnv is a broker to run fjord against and the names this test owns.
type testEnv struct {
	t      *testing.T
	addr   string
	prefix string // unique per test, so tests can share an external broker
}

// newEnv starts a one-broker kfake cluster (or uses $FJORD_TEST_BOOTSTRAP)
// and creates the seed topics, named by e.name, with partitions partitions
// each, through `fjord topic create` itself.
func newEnv(t *testing.T, partitions int32, seeds ...string) *testEnv {
	t.Helper()
	e := &testEnv{t: t, addr: startBroker(t), prefix: fmt.Sprintf("t%d-%d", time.Now().UnixNano(), rand.IntN(1<<30))}
	for _, s := range seeds {
		e.ok("", "topic", "create", e.name(s), "--partitions", fmt.Sprint(partitions), "--replication-factor", "1")
	}
	return e
}

// startBroker returns the bootstrap address of the broker under test.
func startBroker(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv(envTestBootstrap); addr != "" {
		return addr
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// name returns this test's private name for a topic or group.
func (e *testEnv) name(base string) string { return e.prefix + "-" + base }

// result is one command's outcome.
type result struct {
	stdout, stderr string
	code           int
}

// run executes fjord with stdin against the test broker (a 10s --timeout
// keeps a hung command from hanging the test, and tests may override it).
func (e *testEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return runFjord(e.t, stdin, append([]string{"--bootstrap-server", e.addr, "--timeout", "10s"}, args...)...)
}

// ok runs and fails the test unless the exit code is 0.
func (e *testEnv) ok(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != ExitOK {
		e.t.Fatalf("fjord %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func runFjord(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := NewRoot()
	root.SetIn(strings.NewReader(stdin))
	var out, errb bytes.Buffer
	code := ExecuteContext(ctx, root, args, &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// decode parses JSON output into v, failing the test on bad JSON.
func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}

// mustContain fails unless s holds every want.
func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

func TestNewRoot_ExtraCommandsAndHelp(t *testing.T) {
	ran := false
	server := &cobra.Command{Use: "server", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	root := NewRoot(server)
	var out, errb bytes.Buffer
	if code := ExecuteContext(context.Background(), root, []string{"server"}, &out, &errb); code != ExitOK || !ran {
		t.Fatalf("server: exit %d, ran %v; stderr %s", code, ran, errb.String())
	}
	r := runFjord(t, "", "--help")
	mustContain(t, "help", r.stdout, "topic", "produce", "consume", "cluster", "bench", "--bootstrap-server")

	// Execute (with its signal handling) runs the same way.
	out.Reset()
	if code := Execute(NewRoot(), []string{"topic"}, &out, &errb); code != ExitOK {
		t.Fatalf("fjord topic: exit %d", code)
	}
	mustContain(t, "topic help", out.String(), "create", "describe", "alter-config", "add-partitions")
}

func TestExecute_UsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"topic", "list", "--nope"}, "unknown flag"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown verb", []string{"topic", "frobnicate"}, `unknown command "frobnicate" for "fjord topic"`},
		{"bad output", []string{"-o", "yaml", "topic", "list"}, "--output"},
		{"missing arg", []string{"topic", "delete"}, "requires at least 1 arg"},
		{"delete internal topic", []string{"topic", "delete", "t", "__consumer_offsets"}, "internal topic and is not allowed"},
		{"create without name", []string{"topic", "create"}, "no topic"},
		{"create two names", []string{"topic", "create", "a", "--topic", "b"}, "topic given twice"},
		{"bad config", []string{"topic", "create", "a", "--config", "novalue"}, "want key=value"},
		{"alter nothing", []string{"topic", "alter-config", "a"}, "nothing to change"},
		{"add partitions no count", []string{"topic", "add-partitions", "a"}, "--partitions"},
		{"offset without partition", []string{"consume", "t", "--offset", "5"}, "needs --partition"},
		{"two start points", []string{"consume", "t", "--from-beginning", "--offset", "earliest"}, "only one of"},
		{"bad format", []string{"consume", "t", "--format", "%x"}, "unknown directive"},
		{"format with json", []string{"consume", "t", "-o", "json", "--format", "%v"}, "--format cannot"},
		{"group with partition", []string{"consume", "t", "--group", "g", "--partition", "0"}, "--partition cannot"},
		{"bad timestamp", []string{"consume", "t", "--from-timestamp", "yesterday"}, "RFC3339"},
		{"bad acks", []string{"produce", "t", "--acks", "2"}, "acks"},
		{"bad header", []string{"produce", "t", "--header", "x"}, "want key=value"},
		{"bench without stop", []string{"bench", "produce"}, "--records"},
		{"bench idempotent acks 1", []string{"bench", "produce", "--records", "1", "--acks", "1", "--idempotent"}, "idempotent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing listens here; usage errors must be caught first.
			r := runFjord(t, "", append([]string{"--bootstrap-server", "127.0.0.1:1"}, tt.args...)...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d (usage)\nstderr: %s", r.code, ExitUsage, r.stderr)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestExecute_ConnectionRefusedHint(t *testing.T) {
	addr := freeAddr(t)
	for _, args := range [][]string{
		{"topic", "list"}, {"topic", "create", "x"}, {"cluster", "info"}, {"cluster", "api-versions"}, {"cluster", "reassign", "--list"},
		{"cluster", "rebalance"}, {"cluster", "decommission", "1"},
		{"produce", "x"}, {"consume", "x"}, {"bench", "produce", "--records", "1"}, {"bench", "e2e", "--records", "1"},
	} {
		r := runFjord(t, "", append([]string{"--bootstrap-server", addr, "--timeout", "5s"}, args...)...)
		if r.code != ExitError {
			t.Fatalf("%v: exit %d, want %d\nstderr: %s", args, r.code, ExitError, r.stderr)
		}
		mustContain(t, "stderr", r.stderr, "Error:", "is a broker running at "+addr+"? start one with `fjord server`")
	}
}

func TestExecute_BootstrapFromEnv(t *testing.T) {
	e := newEnv(t, 1, "from-env")
	t.Setenv(EnvBootstrapServer, e.addr)
	r := runFjord(t, "", "topic", "list")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "stdout", r.stdout, e.name("from-env"))
}

func TestClusterInfo(t *testing.T) {
	e := newEnv(t, 1)
	var info clusterInfoJSON
	decode(t, e.ok("", "cluster", "info", "-o", "json").stdout, &info)
	if len(info.Brokers) == 0 || info.ClusterID == "" {
		t.Fatalf("info = %+v: want brokers and a cluster ID", info)
	}
	isBroker := false
	for _, b := range info.Brokers {
		isBroker = isBroker || b.NodeID == info.Controller
		if b.Host == "" || b.Port <= 0 {
			t.Errorf("broker %+v has no address", b)
		}
	}
	if !isBroker {
		t.Errorf("controller %d is not among the brokers %+v", info.Controller, info.Brokers)
	}

	b := info.Brokers[0]
	r := e.ok("", "cluster", "info")
	mustContain(t, "table", r.stdout, "Cluster ID: "+info.ClusterID, fmt.Sprintf("Controller: %d", info.Controller),
		"ID", "ADDRESS", fmt.Sprintf("%s:%d", b.Host, b.Port))
}

func TestClusterAPIVersions(t *testing.T) {
	e := newEnv(t, 1)
	var out []brokerAPIsJSON
	decode(t, e.ok("", "cluster", "api-versions", "-o", "json").stdout, &out)
	if len(out) == 0 || len(out[0].APIs) == 0 {
		t.Fatalf("api-versions JSON = %+v: want brokers with APIs", out)
	}
	found := false
	for _, a := range out[0].APIs {
		if a.Key == 18 {
			found = true
			if a.Name != "ApiVersions" || a.MinVersion > a.MaxVersion || a.Usable < a.MinVersion {
				t.Errorf("ApiVersions entry %+v", a)
			}
		}
	}
	if !found {
		t.Errorf("no ApiVersions (18) in %+v", out[0].APIs)
	}

	b := out[0]
	r := e.ok("", "cluster", "api-versions")
	mustContain(t, "table", r.stdout, fmt.Sprintf("%s:%d (id: %d) -> (", b.Host, b.Port, b.NodeID),
		"Produce(0): ", "Fetch(1): ", "ApiVersions(18): ", "[usable: ")
}

// TestExecute_TimeoutHint points fjord at a listener that accepts
// connections and never answers, as a hung broker would.
func TestExecute_TimeoutHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() { l.Close(); <-done }()

	r := runFjord(t, "", "--bootstrap-server", l.Addr().String(), "--timeout", "300ms", "topic", "list")
	if r.code != ExitError {
		t.Fatalf("exit %d, want %d\nstderr: %s", r.code, ExitError, r.stderr)
	}
	mustContain(t, "stderr", r.stderr, "Error: ", "Hint: no answer from "+l.Addr().String()+" within --timeout 300ms")
}
