package connect

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

func writeProps(t *testing.T, path string, kv ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s=%s\n", kv[i], kv[i+1])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readLines returns the file's complete lines (a torn last line, which a
// killed sink may leave, is not one).
func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return out
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
}

// Issue 10's standalone test: a 100,000-line file is copied through a topic
// by a FileStreamSource and a FileStreamSink in a standalone worker
// process, which is SIGKILLed midway and restarted on the same offset
// file: every line arrives, in order, and the only duplicates are lines
// re-sent within the at-least-once window (after the last offset commit
// before the kill); offsets resume rather than restart from the start.
func TestStandalone_FileCopySurvivesSIGKILL(t *testing.T) {
	bin := fjordtest.BuildFjord(t)
	broker := fjordtest.StartProcess(t, bin, t.TempDir())
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	const n, chunk = 100_000, 1000
	// The file grows while the worker copies it (a chunk every 40 ms, as
	// a log being written), so the kill lands in the middle of the copy
	// whatever the machine's speed.
	pad := strings.Repeat("x", 88)
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan error, 1)
	go func() {
		defer f.Close()
		for c := 0; c < n/chunk; c++ {
			var b strings.Builder
			for i := c * chunk; i < (c+1)*chunk; i++ {
				fmt.Fprintf(&b, "line-%06d-%s\n", i, pad)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		writerDone <- nil
	}()
	worker, src, dst := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "source.properties"), filepath.Join(dir, "sink.properties")
	writeProps(t, worker, "bootstrap.servers", broker.Addr(), "listeners", "http://127.0.0.1:0",
		"key.converter", "org.apache.kafka.connect.storage.StringConverter",
		"value.converter", "org.apache.kafka.connect.storage.StringConverter",
		"offset.storage.file.filename", filepath.Join(dir, "offsets"), "offset.flush.interval.ms", "300",
		// The killed worker's consumer leaves the group when its session ends.
		"consumer.session.timeout.ms", "6000", "consumer.heartbeat.interval.ms", "500")
	writeProps(t, src, "name", "src", "connector.class", "FileStreamSource", "file", in, "topic", "lines", "batch.size", "500")
	writeProps(t, dst, "name", "dst", "connector.class", "FileStreamSink", "file", out, "topics", "lines")
	w := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "standalone", worker, src, dst)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	waitLines := func(what string, want int) {
		t.Helper()
		for len(readLines(out)) < want {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %d lines in the sink's file\n%s", what, len(readLines(out)), w.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLines("a fifth of the copy", n/5)
	// The kill must come after the sink's first offset commit, so that
	// the restart shows offsets resuming rather than a replay.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var committed int64
	for committed == 0 {
		if offs, err := adm.FetchOffsets(ctx, "connect-dst"); err == nil {
			offs.Each(func(o kadm.OffsetResponse) { committed += max(o.At, 0) })
		}
		if ctx.Err() != nil {
			t.Fatalf("the sink committed no offset\n%s", w.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.Kill()
	killedAt := len(readLines(out))
	if killedAt >= n {
		t.Fatalf("the copy ended before the kill (%d lines): the test did not kill mid-copy", killedAt)
	}
	time.Sleep(500 * time.Millisecond) // down for a while: the file grows meanwhile
	w.Restart(t)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	// Every line arrives (the first copy of each, in order), duplicates
	// only from the window around the kill.
	for {
		got := readLines(out)
		seen := map[string]bool{}
		var firsts []string
		for _, l := range got {
			if !seen[l] {
				seen[l] = true
				firsts = append(firsts, l)
			}
		}
		if len(firsts) == n {
			for i, l := range firsts {
				if want := fmt.Sprintf("line-%06d-%s", i, pad); l != want {
					t.Fatalf("line %d of the copy is %q, want %q: out of order", i, l, want)
				}
			}
			dups := len(got) - n
			t.Logf("%d lines copied; %d written before the kill, %d of them committed by the sink; %d duplicates (the at-least-once window)",
				n, killedAt, committed, dups)
			if dups >= killedAt {
				t.Fatalf("%d duplicates, more than the %d lines written before the kill: offsets did not resume", dups, killedAt)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("after the restart: %d of %d distinct lines\n%s", len(firsts), n, w.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
