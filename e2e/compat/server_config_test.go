package compat

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// runServerExpectingFailure starts `fjord server` with args and expects it to
// exit non-zero on its own within a few seconds, returning its output.
func runServerExpectingFailure(t *testing.T, args ...string) string {
	t.Helper()
	bin := fjordtest.BuildFjord(t)
	cmd := exec.Command(bin, append([]string{"server", "--data-dir", t.TempDir()}, args...)...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("server with %v did not stop; output:\n%s", args, out)
	}
	if err == nil {
		t.Fatalf("server with %v exited 0; output:\n%s", args, out)
	}
	return string(out)
}

func TestServer_InvalidConfigStopsStartupNamingTheKey(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"override", []string{"--override", "log.segment.bytes=abc"}, "log.segment.bytes"},
		{"timestamp type", []string{"--override", "log.message.timestamp.type=Sometimes"}, "log.message.timestamp.type"},
		{"listener", []string{"--override", "listeners=nonsense"}, "listeners"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out := runServerExpectingFailure(t, c.args...); !strings.Contains(out, c.want) {
				t.Fatalf("output does not name %s:\n%s", c.want, out)
			}
		})
	}
	t.Run("config file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte("# broken\nnum.partitions=-3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := runServerExpectingFailure(t, "--config", path); !strings.Contains(out, "num.partitions") {
			t.Fatalf("output does not name num.partitions:\n%s", out)
		}
	})
}

func TestServer_ConfigFileAndUnknownKeyWarning(t *testing.T) {
	bin := fjordtest.BuildFjord(t)
	path := filepath.Join(t.TempDir(), "server.properties")
	props := "num.partitions=5\nsome.unknown.key=1\nlisteners=PLAINTEXT://127.0.0.1:0\nhttp.listeners=http://127.0.0.1:0\n"
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--config", path, "--data-dir", t.TempDir())
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, after, ok := strings.Cut(sc.Text(), "bootstrap="); ok {
				addr <- strings.Fields(after)[0]
			}
		}
	}()
	var bootstrap string
	select {
	case bootstrap = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not become ready; stderr:\n%s", stderr.String())
	}
	resp, err := admin(t, bootstrap).CreateTopic(ctx(t), -1, -1, nil, "defaults")
	if err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	if resp.NumPartitions != 5 {
		t.Fatalf("num.partitions from the config file not applied: %d partitions", resp.NumPartitions)
	}
	if !strings.Contains(stderr.String(), "some.unknown.key") {
		t.Fatalf("no warning naming the unknown key:\n%s", stderr.String())
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
