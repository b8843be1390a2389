package chaos

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// faultHold is how long each fault lasts: long enough for the client to see
// it (requests fail or time out and are retried), short enough to keep the
// suite quick.
const faultHold = 700 * time.Millisecond

// TestChaos_IdempotentProducerThroughFaults runs franz-go's default producer
// (idempotent, acks=all) through a proxy that cuts every connection, then
// swallows the responses to three Produce requests the broker applied (so
// the client retries batches the broker already has), and then through a
// SIGSTOP/SIGCONT pause of the broker. Every acknowledged record must be
// kept, in production order, and no record may be written twice: the broker
// must recognise the retried batches by producer ID and sequence (see
// idempotenceImplemented).
func TestChaos_IdempotentProducerThroughFaults(t *testing.T) {
	b, px := fjordtest.StartBehindProxy(t, fjordtest.BuildBinary(t), t.TempDir())
	createTopic(t, px.Addr())

	t0 := time.Now()
	ledger := fjordtest.NewLedger()
	p := startProducerOpts(t, px.Addr(), ledger,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	stopped := false
	defer func() {
		if !stopped {
			p.stop(t)
		}
	}()
	progress := func(phase string) {
		t.Helper()
		before := ledger.Len()
		if got := waitAcked(ledger, before+ackedPerRound/4); got-before < minAckedPerRound {
			t.Fatalf("%s: only %d records acknowledged; the producer is stuck", phase, got-before)
		}
		t.Logf("%s: producing (%d acknowledged) at %v", phase, ledger.Len(), time.Since(t0))
	}

	progress("before faults")
	px.Cut()
	time.Sleep(faultHold)
	px.Heal()
	progress("after the cut healed")

	px.DropResponses(3, int16(kmsg.Produce))
	deadline := time.Now().Add(opTimeout)
	for px.Dropped() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := px.Dropped(); d < 3 {
		t.Fatalf("only %d Produce responses were swallowed", d)
	}
	progress("after swallowed responses")

	b.Pause()
	time.Sleep(faultHold)
	b.Resume()
	progress("after the pause")

	p.stop(t)
	stopped = true
	t.Logf("stopped at %v", time.Since(t0))
	got := readAll(t, px.Addr())
	t.Logf("read at %v", time.Since(t0))
	t.Logf("%d records acknowledged, %d read back", ledger.Len(), len(got))
	ledger.Verify(t, got)
	checkProductionOrder(t, ledger.Acked())
	if dups := duplicates(t, got); dups > 0 {
		t.Errorf("%d duplicate records: the idempotent producer's retries were written again", dups)
	}
}

// duplicates counts values (unique per produced record) read more than
// once, describing the first few.
func duplicates(t *testing.T, got []fjordtest.Record) int {
	t.Helper()
	seen := make(map[string]int64, len(got))
	dups := 0
	for _, r := range got {
		if off, ok := seen[string(r.Value)]; ok {
			if dups < 3 {
				t.Logf("%s/%d: record %.20q at offset %d duplicates offset %d", r.Topic, r.Partition, r.Value, r.Offset, off)
			}
			dups++
			continue
		}
		seen[string(r.Value)] = r.Offset
	}
	return dups
}
