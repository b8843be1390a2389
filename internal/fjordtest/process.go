//go:build unix

package fjordtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on waiting for a broker process. Generous because CI shares two
// cores between the broker, the clients and the test; they bound a hang, they
// are not performance assertions.
const (
	// ReadyTimeout bounds the wait for the `bootstrap=` line after a start.
	ReadyTimeout = 60 * time.Second
	// StopTimeout bounds the wait for exit after SIGTERM (and after SIGKILL).
	StopTimeout = 30 * time.Second
)

// bootstrapMarker precedes the broker's host:port on its ready line.
const bootstrapMarker = "bootstrap="

// Process is one `fjord server` process (and its later restarts) on one data
// directory. Its methods may be called from any goroutine.
type Process struct {
	t       testing.TB
	bin     string
	dataDir string
	out     *output

	mu      sync.Mutex
	args    []string      // guarded by mu: arguments of the next start
	cmd     *exec.Cmd     // guarded by mu: the current or last run
	done    chan struct{} // guarded by mu: closed when the current run has exited
	exitErr error         // guarded by mu: cmd.Wait's result, valid once done is closed
	addr    string        // guarded by mu: bootstrap host:port of the last start
	starts  int           // guarded by mu

	pinIndex     int           // index in args of the listeners override to pin; 0 none
	readyTimeout time.Duration // bound on each start's wait for the ready line
	stopTimeout  time.Duration // bound on each wait for exit
	marker       string        // what precedes the address in the ready line ("" is bootstrapMarker)
}

// StartProcess runs `BIN server --data-dir DATADIR --override K=V...` and
// waits until the broker prints its `bootstrap=` line. overrides are
// "key=value" strings (Kafka config keys). Without a listeners override the
// first start listens on 127.0.0.1:0; later restarts reuse the port it
// reported so clients can reconnect. If advertised.listeners is given without
// listeners, a free port is chosen up front, because the reported bootstrap
// address may then be the advertised one. An explicit listeners override is
// used as given on every start. The process is killed when the test ends, and
// its output is logged if the test failed.
func StartProcess(t testing.TB, bin, dataDir string, overrides ...string) *Process {
	t.Helper()
	p, err := newProcess(t, bin, dataDir, overrides)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cleanup)
	if err := p.launch(); err != nil {
		t.Fatalf("start broker: %v\n--- broker output ---\n%s", err, p.out.tail(failDumpSize))
	}
	return p
}

// StartCommand runs `BIN ARGS...` as given, for fjord commands other than
// `server` that print the same `bootstrap=` ready line (`fjord dev cluster`,
// whose bootstrap is a comma-separated list; Addr returns it whole), and
// waits for that line. Restarts reuse the arguments unchanged. The process
// is killed when the test ends, and its output is logged if the test
// failed.
func StartCommand(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{
		t: t, bin: bin, out: &output{}, args: args,
		readyTimeout: ReadyTimeout, stopTimeout: StopTimeout,
	}
	t.Cleanup(p.cleanup)
	if err := p.start(); err != nil {
		t.Fatalf("start %s: %v\n--- output ---\n%s", strings.Join(args, " "), err, p.out.tail(failDumpSize))
	}
	return p
}

// StartCommandMarked is StartCommand for a command whose ready line gives
// its address after marker instead of "bootstrap=" (`fjord connect
// standalone` prints its REST API's as "rest=").
func StartCommandMarked(t testing.TB, bin, marker string, args ...string) *Process {
	t.Helper()
	p := &Process{
		t: t, bin: bin, out: &output{}, args: args, marker: marker,
		readyTimeout: ReadyTimeout, stopTimeout: StopTimeout,
	}
	t.Cleanup(p.cleanup)
	if err := p.start(); err != nil {
		t.Fatalf("start %s: %v\n--- output ---\n%s", strings.Join(args, " "), err, p.out.tail(failDumpSize))
	}
	return p
}

// newProcess prepares the first start's arguments.
func newProcess(t testing.TB, bin, dataDir string, overrides []string) (*Process, error) {
	p := &Process{
		t: t, bin: bin, dataDir: dataDir, out: &output{},
		readyTimeout: ReadyTimeout, stopTimeout: StopTimeout,
	}
	hasListeners, hasAdvertised, hasHTTP := false, false, false
	for _, o := range overrides {
		k, _, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("override %q: want key=value", o)
		}
		switch strings.TrimSpace(k) {
		case "listeners":
			hasListeners = true
		case "advertised.listeners":
			hasAdvertised = true
		case "http.listeners":
			hasHTTP = true
		}
	}
	args := []string{"server", "--data-dir", dataDir}
	if !hasHTTP {
		// Tests run many brokers at once: none takes the default fixed
		// metrics port. None opens one on port 0 either: a port the
		// kernel hands out there may be one a cluster test picked
		// (FreeAddr) for another node's Kafka listener and not bound yet,
		// which then fails to start. Tests that scrape set it.
		args = append(args, "--override", "http.listeners=")
	}
	if !hasListeners {
		listen := "127.0.0.1:0"
		if hasAdvertised {
			listen = FreeAddr(t)
		}
		p.pinIndex = len(args) + 1
		args = append(args, "--override", "listeners=PLAINTEXT://"+listen)
	}
	for _, o := range overrides {
		args = append(args, "--override", o)
	}
	p.args = args
	return p, nil
}

// launch performs the first start and then pins the port the broker chose,
// so restarts listen where clients expect the broker.
func (p *Process) launch() error {
	if err := p.start(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pinIndex > 0 && strings.HasSuffix(p.args[p.pinIndex], ":0") {
		p.args[p.pinIndex] = "listeners=PLAINTEXT://" + p.addr
	}
	return nil
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago. A
// later listener may race for it; use it only where the port must be known
// before the broker starts (advertised listeners behind a Proxy).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return addr
}

// start launches the process with p.args and waits for its ready line.
func (p *Process) start() error {
	ready := make(chan string, 1)
	marker := p.marker
	if marker == "" {
		marker = bootstrapMarker
	}
	p.out.setOnLine(func(line string) {
		i := strings.Index(line, marker)
		if i < 0 {
			return
		}
		addr, _, _ := strings.Cut(line[i+len(marker):], " ")
		select {
		case ready <- strings.TrimSpace(addr):
		default: // only the first ready line of a run counts
		}
	})
	defer p.out.setOnLine(nil)

	p.mu.Lock()
	p.starts++
	p.out.note("start %d: %s %s", p.starts, p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("exec %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.addr = cmd, done, nil, ""
	p.mu.Unlock()
	// Reaps the process; ends when it exits, which cleanup guarantees.
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		p.out.note("exited: %v", exitString(err))
		close(done)
	}()

	timer := time.NewTimer(p.readyTimeout)
	defer timer.Stop()
	select {
	case addr := <-ready:
		// One address (`fjord server`), or a comma-separated list
		// (`fjord dev cluster`).
		for _, a := range strings.Split(addr, ",") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				p.killAndWait()
				return fmt.Errorf("ready line has bad address %q: %w", addr, err)
			}
		}
		p.mu.Lock()
		p.addr = addr
		p.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("broker exited before it was ready: %s", exitString(p.waitErr()))
	case <-timer.C:
		p.killAndWait()
		return fmt.Errorf("no %q line within %v", marker, p.readyTimeout)
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *Process) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// current returns the running command and its done channel, or nil if the
// process is not running.
func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil
	}
	select {
	case <-p.done:
		return nil, nil
	default:
		return p.cmd, p.done
	}
}

// Addr returns the bootstrap host:port the broker reported on its last start.
func (p *Process) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// ListenAddr returns the host:port the broker binds, from its listeners
// override; it differs from Addr when advertised.listeners points elsewhere
// (at a Proxy). Before the first start has pinned the port it may end in :0.
func (p *Process) ListenAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.args {
		if v, ok := strings.CutPrefix(a, "listeners="); ok {
			first, _, _ := strings.Cut(v, ",")
			if _, hp, ok := strings.Cut(first, "://"); ok {
				return hp
			}
		}
	}
	return ""
}

// DataDir returns the broker's data directory.
func (p *Process) DataDir() string { return p.dataDir }

// Output returns the broker's captured stdout and stderr across all starts,
// with "=== fjordtest: ... ===" lines marking starts and exits.
func (p *Process) Output() string { return p.out.String() }

// PID returns the process ID of the current run, or 0 if not running.
func (p *Process) PID() int {
	cmd, _ := p.current()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Running reports whether the process is alive (it may be paused).
func (p *Process) Running() bool {
	cmd, _ := p.current()
	return cmd != nil
}

// Kill sends SIGKILL and waits for the process to be reaped. Killing a
// process that is not running does nothing.
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.killAndWait(); err != nil {
		p.t.Fatalf("kill broker: %v", err)
	}
}

func (p *Process) killAndWait() error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL pid %d: %w", cmd.Process.Pid, err)
	}
	return waitDone(done, p.stopTimeout)
}

func waitDone(done chan struct{}, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("process still running after %v", d)
	}
}

// Stop sends SIGTERM and waits up to StopTimeout for the process to exit. It
// returns an error if the broker did not exit in time (it is then killed) or
// exited unsuccessfully, as a clean shutdown is part of the contract.
func (p *Process) Stop() error { return p.stopWith(syscall.SIGTERM) }

// Interrupt is Stop with SIGINT, what Ctrl-C in a terminal sends.
func (p *Process) Interrupt() error { return p.stopWith(syscall.SIGINT) }

func (p *Process) stopWith(sig syscall.Signal) error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	// A paused process would sit on the signal until resumed.
	_ = cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%v pid %d: %w", sig, cmd.Process.Pid, err)
	}
	if err := waitDone(done, p.stopTimeout); err != nil {
		kerr := p.killAndWait()
		return errors.Join(fmt.Errorf("after %v: %w", sig, err), kerr)
	}
	if err := p.waitErr(); err != nil {
		return fmt.Errorf("after %v: %w", sig, err)
	}
	return nil
}

// Pause stops the process with SIGSTOP: its sockets stay open but nothing is
// read or answered, like a long GC pause or a hung machine.
func (p *Process) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig syscall.Signal) {
	p.t.Helper()
	cmd, _ := p.current()
	if cmd == nil {
		p.t.Fatalf("signal %v: broker is not running", sig)
		return
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to pid %d: %v", sig, cmd.Process.Pid, err)
	}
}

// Restart starts the broker again on the same data directory and port. A
// running broker is stopped first with SIGTERM (an unclean stop fails t);
// after Kill it simply starts again, which is how crash recovery is tested.
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	if p.Running() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop before restart: %v", err)
		}
	}
	if err := p.start(); err != nil {
		t.Fatalf("restart broker: %v\n--- broker output ---\n%s", err, p.out.tail(failDumpSize))
	}
}

// cleanup kills the process at the end of the test and shows its output if
// the test failed.
func (p *Process) cleanup() {
	if err := p.killAndWait(); err != nil {
		p.t.Errorf("kill broker at cleanup: %v", err)
	}
	if p.t.Failed() {
		p.t.Logf("--- broker output (%s) ---\n%s", p.dataDir, p.out.tail(failDumpSize))
	}
}
