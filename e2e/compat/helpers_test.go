package compat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// cmdTimeout bounds every external command and client call; it catches
// hangs and is not a performance assertion.
const cmdTimeout = 60 * time.Second

// startBroker starts a broker process for the current target on a fresh
// data directory.
func startBroker(t *testing.T, overrides ...string) *fjordtest.Process {
	t.Helper()
	return fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir(), overrides...)
}

// ctx returns a context bounded by cmdTimeout and cancelled at test end.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	t.Cleanup(cancel)
	return c
}

// admin returns a kadm client for addr, closed at test end.
func admin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic creates a topic with replication factor 1 and fails t on error.
func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	resp, err := admin(t, addr).CreateTopic(ctx(t), partitions, -1, nil, topic) // default.replication.factor
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// cmdResult is the outcome of an external command.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// run executes a command with stdin, bounded by cmdTimeout. A non-zero exit
// is returned in code, not as a failure; failing to run at all fails t.
func run(t *testing.T, stdin string, name string, args ...string) cmdResult {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(c, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cmdResult{stdout: out.String(), stderr: errb.String()}
	if c.Err() != nil {
		t.Fatalf("%s %s: no exit within %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), cmdTimeout, tail(res.stdout), tail(res.stderr))
	}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// mustRun is run that fails t on a non-zero exit.
func mustRun(t *testing.T, stdin string, name string, args ...string) cmdResult {
	t.Helper()
	res := run(t, stdin, name, args...)
	if res.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), res.code, tail(res.stdout), tail(res.stderr))
	}
	return res
}

// tail keeps failure messages readable: the last 4 KiB of s.
func tail(s string) string {
	const n = 4 << 10
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes ...]\n%s", len(s)-n, s[len(s)-n:])
}
