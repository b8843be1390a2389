package txn

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// log collects the records a test's operations wrote, to replay them.
type log struct{ recs []coordinator.Record }

func (l *log) take(t *testing.T, res coordinator.Result, wantRecords int) coordinator.Result {
	t.Helper()
	if len(res.Records) != wantRecords {
		t.Fatalf("%d records written, want %d (%+v)", len(res.Records), wantRecords, res)
	}
	l.recs = append(l.recs, res.Records...)
	return res
}

// done takes a result that must carry no error.
func (l *log) done(t *testing.T, res coordinator.Result, wantRecords int) {
	t.Helper()
	if res.Response != nil {
		t.Fatalf("answered %v", res.Response)
	}
	l.take(t, res, wantRecords)
}

func initOK(t *testing.T, l *log, c *Coordinator, req InitRequest, now time.Time) InitResponse {
	t.Helper()
	r := l.take(t, c.Init(req, now), 1).Response.(InitResponse)
	if r.Err != nil {
		t.Fatalf("init %s: %v", req.ID, r.Err)
	}
	return r
}

func errIs(t *testing.T, got any, want error) {
	t.Helper()
	err, _ := got.(error)
	if ir, ok := got.(InitResponse); ok {
		err = ir.Err
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func tps(ps ...int32) []TopicPartition {
	out := make([]TopicPartition, len(ps))
	for i, p := range ps {
		out[i] = TopicPartition{"t", p}
	}
	return out
}

// A transaction's life: init, add partitions, commit, markers, and the
// retries a producer may send on the way.
func TestTxn_Lifecycle(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	r := initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1000}, t0)
	if r.ProducerID != 1000 || r.ProducerEpoch != 0 {
		t.Fatalf("init: %+v", r)
	}
	l.done(t, c.AddPartitions("a", 1000, 0, tps(1, 0), t0), 1)
	l.done(t, c.AddPartitions("a", 1000, 0, tps(0), t0), 0) // a retry
	if got := c.Get("a"); got.State != kmsg.TransactionStateOngoing || !got.StartTime.Equal(t0) || len(got.Partitions) != 2 {
		t.Fatalf("after add: %+v", got)
	}
	l.done(t, c.End("a", 1000, 0, true, t0), 1)
	want := []MarkerJob{{ID: "a", ProducerID: 1000, ProducerEpoch: 0, Commit: true, Partitions: tps(0, 1), Prepared: t0}}
	if jobs := c.MarkerJobs(); !reflect.DeepEqual(jobs, want) {
		t.Fatalf("marker jobs %+v", jobs)
	}
	errIs(t, c.End("a", 1000, 0, true, t0).Response, kerr.ConcurrentTransactions)
	errIs(t, c.End("a", 1000, 0, false, t0).Response, kerr.InvalidTxnState)
	errIs(t, c.AddPartitions("a", 1000, 0, tps(2), t0).Response, kerr.ConcurrentTransactions)
	l.done(t, c.MarkersWritten(want[0], t0), 1)
	l.done(t, c.MarkersWritten(want[0], t0), 0) // a late second report
	if got := c.Get("a"); got.State != kmsg.TransactionStateCompleteCommit || len(got.Partitions) != 0 || len(c.MarkerJobs()) != 0 {
		t.Fatalf("after markers: %+v", got)
	}
	l.done(t, c.End("a", 1000, 0, true, t0), 0) // the retried EndTxn of a commit that completed
	errIs(t, c.End("a", 1000, 0, false, t0).Response, kerr.InvalidTxnState)
	// The next transaction of the same producer.
	l.done(t, c.AddPartitions("a", 1000, 0, tps(3), t0.Add(time.Second)), 1)
	if got := c.Get("a"); got.State != kmsg.TransactionStateOngoing || !got.StartTime.Equal(t0.Add(time.Second)) {
		t.Fatalf("second transaction: %+v", got)
	}
	errIs(t, c.AddPartitions("b", 1000, 0, tps(0), t0).Response, kerr.InvalidProducerIDMapping)
	errIs(t, c.AddPartitions("a", 999, 0, tps(0), t0).Response, kerr.InvalidProducerIDMapping)
	errIs(t, c.Init(InitRequest{ID: "x", Timeout: 16 * time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1}, t0).Response, kerr.InvalidTransactionTimeout)
	errIs(t, c.End("a", 1000, 1, true, t0).Response, kerr.ProducerFenced) // any other epoch, as Kafka
	errIs(t, c.Init(InitRequest{ID: "", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1}, t0).Response, kerr.InvalidRequest)
	l.done(t, c.AddPartitions("a", 1000, 0, nil, t0), 0) // nothing to add: nothing changes
}

// A second producer with the same transactional ID fences the first: the
// first's ongoing transaction is aborted under a bumped epoch, its writes
// and its commit are refused from then on.
func TestTxn_ZombieFencing(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 7}, t0)
	l.done(t, c.AddPartitions("a", 7, 0, tps(0), t0), 1)
	second := InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 8}
	errIs(t, l.take(t, c.Init(second, t0), 1).Response, kerr.ConcurrentTransactions)
	jobs := c.MarkerJobs()
	if len(jobs) != 1 || jobs[0].Commit || jobs[0].ProducerID != 7 || jobs[0].ProducerEpoch != 1 {
		t.Fatalf("the fenced transaction's abort: %+v", jobs)
	}
	errIs(t, c.AddPartitions("a", 7, 0, tps(1), t0).Response, kerr.ProducerFenced)
	errIs(t, c.End("a", 7, 0, true, t0).Response, kerr.ProducerFenced)
	errIs(t, c.Init(second, t0).Response, kerr.ConcurrentTransactions) // until the abort completes
	l.done(t, c.MarkersWritten(jobs[0], t0), 1)
	r := initOK(t, l, c, second, t0)
	if r.ProducerID != 7 || r.ProducerEpoch != 2 {
		t.Fatalf("the second producer: %+v", r)
	}
	errIs(t, c.AddPartitions("a", 7, 1, tps(0), t0).Response, kerr.ProducerFenced)
	if got := c.Get("a"); got.State != kmsg.TransactionStateEmpty {
		t.Fatalf("after the second init: %+v", got)
	}
}

// KIP-360: a producer naming itself gets its epoch bumped; the retry of
// that InitProducerId gets the same answer; another producer ID is fenced.
func TestTxn_InitWithProducerIdentity(t *testing.T) {
	c, l := New(Config{}), &log{}
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 5}, t0)
	r := initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 5, ProducerEpoch: 0, FreshProducerID: 6}, t0)
	if r.ProducerID != 5 || r.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", r)
	}
	retry := l.take(t, c.Init(InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 5, ProducerEpoch: 0, FreshProducerID: 6}, t0), 0)
	if got := retry.Response.(InitResponse); got.Err != nil || got.ProducerEpoch != 1 {
		t.Fatalf("retry: %+v", got)
	}
	errIs(t, c.Init(InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 4, ProducerEpoch: 1, FreshProducerID: 6}, t0).Response, kerr.ProducerFenced)
}

// A producer that did not name itself gets the next epoch with no retry
// window: the producer it fenced cannot present its old epoch and get the
// new one (Kafka's prepareIncrementProducerEpoch forgets the last epoch
// then). A KIP-360 producer whose ID the coordinator does not know (it
// expired) gets a fresh producer ID.
func TestTxn_NoRetryWindowForZombies(t *testing.T) {
	c, l := New(Config{}), &log{}
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 5}, t0)
	r := initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 6}, t0)
	if r.ProducerID != 5 || r.ProducerEpoch != 1 {
		t.Fatalf("second producer: %+v", r)
	}
	errIs(t, c.Init(InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 5, ProducerEpoch: 0, FreshProducerID: 6}, t0).Response, kerr.ProducerFenced)
	r = initOK(t, l, c, InitRequest{ID: "new", Timeout: time.Minute, ProducerID: 5, ProducerEpoch: 3, FreshProducerID: 10}, t0)
	if r.ProducerID != 10 || r.ProducerEpoch != 0 {
		t.Fatalf("unknown ID with a producer identity: %+v", r)
	}
}

// A KIP-360 producer at the last epoch moves to a fresh producer ID; its
// retry of that InitProducerId gets the same answer. Fencing takes the
// epoch one past the last a producer is given.
func TestTxn_RotationRetryAndFenceEpoch(t *testing.T) {
	c, l := New(Config{}), &log{}
	for _, tx := range []*Txn{
		{ID: "a", ProducerID: 3, ProducerEpoch: maxEpoch, Timeout: time.Minute, State: kmsg.TransactionStateCompleteCommit, Partitions: map[TopicPartition]struct{}{}, LastUpdate: t0},
		{ID: "b", ProducerID: 4, ProducerEpoch: maxEpoch, Timeout: time.Minute, State: kmsg.TransactionStateOngoing,
			Partitions: map[TopicPartition]struct{}{{"t", 0}: {}}, StartTime: t0, LastUpdate: t0},
	} {
		rec := record(tx)
		if err := c.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	req := InitRequest{ID: "a", Timeout: time.Minute, ProducerID: 3, ProducerEpoch: maxEpoch, FreshProducerID: 9}
	if r := initOK(t, l, c, req, t0); r.ProducerID != 9 || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	req.FreshProducerID = 11
	retry := l.take(t, c.Init(req, t0), 0).Response.(InitResponse)
	if retry.Err != nil || retry.ProducerID != 9 || retry.ProducerEpoch != 0 {
		t.Fatalf("retry of the rotation: %+v", retry)
	}
	errIs(t, l.take(t, c.Init(InitRequest{ID: "b", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 12}, t0), 1).Response, kerr.ConcurrentTransactions)
	if got := c.Get("b"); got.ProducerEpoch != maxEpoch+1 || got.ProducerID != 4 {
		t.Fatalf("fenced at the last epoch: %+v", got)
	}
}

// Past the last epoch a producer is given, the transactional ID moves to
// a fresh producer ID at epoch 0.
func TestTxn_EpochExhaustion(t *testing.T) {
	c, l := New(Config{}), &log{}
	old := &Txn{ID: "a", ProducerID: 3, ProducerEpoch: maxEpoch, Timeout: time.Minute, State: kmsg.TransactionStateCompleteCommit,
		Partitions: map[TopicPartition]struct{}{}, LastUpdate: t0}
	rec := record(old)
	if err := c.Replay(rec.Key, rec.Value); err != nil {
		t.Fatal(err)
	}
	errIs(t, c.Init(InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: -1}, t0).Response, kerr.CoordinatorNotAvailable)
	r := initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 9}, t0)
	if r.ProducerID != 9 || r.ProducerEpoch != 0 {
		t.Fatalf("after exhaustion: %+v", r)
	}
}

// A transaction past its timeout is aborted by the coordinator, its
// producer fenced; a transactional ID idle past its expiration goes.
func TestTxn_TimeoutAndExpiration(t *testing.T) {
	c, l := New(Config{AbortCheckInterval: time.Second, ExpiredCheckInterval: time.Minute, IDExpiration: time.Hour}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "slow", Timeout: 2 * time.Second, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1}, t0)
	initOK(t, l, c, InitRequest{ID: "idle", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 2}, t0)
	l.done(t, c.AddPartitions("slow", 1, 0, tps(0), t0), 1)
	if d := c.NextDeadline(); !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("next deadline %v", d)
	}
	l.take(t, c.Tick(t0.Add(time.Second)), 0) // within its timeout
	l.take(t, c.Tick(t0.Add(3*time.Second)), 1)
	if got := c.Get("slow"); got.State != kmsg.TransactionStatePrepareAbort || got.ProducerEpoch != 1 {
		t.Fatalf("timed out: %+v", got)
	}
	errIs(t, c.End("slow", 1, 0, true, t0).Response, kerr.ProducerFenced)
	l.done(t, c.MarkersWritten(c.MarkerJobs()[0], t0.Add(4*time.Second)), 1)
	// An ongoing transaction's ID is not expired, however old.
	initOK(t, l, c, InitRequest{ID: "busy", Timeout: 900 * time.Second, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 3}, t0)
	l.done(t, c.AddPartitions("busy", 3, 0, tps(0), t0), 1)
	// Both idle ones past the expiration: removed (tombstones); "busy"
	// is past its timeout too, so it is aborted, not removed.
	res := l.take(t, c.Tick(t0.Add(2*time.Hour)), 3)
	tombstones := 0
	for _, r := range res.Records {
		if r.Value == nil {
			tombstones++
		}
	}
	if tombstones != 2 || c.Get("busy") == nil || c.Get("busy").State != kmsg.TransactionStatePrepareAbort {
		t.Fatalf("%d tombstones; busy %+v", tombstones, c.Get("busy"))
	}
	if c.Get("idle") != nil || c.Get("slow") != nil {
		t.Fatal("expired transactional IDs kept")
	}
}

// A coordinator that replays the partition has the same transactions, and
// the same markers to write.
func TestTxn_Replay(t *testing.T) {
	c, l := New(Config{}), &log{}
	c.Loaded(t0)
	initOK(t, l, c, InitRequest{ID: "done", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1}, t0)
	l.done(t, c.AddPartitions("done", 1, 0, tps(0, 1), t0), 1)
	l.done(t, c.End("done", 1, 0, false, t0), 1)
	l.done(t, c.MarkersWritten(c.MarkerJobs()[0], t0), 1)
	initOK(t, l, c, InitRequest{ID: "committing", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 2}, t0)
	l.done(t, c.AddPartitions("committing", 2, 0, []TopicPartition{{"u", 4}, {"t", 2}}, t0), 1)
	l.done(t, c.End("committing", 2, 0, true, t0), 1)
	initOK(t, l, c, InitRequest{ID: "gone", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 3}, t0)
	l.recs = append(l.recs, tombstone("gone"))
	delete(c.txns, "gone")

	r := New(Config{})
	for _, rec := range l.recs {
		if err := r.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	r.Loaded(t0)
	for _, id := range c.IDs() {
		want, got := c.Get(id), r.Get(id)
		want.LastProducerEpoch, got.LastProducerEpoch = 0, 0 // not in the log, as in Kafka
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s replayed as %+v, want %+v", id, got, want)
		}
	}
	if !reflect.DeepEqual(r.IDs(), []string{"committing", "done"}) || !reflect.DeepEqual(r.MarkerJobs(), c.MarkerJobs()) {
		t.Fatalf("replayed %v, jobs %+v", r.IDs(), r.MarkerJobs())
	}
	if got := r.List([]kmsg.TransactionState{kmsg.TransactionStatePrepareCommit}, nil); len(got) != 1 || got[0].ID != "committing" {
		t.Fatalf("list: %+v", got)
	}
	if err := r.Replay([]byte{0, 1, 0}, nil); err == nil {
		t.Error("a bad key replayed")
	}
}

// Replay takes any bytes without panicking; what it takes, written back,
// replays the same.
func FuzzReplay(f *testing.F) {
	rec := record(&Txn{ID: "a", ProducerID: 1, ProducerEpoch: 2, Timeout: time.Second, State: kmsg.TransactionStateOngoing,
		Partitions: map[TopicPartition]struct{}{{"t", 0}: {}, {"t", 3}: {}}, StartTime: t0, LastUpdate: t0})
	f.Add(rec.Key, rec.Value)
	tv2 := record(&Txn{ID: "b", ProducerID: 7, ProducerEpoch: 32767, PreviousProducerID: 3, NextProducerID: 9, TV2: true, Timeout: time.Second,
		State: kmsg.TransactionStatePrepareCommit, Partitions: map[TopicPartition]struct{}{{"t", 1}: {}}, StartTime: t0, LastUpdate: t0})
	f.Add(tv2.Key, tv2.Value)
	f.Add(rec.Key, []byte{})
	f.Add([]byte{0, 0, 0, 1, 'x'}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		c := New(Config{})
		if err := c.Replay(k, v); err != nil || v == nil {
			return
		}
		for _, id := range c.IDs() {
			got := c.Get(id)
			again := record(got)
			r := New(Config{})
			if err := r.Replay(again.Key, again.Value); err != nil {
				t.Fatalf("written back: %v", err)
			}
			if back := r.Get(id); !reflect.DeepEqual(back, got) {
				t.Fatalf("written back as %+v, was %+v", back, got)
			}
		}
	})
}

// A partition leader's verification (KIP-890): a write is allowed only
// for a partition of the producer's ongoing transaction, in its epoch.
func TestTxn_VerifyAndDescribe(t *testing.T) {
	c, l := New(Config{}), &log{}
	initOK(t, l, c, InitRequest{ID: "a", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1, FreshProducerID: 1}, t0)
	errIs(t, c.Verify("a", 1, 0, tps(0))[0], kerr.InvalidTxnState) // nothing ongoing
	l.done(t, c.AddPartitions("a", 1, 0, tps(0), t0), 1)
	got := c.Verify("a", 1, 0, tps(0, 1))
	if got[0] != nil {
		t.Fatalf("the transaction's partition refused: %v", got[0])
	}
	errIs(t, got[1], kerr.InvalidTxnState)
	errIs(t, c.Verify("a", 1, 1, tps(0))[0], kerr.ProducerFenced)
	errIs(t, c.Verify("b", 1, 0, tps(0))[0], kerr.InvalidProducerIDMapping)
	if d, err := c.Describe("a"); err != nil || d.State != kmsg.TransactionStateOngoing || len(d.Partitions) != 1 {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := c.Describe("b"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe a missing ID: %v", err)
	}
}
