package chaos

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

const (
	topic      = "chaos"
	partitions = 3
	kills      = 3
	// ackedPerRound is how many new acknowledgements each round waits for
	// before the kill. Counted rather than timed, so the ledger (which keeps
	// every acknowledged record in memory) stays small on fast machines.
	ackedPerRound = 20_000
	// roundCap bounds each round's wait for acknowledgements; it bounds the
	// test's run time, it is not an assertion.
	roundCap = 5 * time.Second
	// minAckedPerRound is the progress below which the producer is
	// considered stuck (a broker that stopped acknowledging after restart).
	minAckedPerRound = 100
	// opTimeout bounds admin calls, the final flush and the read-back.
	opTimeout = 90 * time.Second
)

// producer writes records round-robin over the partitions, each value
// carrying its partition's production sequence number, until stopped.
type producer struct {
	cl     *kgo.Client
	ledger *fjordtest.Ledger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	errs map[string]int // guarded by mu: failed produces by error text
}

// startProducer starts a producer with acks=1 and idempotence disabled.
func startProducer(t *testing.T, addr string, ledger *fjordtest.Ledger) *producer {
	t.Helper()
	return startProducerOpts(t, addr, ledger,
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
}

// startProducerOpts starts a producer with the given client options; they
// must include kgo.ManualPartitioner, as records name their partition.
func startProducerOpts(t *testing.T, addr string, ledger *fjordtest.Ledger, opts ...kgo.Opt) *producer {
	t.Helper()
	// A short metadata min age lets the client re-learn the broker quickly
	// after a fault instead of waiting out the 5s default.
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(200 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	p := &producer{cl: cl, ledger: ledger, cancel: cancel, errs: map[string]int{}}
	p.wg.Add(1)
	go p.run(c)
	return p
}

func (p *producer) run(c context.Context) {
	defer p.wg.Done()
	var seq [partitions]int
	for i := 0; c.Err() == nil; i++ {
		part := int32(i % partitions)
		r := &kgo.Record{
			Topic:     topic,
			Partition: part,
			Key:       fmt.Appendf(nil, "k%d", i),
			Value:     fmt.Appendf(nil, "p%d-seq%09d-%s", part, seq[part], strings.Repeat("v", i%64)),
		}
		seq[part]++
		// Blocks while the client's buffer is full (as it is while the
		// broker is down); returns once c is cancelled.
		p.cl.Produce(c, r, func(r *kgo.Record, err error) {
			if err != nil {
				p.mu.Lock()
				p.errs[err.Error()]++
				p.mu.Unlock()
				return
			}
			p.ledger.Ack(fjordtest.FromKgo(r))
		})
	}
}

// stop stops producing, waits up to opTimeout for outstanding records, and
// closes the client.
func (p *producer) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	p.wg.Wait()
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := p.cl.Flush(c); err != nil {
		t.Logf("flush after stop: %v (unflushed records are not in the ledger)", err)
	}
	p.cl.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Logf("failed produces (expected around kills and at stop): %v", p.errs)
	}
}

// waitAcked waits until the ledger holds at least n records or roundCap
// passes, and returns the ledger's size.
func waitAcked(l *fjordtest.Ledger, n int) int {
	deadline := time.Now().Add(roundCap)
	for l.Len() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return l.Len()
}

// TestChaos_KillNineDuringAcks1Produce kills the broker with SIGKILL three
// times while a producer with acks=1 and no idempotence writes to it,
// restarting it on the same data directory each time, and then checks every
// acknowledged record.
func TestChaos_KillNineDuringAcks1Produce(t *testing.T) {
	b := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir())
	createTopic(t, b.Addr())

	ledger := fjordtest.NewLedger()
	p := startProducer(t, b.Addr(), ledger)
	stopped := false
	defer func() {
		if !stopped {
			p.stop(t)
		}
	}()
	killRounds(t, b, ledger, kills, ackedPerRound)
	p.stop(t)
	stopped = true

	got := readAll(t, b.Addr())
	t.Logf("%d records acknowledged, %d read back", ledger.Len(), len(got))
	ledger.Verify(t, got)
	checkProductionOrder(t, ledger.Acked())
}

// killRounds lets the producer feeding ledger get about perRound records
// acknowledged, SIGKILLs and restarts the broker, rounds times, and then
// checks that the producer makes progress on the recovered broker too.
func killRounds(t *testing.T, b *fjordtest.Process, ledger *fjordtest.Ledger, rounds, perRound int) {
	t.Helper()
	for round := 1; round <= rounds; round++ {
		before := ledger.Len()
		got := waitAcked(ledger, before+perRound)
		if got-before < minAckedPerRound {
			t.Fatalf("round %d: only %d records acknowledged in %v; the producer is stuck", round, got-before, roundCap)
		}
		b.Kill()
		t.Logf("round %d: SIGKILL after %d acknowledged records (%d this round)", round, got, got-before)
		b.Restart(t)
	}
	before := ledger.Len()
	if got := waitAcked(ledger, before+ackedPerRound/4); got-before < minAckedPerRound {
		t.Fatalf("after the last restart only %d records acknowledged", got-before)
	}
}

func createTopic(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(c, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// readAll reads every partition of the test topic from the start up to its
// high watermark.
func readAll(t *testing.T, addr string) []fjordtest.Record {
	t.Helper()
	return readTopic(t, []string{addr}, topic)
}

// checkProductionOrder checks that within each partition the acknowledged
// records' offsets increase with the sequence number the producer gave them:
// a restart must not reorder what was acknowledged.
func checkProductionOrder(t *testing.T, acked []fjordtest.Record) {
	t.Helper()
	byPart := map[int32][]fjordtest.Record{}
	for _, r := range acked {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	for part, rs := range byPart {
		slices.SortFunc(rs, func(a, b fjordtest.Record) int { return cmp.Compare(a.Offset, b.Offset) })
		prev := -1
		for _, r := range rs {
			s := seqOf(t, r.Value)
			if s <= prev {
				t.Errorf("%s/%d offset %d: sequence %d acknowledged after sequence %d", topic, part, r.Offset, s, prev)
				return
			}
			prev = s
		}
	}
}

func seqOf(t *testing.T, v []byte) int {
	t.Helper()
	_, rest, ok := strings.Cut(string(v), "-seq")
	if !ok || len(rest) < 9 {
		t.Fatalf("value %q has no sequence", v)
	}
	n, err := strconv.Atoi(rest[:9])
	if err != nil {
		t.Fatalf("value %q: %v", v, err)
	}
	return n
}
