//go:build unix

package fjordtest

import (
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProcess starts the test binary as a fake broker in the given mode.
func fakeProcess(t *testing.T, mode string, overrides ...string) (*Process, error) {
	t.Helper()
	t.Setenv(fakeBrokerEnv, mode) // inherited by the child; restored after the test
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProcess(t, exe, t.TempDir(), overrides)
	if err != nil {
		t.Fatal(err)
	}
	p.readyTimeout = 20 * time.Second
	p.stopTimeout = 20 * time.Second
	if mode == "silent" {
		p.readyTimeout = 300 * time.Millisecond
	}
	if mode == "ignore-term" {
		p.stopTimeout = 300 * time.Millisecond
	}
	t.Cleanup(p.cleanup)
	return p, p.launch()
}

// startNumber asks the fake broker at addr which start of its data directory
// it is.
func startNumber(t *testing.T, addr string) int {
	t.Helper()
	c := dial(t, addr)
	send(t, c, frame(t, metadataReq(), 9))
	f, err := readFrame(c)
	if err != nil {
		t.Fatalf("fake broker at %s: %v", addr, err)
	}
	return int(binary.BigEndian.Uint32(f[8:12]))
}

func TestProcess_RestartKeepsPortAndDataDir(t *testing.T) {
	p, err := fakeProcess(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()
	if strings.HasSuffix(addr, ":0") || addr != p.ListenAddr() {
		t.Fatalf("Addr() = %q, ListenAddr() = %q: want the same chosen port", addr, p.ListenAddr())
	}
	if n := startNumber(t, addr); n != 1 {
		t.Fatalf("first start number %d", n)
	}

	p.Restart(t) // graceful: SIGTERM, then start
	if p.Addr() != addr {
		t.Fatalf("after restart Addr() = %q, want %q", p.Addr(), addr)
	}
	if n := startNumber(t, addr); n != 2 {
		t.Fatalf("after restart start number %d, want 2 (same data dir)", n)
	}

	p.Kill()
	if p.Running() {
		t.Fatal("Running() after Kill")
	}
	p.Kill() // killing a dead process is a no-op
	p.Restart(t)
	if n := startNumber(t, p.Addr()); n != 3 {
		t.Fatalf("after kill and restart start number %d, want 3", n)
	}

	out := p.Output()
	for _, want := range []string{"fake broker warming up", "fake broker stopping", "start 3:", "signal: killed", "exit status 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("Output() lacks %q:\n%s", want, out)
		}
	}
	if c := strings.Count(out, "fake broker stopping"); c != 1 {
		t.Errorf("Output() has %d graceful stops, want 1:\n%s", c, out)
	}
}

func TestProcess_StopIsClean(t *testing.T) {
	p, err := fakeProcess(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if p.Running() {
		t.Fatal("Running() after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop() = %v", err)
	}
}

func TestProcess_StopReportsBrokerIgnoringSIGTERM(t *testing.T) {
	p, err := fakeProcess(t, "ignore-term")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Stop() = %v, want a timeout error", err)
	}
	if p.Running() {
		t.Fatal("a broker that ignored SIGTERM must be killed by Stop")
	}
}

// procState returns the state letter from /proc/PID/stat (R, S, T, ...).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ...; comm may contain spaces, so cut after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return strings.Fields(s[i+1:])[0]
}

func TestProcess_PauseResume(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to observe the stopped state")
	}
	p, err := fakeProcess(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	p.Pause()
	waitFor(t, "state T after SIGSTOP", func() bool { return procState(t, p.PID()) == "T" })
	p.Resume()
	waitFor(t, "state not T after SIGCONT", func() bool { return procState(t, p.PID()) != "T" })
	if n := startNumber(t, p.Addr()); n != 1 {
		t.Fatalf("start number %d after resume", n)
	}
	p.Pause()
	if err := p.Stop(); err != nil { // Stop resumes a paused broker so it can exit
		t.Fatalf("Stop() of a paused broker = %v", err)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcess_StartFailures(t *testing.T) {
	tests := []struct {
		mode    string
		wantErr string
		wantOut string
	}{
		{mode: "exit", wantErr: "exited before it was ready: exit status 3", wantOut: "boom"},
		{mode: "silent", wantErr: `no "bootstrap=" line`},
		{mode: "bad-addr", wantErr: `bad address "nonsense"`},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p, err := fakeProcess(t, tt.mode)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("start error = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(p.Output(), tt.wantOut) {
				t.Fatalf("Output() = %q, want %q", p.Output(), tt.wantOut)
			}
			if p.Running() {
				t.Fatal("a broker that failed to start is still running")
			}
		})
	}
}

func TestProcess_AdvertisedListenerPinsPortUpFront(t *testing.T) {
	p, err := fakeProcess(t, "serve", "advertised.listeners=PLAINTEXT://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if la := p.ListenAddr(); strings.HasSuffix(la, ":0") || la != p.Addr() {
		t.Fatalf("ListenAddr() = %q, Addr() = %q: want a port chosen before start", la, p.Addr())
	}
}

func TestProcess_BehindProxySurvivesRestart(t *testing.T) {
	t.Setenv(fakeBrokerEnv, "serve")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, px := StartBehindProxy(t, exe, t.TempDir())
	if n := startNumber(t, px.Addr()); n != 1 {
		t.Fatalf("through proxy: start number %d", n)
	}
	p.Kill()
	p.Restart(t)
	if n := startNumber(t, px.Addr()); n != 2 {
		t.Fatalf("through proxy after restart: start number %d", n)
	}
}
