package chaos

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Forensics: when the ledger finds a lost or changed acknowledged record,
// the test prints what the producers' clients and every broker logged
// about that partition around the acknowledgement, so that one failing
// run (in CI, where the data folders are gone) is enough to trace it. A
// whole broker log does not fit a test's output; these lines do.
const (
	clientLogLines   = 200_000          // producer log lines kept (the most recent)
	forensicsBefore  = 15 * time.Second // the window opens this long before the first acknowledgement named
	forensicsAfter   = 5 * time.Second  // and closes this long after the last
	forensicsPerNode = 250              // lines shown per broker and per client log
	maxForensicParts = 2                // partitions traced
)

// clientLog keeps the producers' kgo log lines, each stamped with the
// time it was written, bounded to clientLogLines.
type clientLog struct {
	mu    sync.Mutex
	lines []string
}

// logger returns a kgo logger writing to l, each line prefixed by name.
func (l *clientLog) logger(name string) kgo.Logger {
	return kgo.BasicLogger(l, kgo.LogLevelInfo, func() string {
		return time.Now().UTC().Format("15:04:05.000") + " " + name + " "
	})
}

// Write implements io.Writer for kgo.BasicLogger (one line per call).
func (l *clientLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= clientLogLines {
		l.lines = append(l.lines[:0], l.lines[clientLogLines/2:]...)
	}
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *clientLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

var (
	problemPart = regexp.MustCompile(`^` + replTopic + `/(\d+) offset`)
	problemAck  = regexp.MustCompile(`\b(\d\d:\d\d:\d\d\.\d{3})\b`) // the acknowledgement times a problem names
)

// forensics prints, for the partitions the ledger's problems name, the
// client and broker log lines about them around the acknowledgements.
func (w *workload) forensics(t *testing.T, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	nodes := map[int32]string{}
	for _, n := range w.c.Nodes() {
		if n.Proc != nil {
			nodes[n.ID] = n.Proc.Output()
		}
	}
	for _, section := range forensicsReport(problems, w.clientLog.snapshot(), nodes) {
		t.Log(section)
	}
}

// forensicsReport picks, for each partition the problems name (at most
// maxForensicParts), the client lines and each node's lines about it
// between forensicsBefore the first acknowledgement named and
// forensicsAfter the last: one section of text per log.
func forensicsReport(problems, clientLines []string, nodes map[int32]string) []string {
	type window struct{ from, to string } // "15:04:05.000"
	parts := map[int]*window{}
	var order []int
	for _, p := range problems {
		m := problemPart.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		part, _ := strconv.Atoi(m[1])
		for _, a := range problemAck.FindAllStringSubmatch(p, -1) {
			win := parts[part]
			if win == nil {
				if len(parts) == maxForensicParts {
					break
				}
				win = &window{from: a[1], to: a[1]}
				parts[part] = win
				order = append(order, part)
			}
			win.from, win.to = min(win.from, a[1]), max(win.to, a[1])
		}
	}
	shift := func(clock string, d time.Duration) string {
		at, err := time.Parse("15:04:05.000", clock)
		if err != nil {
			return clock
		}
		return at.Add(d).Format("15:04:05.000")
	}
	var out []string
	for _, part := range order {
		win := parts[part]
		from, to := shift(win.from, -forensicsBefore), shift(win.to, forensicsAfter)
		pick := func(lines []string, clock func(string) string, about func(string) bool) []string {
			var got []string
			for _, l := range lines {
				if c := clock(l); c != "" && c >= from && c <= to && about(l) {
					got = append(got, l)
				}
			}
			if len(got) > forensicsPerNode {
				got = append([]string{fmt.Sprintf("[... %d earlier lines not shown ...]", len(got)-forensicsPerNode)}, got[len(got)-forensicsPerNode:]...)
			}
			return got
		}
		clientMark := fmt.Sprintf("partition: %d", part)
		got := pick(clientLines, func(l string) string { return l[:min(len(l), 12)] }, func(l string) bool {
			return strings.Contains(l, clientMark) || strings.Contains(l, "producer id") || strings.Contains(l, "epoch") ||
				strings.Contains(l, "sequence")
		})
		out = append(out, fmt.Sprintf("FORENSICS %s/%d, %s to %s UTC: producer client lines (%d):\n  %s", replTopic, part, from, to, len(got), strings.Join(got, "\n  ")))
		brokerMark := fmt.Sprintf("topic=%s partition=%d ", replTopic, part)
		for _, id := range slices.Sorted(maps.Keys(nodes)) {
			got := pick(strings.Split(nodes[id], "\n"), brokerClock, func(l string) bool {
				return strings.Contains(l, brokerMark) || strings.Contains(l, "fenced broker")
			})
			out = append(out, fmt.Sprintf("FORENSICS %s/%d, %s to %s UTC: node %d lines (%d):\n  %s", replTopic, part, from, to, id, len(got), strings.Join(got, "\n  ")))
		}
	}
	return out
}

// brokerClock returns the "15:04:05.000" of a broker log line's time=
// field (slog's text handler, UTC), or "".
func brokerClock(l string) string {
	rest, ok := strings.CutPrefix(l, "time=")
	if !ok || len(rest) < 23 {
		return ""
	}
	return rest[11:23]
}

func TestForensicsReport_PicksThePartitionAndWindow(t *testing.T) {
	problems := []string{
		`nemesis/2 offset 761: read back differs from acknowledged: key "a" != "b" (acknowledged at 16:59:29.666; read back from a batch of leader epoch 1)`,
		`nemesis/2 offset 761: acknowledged twice with different records: ...; acknowledged at 16:59:29.666 and 16:59:31.647`,
		`no partition here`,
	}
	client := []string{
		"16:59:10.000 w1 [INFO] too early; partition: 2",
		"16:59:20.000 w1 [INFO] produce retry; topic: nemesis, partition: 2",
		"16:59:20.100 w1 [INFO] produce retry; topic: nemesis, partition: 3",
		"16:59:30.000 w0 [INFO] bumping producer epoch",
		"16:59:37.000 w0 [INFO] too late; partition: 2",
	}
	nodes := map[int32]string{
		1: "time=2026-12-07T16:59:25.000Z level=INFO msg=\"partition state applied\" topic=nemesis partition=2 role=leader\n" +
			"time=2026-12-07T16:59:25.500Z level=INFO msg=x topic=nemesis partition=20 role=leader\n" +
			"time=2026-12-07T16:59:26.000Z level=WARN msg=\"fenced broker: its session expired\" node_id=3\n" +
			"time=2026-12-07T17:00:00.000Z level=INFO msg=late topic=nemesis partition=2 \n",
		2: "",
	}
	got := forensicsReport(problems, client, nodes)
	if len(got) != 3 {
		t.Fatalf("%d sections, want 3 (client, node 1, node 2): %q", len(got), got)
	}
	want := []struct{ in, out []string }{
		{[]string{"produce retry; topic: nemesis, partition: 2", "bumping producer epoch", "16:59:14.666 to 16:59:36.647"}, []string{"too early", "too late", "partition: 3"}},
		{[]string{"partition state applied", "fenced broker", "node 1 lines (2)"}, []string{"partition=20", "msg=late"}},
		{[]string{"node 2 lines (0)"}, nil},
	}
	for i, w := range want {
		for _, s := range w.in {
			if !strings.Contains(got[i], s) {
				t.Errorf("section %d lacks %q:\n%s", i, s, got[i])
			}
		}
		for _, s := range w.out {
			if strings.Contains(got[i], s) {
				t.Errorf("section %d has %q:\n%s", i, s, got[i])
			}
		}
	}
}
