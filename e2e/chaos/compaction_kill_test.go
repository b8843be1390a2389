package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Shape of TestChaos_KillNineDuringCompaction's workload: small segments and
// a near-zero dirty ratio keep the cleaner busy, so a kill is likely to land
// in the middle of a clean or just after one swapped segments.
const (
	compactTopic        = "chaos-compact"
	compactRounds       = 3
	compactPerRound     = 2000
	compactKeys         = 50
	compactSegmentBytes = "8192"
	// compactMaxKillDelay bounds the random pause between starting a
	// round's produce and the SIGKILL.
	compactMaxKillDelay = 300 * time.Millisecond
	// compactChunk records are produced every compactPace, so a round's
	// production spans roughly 400ms: the kill lands while it continues,
	// and the cleaner (which sleeps at least 100ms when idle) gets to run
	// in between.
	compactChunk = 50
	compactPace  = 10 * time.Millisecond
	// cleanedMarker is the message the node logs after each finished clean.
	cleanedMarker = `msg="cleaned log"`
)

// compactSent records what was sent: the key a value was sent under. Values are
// unique (they carry a global sequence number), so a value identifies a send.
type compactSent struct {
	mu   sync.Mutex
	keys map[string]string // guarded by mu: value -> key of every record sent
}

func (s *compactSent) add(key, value string) {
	s.mu.Lock()
	s.keys[value] = key
	s.mu.Unlock()
}

func (s *compactSent) keyOf(value string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[value]
	return k, ok
}

// TestChaos_KillNineDuringCompaction kills the broker with SIGKILL three times
// while a keyed workload is written to a compacted topic and the log cleaner
// compacts it, restarting on the same data directory each time. After every
// restart the whole partition is read back and checked against the ledger of
// acknowledged records:
//   - offsets strictly increase and every record read is one that was sent,
//     under the key it was sent with; a record at an acknowledged offset is
//     byte for byte the acknowledged one (compaction never moves or rewrites
//     records);
//   - an acknowledged record may be missing only if a later record with the
//     same key is present (compaction removes superseded records, nothing
//     else), so each key's last record is at or after its newest
//     acknowledged offset; with all sends acknowledged it is exactly the
//     newest acknowledged value.
//
// A clean interrupted by SIGKILL must leave either the old segments or the
// cleaned ones, never a mix that loses the newest value of a key or
// resurrects a removed one out of order.
func TestChaos_KillNineDuringCompaction(t *testing.T) {
	b := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir(),
		"log.cleaner.backoff.ms=20")
	createCompactedTopic(t, b.Addr())

	ledger := fjordtest.NewLedger()
	sent := &compactSent{keys: map[string]string{}}
	// franz-go's default producer: acks=all and idempotent, so a batch
	// retried across the crash is written once and in order, and after the
	// final flush every send is either acknowledged or failed.
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.DefaultProduceTopic(compactTopic),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MetadataMinAge(200*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var (
		mu     sync.Mutex
		failed = map[string]int{} // guarded by mu: failed produces by error text
	)
	seq := 0
	for round := 1; round <= compactRounds; round++ {
		c, cancel := context.WithTimeout(context.Background(), opTimeout)
		var wg sync.WaitGroup
		// Deferred so a round that fails still stops its producer
		// goroutine (cancel first, then wait) before the test returns.
		defer wg.Wait()
		defer cancel()
		wg.Add(1)
		go func(first int) {
			defer wg.Done()
			for i := range compactPerRound {
				if c.Err() != nil {
					return
				}
				if i > 0 && i%compactChunk == 0 {
					time.Sleep(compactPace)
				}
				n := first + i
				key := fmt.Sprintf("key-%02d", n%compactKeys)
				// The padding makes an 8 KiB segment hold ~50 records.
				value := fmt.Sprintf("%s-seq%09d-%s", key, n, strings.Repeat("v", 100+n%50))
				sent.add(key, value)
				cl.Produce(c, &kgo.Record{Key: []byte(key), Value: []byte(value)}, func(r *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						failed[err.Error()]++
						mu.Unlock()
						return
					}
					ledger.Ack(fjordtest.FromKgo(r))
				})
			}
		}(seq)
		seq += compactPerRound

		delay := rand.N(compactMaxKillDelay)
		time.Sleep(delay)
		ackedAtKill := ledger.Len()
		b.Kill()
		t.Logf("round %d: SIGKILL %v into the round, %d records acknowledged so far, %d cleans logged",
			round, delay, ackedAtKill, strings.Count(b.Output(), cleanedMarker))
		b.Restart(t)

		wg.Wait()
		// The client retries what the kill interrupted against the
		// restarted broker.
		if err := cl.Flush(c); err != nil {
			t.Fatalf("round %d: flush: %v", round, err)
		}
		checkCompacted(t, b.Addr(), ledger, sent, round)
	}

	mu.Lock()
	if len(failed) > 0 {
		t.Logf("failed produces: %v", failed)
	}
	mu.Unlock()
	out := b.Output()
	cleans := strings.Count(out, cleanedMarker)
	// Recovery deletes the half-written output of a clean the kill
	// interrupted; counting those shows how often a kill hit a clean.
	t.Logf("%d records sent, %d acknowledged, %d cleans logged, %d leftover cleaned segment(s) removed by recovery",
		seq, ledger.Len(), cleans, strings.Count(out, ".log.cleaned"))
	if cleans == 0 && fjordtest.CurrentTarget(t) == fjordtest.TargetFjord {
		// kfake does not compact; the data checks still run against it
		// to check the test itself.
		t.Errorf("the log cleaner never finished a clean; the test did not exercise compaction")
	}
	// A clean that fails on a recovered log (rather than being cut short
	// by shutdown, which is not logged) means recovery left it inconsistent.
	for _, bad := range []string{"panic:", "fatal error:", "DATA RACE", `msg="log cleaner failed"`} {
		if i := strings.Index(out, bad); i >= 0 {
			t.Errorf("broker output contains %q: %s", bad, clipOutput(out[i:]))
		}
	}
}

func clipOutput(s string) string {
	const n = 2000
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func createCompactedTopic(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	str := func(s string) *string { return &s }
	configs := map[string]*string{
		"cleanup.policy":            str("compact"),
		"segment.bytes":             str(compactSegmentBytes),
		"min.cleanable.dirty.ratio": str("0.01"),
		// Large, so no tombstone logic is involved (none are written).
		"delete.retention.ms": str("86400000"),
	}
	resp, err := kadm.NewClient(cl).CreateTopic(c, 1, 1, configs, compactTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", compactTopic, err)
	}
}

// checkCompacted reads the partition from its start to its end offset and
// checks it against the ledger of acknowledged records and the sent values.
func checkCompacted(t *testing.T, addr string, ledger *fjordtest.Ledger, sent *compactSent, round int) {
	t.Helper()
	got := readCompacted(t, addr)
	acked := map[int64]fjordtest.Record{}
	newestAcked := map[string]int64{} // key -> highest acknowledged offset
	for _, r := range ledger.Acked() {
		if prev, dup := acked[r.Offset]; dup && (string(prev.Key) != string(r.Key) || string(prev.Value) != string(r.Value)) {
			t.Errorf("round %d: offset %d acknowledged twice: %q and %q", round, r.Offset, clip(prev.Value), clip(r.Value))
		}
		acked[r.Offset] = r
		if o, ok := newestAcked[string(r.Key)]; !ok || r.Offset > o {
			newestAcked[string(r.Key)] = r.Offset
		}
	}

	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	present := map[int64]bool{}
	lastByKey := map[string]fjordtest.Record{}
	prev := int64(-1)
	for _, r := range got {
		if r.Offset <= prev {
			add("offset %d read after offset %d", r.Offset, prev)
		}
		prev = r.Offset
		present[r.Offset] = true
		lastByKey[string(r.Key)] = r
		if a, ok := acked[r.Offset]; ok {
			if string(a.Key) != string(r.Key) || string(a.Value) != string(r.Value) {
				add("offset %d: read %q=%q, acknowledged %q=%q", r.Offset, r.Key, clip(r.Value), a.Key, clip(a.Value))
			}
			continue
		}
		// Not acknowledged: a send whose acknowledgement was lost in the
		// kill. It must still be something that was sent, under its key.
		if k, ok := sent.keyOf(string(r.Value)); !ok || k != string(r.Key) {
			add("offset %d: %q=%q was never sent", r.Offset, r.Key, clip(r.Value))
		}
	}
	// An acknowledged record may be gone only if a later record with the
	// same key is there to supersede it.
	for off, a := range acked {
		if present[off] {
			continue
		}
		if last, ok := lastByKey[string(a.Key)]; !ok || last.Offset <= off {
			add("acknowledged %q=%q at offset %d is gone and nothing newer for its key was kept", a.Key, clip(a.Value), off)
		}
	}
	for key, off := range newestAcked {
		last, ok := lastByKey[key]
		switch {
		case !ok:
			add("key %q: no record left (newest acknowledged at offset %d)", key, off)
		case last.Offset < off:
			add("key %q: last record at offset %d, before the newest acknowledged at %d", key, last.Offset, off)
		case last.Offset == off && string(last.Value) != string(acked[off].Value):
			add("key %q: last value %q, newest acknowledged %q", key, clip(last.Value), clip(acked[off].Value))
		case last.Offset > off && sendOrder(last.Value) <= sendOrder(acked[off].Value):
			// Only a send newer than the acknowledged one (whose own
			// acknowledgement was lost) may follow it.
			add("key %q: last record at offset %d is %q, older than the newest acknowledged %q at %d",
				key, last.Offset, clip(last.Value), clip(acked[off].Value), off)
		}
	}
	t.Logf("round %d: read %d records (%d acknowledged in all, %d keys)", round, len(got), len(acked), len(lastByKey))
	if len(problems) > 0 {
		shown := problems[:min(len(problems), 20)]
		t.Errorf("round %d: %d problem(s), first %d:\n  %s", round, len(problems), len(shown), strings.Join(shown, "\n  "))
	}
}

// sendOrder returns the part of a value that orders sends of one key: its
// key and zero-padded sequence number, which compare as strings.
func sendOrder(v []byte) string {
	s := string(v)
	if i := strings.Index(s, "-seq"); i >= 0 && len(s) >= i+len("-seq")+9 {
		return s[:i+len("-seq")+9]
	}
	return s
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// readCompacted reads compactTopic's only partition from its log start
// offset up to its end offset. Compaction leaves gaps in the offsets, so the
// read stops at the first record at or beyond end-1: the newest record is in
// the active segment, which the cleaner never touches.
func readCompacted(t *testing.T, addr string) []fjordtest.Record {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{compactTopic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(c, compactTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	end, ok := ends.Lookup(compactTopic, 0)
	if !ok {
		t.Fatalf("no end offset for %s/0", compactTopic)
	}
	var got []fjordtest.Record
	for done := end.Offset <= 0; !done; {
		fs := cl.PollFetches(c)
		if c.Err() != nil {
			last := int64(-1)
			if len(got) > 0 {
				last = got[len(got)-1].Offset
			}
			t.Fatalf("read back: %v; read up to offset %d of end %d", c.Err(), last, end.Offset)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("fetch %s/%d: %v", compactTopic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end.Offset {
				got = append(got, fjordtest.FromKgo(r))
			}
			if r.Offset+1 >= end.Offset {
				done = true
			}
		})
	}
	return got
}
