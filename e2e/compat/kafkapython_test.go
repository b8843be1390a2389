package compat

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// The seed's snippets, kept verbatim in testdata; seedBootstrap is the only
// text the tests replace.
const (
	seedProducer  = "testdata/seed003_producer.py"
	seedConsumer  = "testdata/seed003_consumer.py"
	seedBootstrap = "'localhost:9092'"
	seedTopic     = "test_topic"
)

// seedMessages is what the seed's consumer prints for the producer's sends.
var seedMessages = []string{
	"Received message: This is message 1",
	"Received message: This is message 2",
	"Received message: This is message 3",
}

// consumerPrelude runs before the verbatim consumer snippet. It only turns on
// kafka-python's fetcher debug log, on stderr, so the test can tell when the
// consumer has its fetch positions: the snippet's consumer starts at the log
// end (auto_offset_reset='latest'), so the producer must wait for that.
const consumerPrelude = `import logging, sys
_h = logging.StreamHandler(sys.stderr)
_h.setFormatter(logging.Formatter('harness: %(message)s'))
_l = logging.getLogger('kafka.consumer.fetcher')
_l.setLevel(logging.DEBUG)
_l.addHandler(_h)
`

// seedScript returns a seed snippet with the bootstrap address replaced,
// written to a file in a temp dir.
func seedScript(t *testing.T, path, prelude, addr string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	if n := strings.Count(src, seedBootstrap); n != 1 {
		t.Fatalf("%s: %d occurrences of %s, want 1 (snippet changed?)", path, n, seedBootstrap)
	}
	src = prelude + strings.Replace(src, seedBootstrap, "'"+addr+"'", 1)
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// lineWatcher collects a stream's lines and lets a test wait for a condition
// over them.
type lineWatcher struct {
	mu       sync.Mutex
	lines    []string
	cond     *sync.Cond
	done     bool
	finished chan struct{} // closed when the reader goroutine returns
}

func watchLines(r io.Reader) *lineWatcher {
	w := &lineWatcher{finished: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go func() { // ends at EOF, when the process exits or is killed
		defer close(w.finished)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.done = true
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	return w
}

// waitFor blocks until ok(lines) holds, the stream ends, or d passes.
func (w *lineWatcher) waitFor(d time.Duration, ok func([]string) bool) bool {
	expired := false // guarded by w.mu
	stop := time.AfterFunc(d, func() {
		w.mu.Lock()
		expired = true
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for !ok(w.lines) && !w.done && !expired {
		w.cond.Wait()
	}
	return ok(w.lines)
}

func (w *lineWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// pythonConsumer is the seed's consumer snippet running under python.
type pythonConsumer struct {
	cmd            *exec.Cmd
	stdout, stderr *lineWatcher
}

func startSeedConsumer(t *testing.T, python, addr string) *pythonConsumer {
	t.Helper()
	script := seedScript(t, seedConsumer, consumerPrelude, addr)
	c, cancel := context.WithTimeout(context.Background(), 3*cmdTimeout)
	cmd := exec.CommandContext(c, python, "-u", script) // -u: lines as printed
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pc := &pythonConsumer{cmd: cmd, stdout: watchLines(outR), stderr: watchLines(errR)}
	t.Cleanup(func() {
		cancel() // kills the consumer, which otherwise loops forever
		// Drain both pipes before Wait closes them.
		for _, w := range []*lineWatcher{pc.stdout, pc.stderr} {
			select {
			case <-w.finished:
			case <-time.After(cmdTimeout):
				t.Errorf("consumer output still open %v after kill", cmdTimeout)
			}
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- consumer stdout ---\n%s\n--- consumer stderr ---\n%s", pc.stdout.text(), pc.stderr.text())
		}
	})
	return pc
}

// waitPositioned waits until the consumer fetches every partition of topic.
func (pc *pythonConsumer) waitPositioned(t *testing.T, partitions int) {
	t.Helper()
	var want []string
	for p := range partitions {
		want = append(want, fmt.Sprintf("Adding fetch request for partition TopicPartition(topic='%s', partition=%d)", seedTopic, p))
	}
	ok := pc.stderr.waitFor(cmdTimeout, func(lines []string) bool {
		for _, w := range want {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, w) }) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the seed consumer never fetched all %d partition(s) of %s", partitions, seedTopic)
	}
}

// received waits for the seed's three messages and returns the consumer's
// output lines.
func (pc *pythonConsumer) received(t *testing.T) []string {
	t.Helper()
	pc.stdout.waitFor(cmdTimeout, func(lines []string) bool { return len(lines) >= len(seedMessages) })
	pc.stdout.mu.Lock()
	defer pc.stdout.mu.Unlock()
	return slices.Clone(pc.stdout.lines)
}

// waitTopicPartitions waits for topic to exist (auto-created by a client)
// and returns its partition count.
func waitTopicPartitions(t *testing.T, addr, topic string) int {
	t.Helper()
	adm := admin(t, addr)
	deadline := time.Now().Add(cmdTimeout)
	for time.Now().Before(deadline) {
		td, err := adm.ListTopics(ctx(t), topic)
		if err == nil {
			if d, ok := td[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
				return len(d.Partitions)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("topic %s never appeared", topic)
	return 0
}

// runSeedProducer runs the seed's producer snippet; it must exit 0 (its
// atexit handler flushes the three sends).
func runSeedProducer(t *testing.T, python, addr string) {
	t.Helper()
	script := seedScript(t, seedProducer, "", addr)
	mustRun(t, "", python, "-u", script)
}

// TestKafkaPython_SeedSnippets runs the seed's consumer and producer as a
// user would, consumer first, against a broker where test_topic does not
// exist: kafka-python's Metadata v0/v1 requests must auto-create it, and the
// three messages must arrive in order.
func TestKafkaPython_SeedSnippets(t *testing.T) {
	python := fjordtest.RequireTool(t, fjordtest.ToolKafkaPython)
	b := startBroker(t)

	consumer := startSeedConsumer(t, python, b.Addr())
	partitions := waitTopicPartitions(t, b.Addr(), seedTopic)
	consumer.waitPositioned(t, partitions)
	runSeedProducer(t, python, b.Addr())

	got := consumer.received(t)
	want := seedMessages
	if partitions > 1 {
		// Unkeyed sends spread over partitions; order holds only within one.
		t.Logf("auto-created %s has %d partitions (num.partitions); checking the messages as a set", seedTopic, partitions)
		got, want = sorted(got), sorted(want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("seed consumer printed %q, want %q", got, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
