package coordinator

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kvCore is a tiny Core: a key/value map whose records are "k=v" pairs,
// with parked gets ("wait") released by puts, and one optional timer.
type kvCore struct {
	kv       map[string]string
	waiters  map[string][]Handle
	next     Handle
	deadline time.Time
	ticks    int
}

func newKV() *kvCore { return &kvCore{kv: map[string]string{}, waiters: map[string][]Handle{}} }

func (c *kvCore) Replay(key, value []byte) error {
	if string(key) == "bad" {
		return errors.New("bad record")
	}
	c.kv[string(key)] = string(value)
	return nil
}
func (c *kvCore) Loaded(time.Time) Result   { return Result{} }
func (c *kvCore) NextDeadline() time.Time   { return c.deadline }
func (c *kvCore) Tick(now time.Time) Result { c.ticks++; c.deadline = time.Time{}; return Result{} }
func put(k, v string) Op[*kvCore] {
	return func(c *kvCore, _ time.Time) Result {
		c.kv[k] = v
		res := Result{Response: "ok", Records: []Record{{Key: []byte(k), Value: []byte(v)}}}
		for _, h := range c.waiters[k] {
			res.Completions = append(res.Completions, Completion{Handle: h, Response: v})
		}
		delete(c.waiters, k)
		return res
	}
}
func waitFor(k string) Op[*kvCore] {
	return func(c *kvCore, _ time.Time) Result {
		c.next++
		c.waiters[k] = append(c.waiters[k], c.next)
		return Result{Wait: c.next}
	}
}
func get(k string) Op[*kvCore] {
	return func(c *kvCore, _ time.Time) Result { return Result{Response: c.kv[k]} }
}
func panics() Op[*kvCore] { return func(*kvCore, time.Time) Result { panic("boom") } }

// memLog is the partition: a fake Appender and Loader over a slice. An
// Append can be held (gate) or made to fail.
type memLog struct {
	mu       sync.Mutex
	records  []Record
	appends  int
	fail     error
	gate     chan struct{} // when non-nil, Append waits for it
	started  chan int      // receives the number of records of each Append
	loadGate chan struct{}
}

func (l *memLog) Append(ctx context.Context, recs []Record) (int64, error) {
	l.mu.Lock()
	gate, started, fail := l.gate, l.started, l.fail
	l.appends++
	l.mu.Unlock()
	if started != nil {
		started <- len(recs)
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if fail != nil {
		return 0, fail
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, recs...)
	return int64(len(l.records) - 1), nil
}

func (l *memLog) Load(ctx context.Context, replay Replayer) error {
	if l.loadGate != nil {
		select {
		case <-l.loadGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	recs := append([]Record(nil), l.records...)
	l.mu.Unlock()
	for _, r := range recs {
		_ = replay.Replay(r)
	}
	return nil
}

func start(t *testing.T, cfg Config, log *memLog) *Runtime[*kvCore] {
	t.Helper()
	rt, err := New(cfg, Deps[*kvCore]{NewCore: newKV, Appender: log, Loader: log})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// waitActive submits until the load is over (Submit is refused while
// loading; no timing involved, the loop only yields).
func waitActive(t *testing.T, rt *Runtime[*kvCore]) {
	t.Helper()
	for rt.Status() == StatusLoading {
		time.Sleep(time.Millisecond)
	}
	if s := rt.Status(); s != StatusActive {
		t.Fatalf("status %s", s)
	}
}

func do(t *testing.T, rt *Runtime[*kvCore], op Op[*kvCore]) (any, error) {
	t.Helper()
	return rt.Do(context.Background(), op)
}

func TestRuntime_LoadsBeforeServing(t *testing.T) {
	log := &memLog{records: []Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("bad")}, {Key: []byte("a"), Value: []byte("2")}},
		loadGate: make(chan struct{})}
	rt := start(t, Config{}, log)
	if _, err := rt.Submit(get("a")); !errors.Is(err, ErrLoadInProgress) {
		t.Fatalf("during load: %v, want ErrLoadInProgress", err)
	}
	close(log.loadGate)
	waitActive(t, rt)
	if v, err := do(t, rt, get("a")); err != nil || v != "2" {
		t.Fatalf("after load: %v %v, want 2 (records replayed in order, bad record skipped)", v, err)
	}
}

func TestRuntime_ResponseReleasedOnlyWhenDurable(t *testing.T) {
	log := &memLog{gate: make(chan struct{}), started: make(chan int, 10)}
	rt := start(t, Config{}, log)
	waitActive(t, rt)
	p, err := rt.Submit(put("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	<-log.started // the append is in flight
	select {
	case r := <-p.ch:
		t.Fatalf("response %v released before the append returned", r)
	default:
	}
	// A read queued behind it sees the new value, and is answered only
	// after the write it observed is durable too.
	pr, err := rt.Submit(get("k"))
	if err != nil {
		t.Fatal(err)
	}
	close(log.gate)
	if v, err := p.Wait(context.Background()); err != nil || v != "ok" {
		t.Fatalf("put: %v %v", v, err)
	}
	if v, err := pr.Wait(context.Background()); err != nil || v != "v" {
		t.Fatalf("get: %v %v", v, err)
	}
}

func TestRuntime_BatchesShareOneAppend(t *testing.T) {
	log := &memLog{gate: make(chan struct{}), started: make(chan int, 10)}
	rt := start(t, Config{}, log)
	waitActive(t, rt)
	first, _ := rt.Submit(put("a", "1"))
	<-log.started
	var ps []*Pending
	for _, k := range []string{"b", "c", "d"} {
		p, err := rt.Submit(put(k, k))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	close(log.gate)
	if n := <-log.started; n != 3 {
		t.Errorf("second append carried %d records, want the 3 queued puts", n)
	}
	for _, p := range append(ps, first) {
		if _, err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRuntime_FailedAppendLeavesStateAsLogged(t *testing.T) {
	log := &memLog{}
	rt := start(t, Config{}, log)
	waitActive(t, rt)
	if _, err := do(t, rt, put("k", "old")); err != nil {
		t.Fatal(err)
	}
	parked, err := rt.Submit(waitFor("other"))
	if err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	log.fail = errors.New("disk on fire")
	log.mu.Unlock()
	_, err = do(t, rt, put("k", "new"))
	if !errors.Is(err, ErrWriteFailed) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("put: %v, want ErrWriteFailed wrapping the cause", err)
	}
	// Parked requests were failed too: the state they waited on is gone.
	if _, err := parked.Wait(context.Background()); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("parked: %v", err)
	}
	log.mu.Lock()
	log.fail = nil
	log.mu.Unlock()
	waitActive(t, rt)
	if v, err := do(t, rt, get("k")); err != nil || v != "old" {
		t.Fatalf("after failure: %v %v, want the logged value", v, err)
	}
}

func TestRuntime_PanicRebuildsState(t *testing.T) {
	log := &memLog{gate: make(chan struct{}), started: make(chan int, 10)}
	rt := start(t, Config{}, log)
	waitActive(t, rt)
	blocker, _ := rt.Submit(put("x", "1"))
	<-log.started
	// Queued together: a put, an operation that panics, and a get.
	p1, _ := rt.Submit(put("k", "lost"))
	p2, _ := rt.Submit(panics())
	p3, _ := rt.Submit(get("k"))
	close(log.gate)
	if _, err := blocker.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, p := range []*Pending{p1, p2, p3} {
		if _, err := p.Wait(context.Background()); !errors.Is(err, ErrInternal) {
			t.Errorf("op %d: %v, want ErrInternal", i, err)
		}
	}
	waitActive(t, rt)
	if v, _ := do(t, rt, get("k")); v != "" {
		t.Fatalf("k = %q after a failed batch, want nothing", v)
	}
	if v, _ := do(t, rt, get("x")); v != "1" {
		t.Fatalf("x = %q, want the durable 1", v)
	}
}

func TestRuntime_QueueIsBounded(t *testing.T) {
	log := &memLog{gate: make(chan struct{}), started: make(chan int, 10)}
	rt := start(t, Config{QueueSize: 2}, log)
	waitActive(t, rt)
	first, _ := rt.Submit(put("a", "1"))
	<-log.started // the loop holds the first; the queue is empty
	var queued []*Pending
	for range 2 {
		p, err := rt.Submit(get("a"))
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, p)
	}
	if _, err := rt.Submit(get("a")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third: %v, want ErrQueueFull", err)
	}
	close(log.gate)
	for _, p := range append(queued, first) {
		if _, err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRuntime_CloseAnswersEverything(t *testing.T) {
	log := &memLog{}
	rt, err := New(Config{}, Deps[*kvCore]{NewCore: newKV, Appender: log, Loader: log})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	waitActive(t, rt)
	parked, err := rt.Submit(waitFor("never"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := parked.Wait(context.Background()); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("parked: %v", err)
	}
	if _, err := rt.Submit(get("a")); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("after close: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRuntime_DeferredResponses(t *testing.T) {
	log := &memLog{}
	rt := start(t, Config{}, log)
	waitActive(t, rt)
	w, err := rt.Submit(waitFor("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, rt, put("k", "v")); err != nil {
		t.Fatal(err)
	}
	if v, err := w.Wait(context.Background()); err != nil || v != "v" {
		t.Fatalf("deferred: %v %v", v, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w2, _ := rt.Submit(waitFor("z"))
	if _, err := w2.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
}

// Timers fire from the Core's NextDeadline, in a synctest bubble (fake
// clock: no real waiting, no timing assertions).
func TestRuntime_Timers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &memLog{}
		rt, err := New(Config{}, Deps[*kvCore]{NewCore: newKV, Appender: log, Loader: log})
		if err != nil {
			t.Fatal(err)
		}
		rt.Start(context.Background())
		defer rt.Close()
		synctest.Wait()
		arm := func(c *kvCore, now time.Time) Result {
			c.deadline = now.Add(time.Minute)
			return Result{Response: "armed"}
		}
		if _, err := rt.Do(context.Background(), arm); err != nil {
			t.Fatal(err)
		}
		ticks := func(c *kvCore, _ time.Time) Result { return Result{Response: c.ticks} }
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if n, _ := rt.Do(context.Background(), ticks); n != 0 {
			t.Fatalf("ticked %v times before the deadline", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, _ := rt.Do(context.Background(), ticks); n != 1 {
			t.Fatalf("ticked %v times at the deadline, want 1", n)
		}
	})
}

func TestRuntime_LoadFailureIsNotCoordinator(t *testing.T) {
	log := &failingLoader{}
	rt, err := New(Config{}, Deps[*kvCore]{NewCore: newKV, Appender: &memLog{}, Loader: log})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	defer rt.Close()
	for rt.Status() == StatusLoading {
		time.Sleep(time.Millisecond)
	}
	if _, err := rt.Submit(get("a")); !errors.Is(err, ErrNotCoordinator) || rt.Status() != StatusFailed {
		t.Fatalf("%v %s", err, rt.Status())
	}
}

type failingLoader struct{}

func (failingLoader) Load(context.Context, Replayer) error {
	return errors.New("unreadable")
}
