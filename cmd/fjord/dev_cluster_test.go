package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/cli"
)

// syncBuffer is an output both the command and the test touch.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devRun is one `fjord dev cluster` running in-process.
type devRun struct {
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan int // the exit code
}

// startDev runs `fjord dev cluster ARGS` and waits for its bootstrap line.
func startDev(t *testing.T, args ...string) (*devRun, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		root := cli.NewRoot(serverCommand(), devCommand())
		d.done <- cli.ExecuteContext(ctx, root, append([]string{"dev", "cluster"}, args...), d.out, d.errOut)
	}()
	t.Cleanup(func() { d.stop(t) })
	re := regexp.MustCompile(`bootstrap=(\S+)`)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(d.out.String()); m != nil {
			return d, m[1]
		}
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("dev cluster exited %d before it was ready\nstdout: %s\nstderr: %s", code, d.out, d.errOut)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no bootstrap line within 2 minutes\nstdout: %s\nstderr: %s", d.out, d.errOut)
	return nil, ""
}

// stop cancels the command, as Ctrl-C does, and returns its exit code.
func (d *devRun) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(time.Minute):
		t.Fatalf("dev cluster did not stop within a minute\nstdout: %s", d.out)
		return -1
	}
}

func TestDevCluster_RacksAndTemporaryData(t *testing.T) {
	d, bootstrap := startDev(t, "--nodes", "2", "--racks", "r1,r2")
	out := d.out.String()
	for _, want := range []string{"Cluster ID: ", "(temporary: removed on exit)", "NODE  CLIENT", "CONTROLLER", "r1", "r2", "node-1", "node-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := len(strings.Split(bootstrap, ",")); n != 2 {
		t.Fatalf("bootstrap %q: want 2 addresses", bootstrap)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	racks := map[int32]string{}
	for _, b := range m.Brokers {
		if b.Rack != nil {
			racks[b.NodeID] = *b.Rack
		}
	}
	if racks[1] != "r1" || racks[2] != "r2" {
		t.Errorf("racks %v: want node 1 in r1, node 2 in r2", racks)
	}
	tmp := regexp.MustCompile(`Data:\s+(\S+) \(temporary`).FindStringSubmatch(out)
	if code := d.stop(t); code != cli.ExitOK {
		t.Fatalf("exit %d after the interrupt\nstderr: %s", code, d.errOut)
	}
	if !strings.Contains(d.out.String(), "Stopped cleanly.") {
		t.Errorf("no clean stop reported:\n%s", d.out)
	}
	if tmp == nil {
		t.Fatalf("no temporary folder in:\n%s", out)
	}
	if _, err := os.Stat(tmp[1]); !os.IsNotExist(err) {
		t.Errorf("temporary folder %s left behind (%v)", tmp[1], err)
	}
}

// freeBlock finds n consecutive free loopback ports (a moment ago).
func freeBlock(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if ok = err == nil; ok {
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Skip("no block of free ports")
	return 0
}

func TestDevCluster_DataDirKeptAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	base := freeBlock(t, 2)
	d, bootstrap := startDev(t, "--nodes", "1", "--data-dir", dir, "--base-port", fmt.Sprint(base))
	if want := fmt.Sprintf("127.0.0.1:%d", base); bootstrap != want {
		t.Errorf("bootstrap %s, want %s", bootstrap, want)
	}
	if !strings.Contains(d.out.String(), fmt.Sprintf("127.0.0.1:%d", base+1)) {
		t.Errorf("controller port %d not printed:\n%s", base+1, d.out)
	}
	id := regexp.MustCompile(`Cluster ID: (\S+)`).FindStringSubmatch(d.out.String())
	if code := d.stop(t); code != cli.ExitOK || id == nil {
		t.Fatalf("exit %d, cluster ID %v\n%s", code, id, d.out)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-1", "meta.properties")); err != nil {
		t.Fatalf("--data-dir not kept: %v", err)
	}
	d2, _ := startDev(t, "--nodes", "1", "--data-dir", dir)
	if !strings.Contains(d2.out.String(), "Cluster ID: "+id[1]) {
		t.Errorf("second run is not cluster %s:\n%s", id[1], d2.out)
	}
	if code := d2.stop(t); code != cli.ExitOK {
		t.Errorf("second run: exit %d", code)
	}
}

func TestDevCluster_UsageErrors(t *testing.T) {
	// A cancelled context: a case that is no usage error fails to start
	// instead of serving forever.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"--nodes", "0"}, {"--nodes", "10"}, {"--racks", "a,,b"}, {"--base-port", "65534"}, {"--log-level", "loud"}, {"extra"},
	} {
		root := cli.NewRoot(serverCommand(), devCommand())
		var out, errb bytes.Buffer
		if code := cli.ExecuteContext(ctx, root, append([]string{"dev", "cluster"}, args...), &out, &errb); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, cli.ExitUsage, errb.String())
		}
	}
}

// A folder formatted by `fjord storage format` is one a node starts on,
// in the cluster it names.
func TestStorageFormat_NodeStartsOnIt(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "server.properties")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, []byte("node.id=1\nlog.dirs="+data+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const id = "mR7EkRIERB6CBt64gCo1zw"
	var out, errb bytes.Buffer
	if code := cli.ExecuteContext(context.Background(), cli.NewRoot(), []string{"storage", "format", "-t", id, "-c", cfg}, &out, &errb); code != cli.ExitOK {
		t.Fatalf("format: exit %d: %s", code, errb.String())
	}
	n, err := fjord.NewNode(fjord.WithDataDir(data), fjord.WithConfig("node.id", "1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster != id {
		t.Errorf("node serves cluster %q, want the formatted %q", m.Cluster, id)
	}
}
