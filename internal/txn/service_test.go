package txn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// stateLog is a __transaction_state partition in memory.
type stateLog struct {
	mu      sync.Mutex
	records []coordinator.Record
}

func (l *stateLog) Append(_ context.Context, recs []coordinator.Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, recs...)
	return int64(len(l.records) - 1), nil
}

func (l *stateLog) Load(_ context.Context, replay coordinator.Replayer) error {
	l.mu.Lock()
	recs := append([]coordinator.Record(nil), l.records...)
	l.mu.Unlock()
	for _, r := range recs {
		_ = replay.Replay(r)
	}
	return nil
}

// markerLog records the markers written; it fails while fail is set.
type markerLog struct {
	mu      sync.Mutex
	jobs    []MarkerJob      // completed writes
	epochs  []int32          // their coordinator epochs
	written []TopicPartition // every partition a marker was written to
	calls   int
	fail    atomic.Bool
}

func (m *markerLog) WriteMarkers(_ context.Context, epoch int32, jobs []MarkerJob) []MarkerResult {
	out := make([]MarkerResult, len(jobs))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	for i, job := range jobs {
		m.written = append(m.written, job.Partitions...)
		if m.fail.Load() {
			// Only the first partition fails: the others hold it.
			out[i] = MarkerResult{Failed: job.Partitions[:1], Err: kerr.NotLeaderForPartition}
			continue
		}
		m.jobs = append(m.jobs, job)
		m.epochs = append(m.epochs, epoch)
	}
	return out
}

func (m *markerLog) completed() []MarkerJob {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MarkerJob(nil), m.jobs...)
}

func newTestService(t *testing.T, markers *markerLog) *Service {
	t.Helper()
	var next atomic.Int64
	next.Store(1000)
	s := NewService(ServiceConfig{NumPartitions: 1, Markers: markers,
		ProducerID: func(context.Context) (int64, error) { return next.Add(1), nil }}, nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestService_TransactionLifecycle: a transaction through the Service:
// the markers of a commit are written with the partition's leader epoch
// and the transaction completes; a failing marker write is retried; a
// takeover (unload, load in a new epoch) writes the markers left due.
func TestService_TransactionLifecycle(t *testing.T) {
	ctx := context.Background()
	markers := &markerLog{}
	s := newTestService(t, markers)
	if _, _, err := s.InitProducerID(ctx, InitRequest{ID: "tx", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1}); !errors.Is(err, coordinator.ErrNotCoordinator) {
		t.Fatalf("before any load: %v", err)
	}
	log := &stateLog{}
	if err := s.Load(ctx, 0, 7, log, log); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the load", func() bool { return s.Status(0) == coordinator.StatusActive })
	pid, epoch, err := s.InitProducerID(ctx, InitRequest{ID: "tx", Timeout: time.Minute, ProducerID: -1, ProducerEpoch: -1})
	if err != nil || pid != 1001 || epoch != 0 {
		t.Fatalf("init: %d %d %v", pid, epoch, err)
	}
	parts := []TopicPartition{{"a", 0}, {"b", 1}}
	if err := s.AddPartitions(ctx, "tx", pid, epoch, parts); err != nil {
		t.Fatal(err)
	}
	if errs := s.Verify(ctx, "tx", pid, epoch, []TopicPartition{{"a", 0}, {"c", 0}}); errs[0] != nil || !errors.Is(errs[1], kerr.InvalidTxnState) {
		t.Fatalf("verify: %v", errs)
	}
	if _, _, err := s.End(ctx, "tx", pid, epoch, true, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the commit's completion", func() bool {
		d, err := s.Describe(ctx, "tx")
		return err == nil && d.State == kmsg.TransactionStateCompleteCommit
	})
	if got := markers.completed(); len(got) != 1 || !got[0].Commit || len(got[0].Partitions) != 2 || markers.epochs[0] != 7 {
		t.Fatalf("markers %+v (epochs %v)", got, markers.epochs)
	}
	ls, loading, err := s.List(ctx, nil, []int64{pid}, 0)
	if err != nil || loading || len(ls) != 1 || ls[0].State != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("list: %+v %v %v", ls, loading, err)
	}

	// The next transaction's abort: its markers fail for a while on one
	// partition; the retries go to that partition only.
	markers.fail.Store(true)
	if err := s.AddPartitions(ctx, "tx", pid, epoch, parts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.End(ctx, "tx", pid, epoch, false, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a few retries", func() bool {
		markers.mu.Lock()
		defer markers.mu.Unlock()
		return markers.calls >= 4
	})
	if d, _ := s.Describe(ctx, "tx"); d.State != kmsg.TransactionStatePrepareAbort {
		t.Fatalf("completed without its markers: %v", StateName(d.State))
	}
	markers.mu.Lock()
	second := 0
	for _, tp := range markers.written {
		if tp == parts[1] {
			second++
		}
	}
	markers.mu.Unlock()
	if second != 2 { // the commit's marker, then the abort's first try
		t.Fatalf("the partition that took the marker got it %d times: retries went to every partition", second)
	}
	// A takeover: the partition moves (unload) and comes back in a new
	// epoch; the new coordinator writes the markers still due.
	if err := s.Unload(0); err != nil {
		t.Fatal(err)
	}
	markers.fail.Store(false)
	if err := s.Load(ctx, 0, 8, log, log); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the abort's completion after the takeover", func() bool {
		d, err := s.Describe(ctx, "tx")
		return err == nil && d.State == kmsg.TransactionStateCompleteAbort
	})
	got := markers.completed()
	if last := got[len(got)-1]; last.Commit || markers.epochs[len(got)-1] != 8 {
		t.Fatalf("takeover markers %+v epochs %v", got, markers.epochs)
	}
	if _, err := s.Describe(ctx, "unknown"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe unknown: %v", err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
