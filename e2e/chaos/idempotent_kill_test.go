package chaos

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// idempotentKills is how many times TestChaos_KillNineDuringIdempotentProduce
// kills the broker.
const idempotentKills = 2

// TestChaos_KillNineDuringIdempotentProduce kills the broker with SIGKILL
// twice while franz-go's default producer (idempotent, acks=all) writes to
// it, restarting it on the same data directory and port each time. The
// producer's retries must carry on against the restarted broker, and in the
// end every acknowledged record must be present exactly once and in
// production order: the restarted broker must recover each producer's
// sequence state from its log, so a batch retried across the crash is
// neither written twice nor rejected for good.
func TestChaos_KillNineDuringIdempotentProduce(t *testing.T) {
	b := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir())
	createTopic(t, b.Addr())

	ledger := fjordtest.NewLedger()
	// No acks or idempotence options: kgo's defaults are acks=all and
	// idempotent writes, which is what this test is about.
	p := startProducerOpts(t, b.Addr(), ledger,
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
	// The producer's retries must go through on the recovered broker.
	killRounds(t, b, ledger, idempotentKills, ackedPerRound/2)
	p.stop(t)
	stopped = true

	got := readAll(t, b.Addr())
	t.Logf("%d records acknowledged, %d read back", ledger.Len(), len(got))
	ledger.Verify(t, got)
	checkProductionOrder(t, ledger.Acked())
	if dups := duplicates(t, got); dups > 0 {
		t.Errorf("%d duplicate records: retries across the crash were written again", dups)
	}
}
