package txn

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func endOK(t *testing.T, l *log, c *Coordinator, req EndRequest, wantRecords int) EndResult {
	t.Helper()
	res := l.take(t, c.EndTV2(req, t0), wantRecords)
	r, ok := res.Response.(EndResult)
	if !ok {
		t.Fatalf("end %+v: %v", req, res.Response)
	}
	return r
}

// KIP-890 part 2's EndTxn v5: each end bumps the epoch (the markers carry
// the bumped one); a retry with the epoch before the bump is told
// CONCURRENT_TRANSACTIONS while markers are due and the result once
// complete; an abort with nothing ongoing bumps too; commit with nothing
// ongoing, the old epoch's other end, and older epochs are refused.
func TestTxn_TV2EndBumpsEpoch(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1000}, t0)
	l.done(t, c.AddPartitionsTV2("a", 1000, 0, tps(0, 1), t0), 1)
	r := endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: true, FreshProducerID: -1}, 1)
	if r.ProducerID != 1000 || r.ProducerEpoch != 1 || !r.Pending {
		t.Fatalf("commit answered %+v, want producer 1000 epoch 1, markers pending", r)
	}
	jobs := c.MarkerJobs()
	if len(jobs) != 1 || jobs[0].ProducerEpoch != 1 || !jobs[0].Commit || len(jobs[0].Partitions) != 2 {
		t.Fatalf("marker jobs %+v, want the commit's at epoch 1", jobs)
	}
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: true, FreshProducerID: -1}, t0).Response, kerr.ConcurrentTransactions)
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: false, FreshProducerID: -1}, t0).Response, kerr.InvalidTxnState)
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 1, Commit: true, FreshProducerID: -1}, t0).Response, kerr.ProducerFenced)
	l.done(t, c.MarkersWritten(jobs[0], t0), 1)
	if got := c.Get("a"); got.State != kmsg.TransactionStateCompleteCommit || got.ProducerEpoch != 1 || !got.TV2 {
		t.Fatalf("after the markers: %+v", got)
	}
	// The retry of the commit, after it completed: its result.
	if r := endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: true, FreshProducerID: -1}, 0); r.ProducerEpoch != 1 || r.Pending {
		t.Fatalf("retried commit answered %+v", r)
	}
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 1, Commit: true, FreshProducerID: -1}, t0).Response, kerr.InvalidTxnState)
	// An empty abort: the epoch moves on, nothing to mark.
	if r := endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 1, Commit: false, FreshProducerID: -1}, 1); r.ProducerEpoch != 2 || r.Pending {
		t.Fatalf("empty abort answered %+v", r)
	}
	if got := c.Get("a"); got.State != kmsg.TransactionStateCompleteAbort || len(c.MarkerJobs()) != 0 {
		t.Fatalf("after the empty abort: %+v, jobs %v", got, c.MarkerJobs())
	}
	// A write of the old epoch cannot add its partition any more.
	errIs(t, c.AddPartitionsTV2("a", 1000, 1, tps(0), t0).Response, kerr.ProducerFenced)
	l.done(t, c.AddPartitionsTV2("a", 1000, 2, tps(0), t0), 1)
	if got := c.Get("a"); got.State != kmsg.TransactionStateOngoing {
		t.Fatalf("the next transaction: %+v", got)
	}

	// Replayed, the state (TV2, epochs) is the same.
	r2 := New(Config{})
	for _, rec := range l.recs {
		if err := r2.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := r2.Get("a"), c.Get("a"); got.ProducerEpoch != want.ProducerEpoch || got.State != want.State || !got.TV2 || got.NextProducerID != -1 {
		t.Fatalf("replayed %+v, live %+v", got, want)
	}
}

// An end whose bump exhausts the producer ID's epochs asks for a fresh
// producer ID, marks with epoch 32767 and moves the ID to the fresh one
// at epoch 0 once complete; the next ID survives a coordinator move, and
// the retry of the end with the old producer ID is recognized.
func TestTxn_TV2EndRotatesProducerID(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1000}, t0)
	c.txns["a"].ProducerEpoch = maxEpoch // as after 32766 transactions
	l.done(t, c.AddPartitionsTV2("a", 1000, maxEpoch, tps(0), t0), 1)
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: maxEpoch, Commit: true, FreshProducerID: -1}, t0).Response, ErrNeedProducerID)
	r := endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: maxEpoch, Commit: true, FreshProducerID: 2000}, 1)
	if r.ProducerID != 2000 || r.ProducerEpoch != 0 {
		t.Fatalf("answered %+v, want producer 2000 epoch 0", r)
	}
	jobs := c.MarkerJobs()
	if len(jobs) != 1 || jobs[0].ProducerID != 1000 || jobs[0].ProducerEpoch != maxEpoch+1 {
		t.Fatalf("jobs %+v, want producer 1000's markers at epoch 32767", jobs)
	}
	// The producer, told its new ID before the end completed (the End
	// gave up waiting), retries its first write of the next transaction.
	errIs(t, c.AddPartitionsTV2("a", 2000, 0, tps(0), t0).Response, kerr.ConcurrentTransactions)
	// A coordinator move while the markers are due keeps the next ID.
	r2 := New(Config{})
	for _, rec := range l.recs {
		if err := r2.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	if got := r2.Get("a"); got.NextProducerID != 2000 || got.ProducerEpoch != maxEpoch+1 {
		t.Fatalf("replayed %+v, want next producer 2000", got)
	}
	l.done(t, c.MarkersWritten(jobs[0], t0), 1)
	if got := c.Get("a"); got.ProducerID != 2000 || got.ProducerEpoch != 0 || got.PreviousProducerID != 1000 || got.NextProducerID != -1 {
		t.Fatalf("completed: %+v", got)
	}
	if r := endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: maxEpoch, Commit: true, FreshProducerID: -1}, 0); r.ProducerID != 2000 || r.ProducerEpoch != 0 {
		t.Fatalf("retry across the rotation answered %+v", r)
	}
}

// After an InitProducerId bump (state Empty), the previous epoch's EndTxn
// is a fenced producer's, not a retry.
func TestTxn_TV2EndAfterInitIsFenced(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1000}, t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1}, t0) // epoch 1
	errIs(t, c.EndTV2(EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: false, FreshProducerID: -1}, t0).Response, kerr.ProducerFenced)
}

// A producer that lost a KIP-890 part 2 end's answer re-initializes naming
// the epoch before the bump (KIP-360): valid, as in Kafka, and bumped.
func TestTxn_TV2InitAfterLostEndAnswer(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1000}, t0)
	l.done(t, c.AddPartitionsTV2("a", 1000, 0, tps(0), t0), 1)
	endOK(t, l, c, EndRequest{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: true, FreshProducerID: -1}, 1)
	l.done(t, c.MarkersWritten(c.MarkerJobs()[0], t0), 1)
	r := initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 1000, ProducerEpoch: 0}, t0)
	if r.ProducerID != 1000 || r.ProducerEpoch != 2 {
		t.Fatalf("re-init naming the epoch before the end's bump: %+v, want epoch 2", r)
	}
	// An older epoch still is fenced.
	errIs(t, c.Init(InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 1000, ProducerEpoch: 0}, t0).Response, kerr.ProducerFenced)
}
