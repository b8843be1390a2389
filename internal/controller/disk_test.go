package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

const gib = int64(1) << 30

// report is a disk report of one 100 GiB log dir with usedGiB used and
// partitions of topic t of the given sizes (GiB, by partition).
func report(usedGiB int64, sizes map[int32]int64) DiskReport {
	r := DiskReport{Dirs: []LogDirUsage{{Dir: "/data", TotalBytes: 100 * gib, UsedBytes: usedGiB * gib, LogBytes: usedGiB * gib / 2}}}
	for p, s := range sizes {
		r.Largest = append(r.Largest, PartitionSize{Topic: "t", Partition: p, Size: s * gib})
	}
	r.Largest = TrimLargest(r.Largest)
	return r
}

// The report survives the heartbeat's wire encoding (as the controller
// RPC carries it) and a heartbeat without one carries none.
func TestDiskReport_RoundTripsInHeartbeat(t *testing.T) {
	want := report(90, map[int32]int64{0: 5, 1: 20, 3: 10})
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version, req.BrokerID = 1, 7
	setDiskReport(req, want)
	got := kmsg.NewPtrBrokerHeartbeatRequest()
	got.Version = 1
	if err := got.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	r, ok, err := diskReportOf(got)
	if err != nil || !ok || !reflect.DeepEqual(r, want) {
		t.Fatalf("decoded %+v %v %v, want %+v", r, ok, err, want)
	}
	if r.Largest[0].Partition != 1 {
		t.Fatalf("largest first: %+v", r.Largest)
	}
	plain := kmsg.NewPtrBrokerHeartbeatRequest()
	plain.Version = 1
	if _, ok, err := diskReportOf(plain); ok || err != nil {
		t.Fatalf("a plain heartbeat has a report: %v %v", ok, err)
	}
	// A newer broker's encoding is ignored, not misread.
	bad := kmsg.NewPtrBrokerHeartbeatRequest()
	bad.UnknownTags.Set(diskReportTag, []byte{9, 1, 1})
	if _, ok, err := diskReportOf(bad); ok || !errors.Is(err, errDiskReportVersion) {
		t.Fatalf("unknown version: %v %v", ok, err)
	}
	bad.UnknownTags.Set(diskReportTag, []byte{0, 5})
	if _, ok, err := diskReportOf(bad); ok || err == nil {
		t.Fatalf("truncated report: %v %v", ok, err)
	}
}

var evenOnFour = [][]int32{{1, 2, 3}, {2, 3, 4}, {3, 4, 1}, {4, 1, 2}}

var balDisk = balancerConfig{enable: true, gone: 10 * time.Minute, maxMoves: 10, diskThreshold: 80}

// A broker past the threshold gets moves planned off it, its largest
// partition first, onto a broker below it; none when all are under.
func TestDecideBalance_DiskOverThreshold(t *testing.T) {
	img := balanceImage(t, 4, evenOnFour)
	// Broker 1 holds t-0 (30 GiB), t-2 (5) and t-3 (1).
	disks := map[int32]DiskReport{
		1: report(90, map[int32]int64{0: 30, 2: 5, 3: 1}),
		2: report(40, nil), 3: report(50, nil), 4: report(20, nil),
	}
	d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk)
	if len(d.moves) != 1 || !strings.Contains(d.reason, "balancer.disk.usage.threshold.percent") {
		t.Fatalf("decided %+v, want one move off broker 1", d)
	}
	if m := d.moves[0]; m.Partition != 0 || !slices.Equal(m.To, []int32{4, 2, 3}) {
		t.Fatalf("move %+v, want t-0 (the largest) to broker 4 (the most free space)", m)
	}
	disks[1] = report(79, map[int32]int64{0: 30, 2: 5, 3: 1})
	if d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk); len(d.moves) != 0 || d.reason != "" {
		t.Fatalf("all under the threshold: %+v", d)
	}
	// Threshold 100 turns the trigger off.
	cfg := balDisk
	cfg.diskThreshold = 100
	disks[1] = report(99, map[int32]int64{0: 30, 2: 5, 3: 1})
	if d := decideBalance(img, allLive, nil, nil, disks, time.Now(), cfg); len(d.moves) != 0 {
		t.Fatalf("threshold 100: %+v", d)
	}
}

// A broker past the threshold receives nothing: not from the count
// evening (an empty new broker whose disk is full), not from an
// evacuation.
func TestDecideBalance_NoMoveOntoBrokerOverThreshold(t *testing.T) {
	img := balanceImage(t, 4, sixOnThree)
	disks := map[int32]DiskReport{1: report(10, nil), 2: report(10, nil), 3: report(10, nil), 4: report(95, nil)}
	d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk)
	for _, m := range d.moves {
		if slices.Contains(m.Added(), 4) {
			t.Fatalf("move onto broker 4, past the threshold: %+v", d)
		}
	}
	// Without the report broker 4 is unknown, and takes replicas as before.
	delete(disks, 4)
	if d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk); len(d.moves) == 0 {
		t.Fatalf("unknown broker 4 got nothing: %+v", d)
	}
	// A count move that would push a broker past it is left out.
	disks = map[int32]DiskReport{1: report(10, map[int32]int64{0: 30, 1: 30, 2: 30}), 2: report(10, nil), 3: report(10, nil), 4: report(75, nil)}
	d = decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk)
	for _, m := range d.moves {
		if slices.Contains(m.Added(), 4) && m.Partition <= 2 {
			t.Fatalf("a 30 GiB partition onto broker 4 at 75%%: %+v", d)
		}
	}
	// Evacuating gone broker 3 onto 1, 2 and 4: 4 is past the threshold,
	// so the replication factor cannot be kept and nothing moves.
	img = balanceImage(t, 4, evenOnFour)
	live := liveExcept(3)
	t0 := time.Now()
	disks = map[int32]DiskReport{1: report(10, nil), 2: report(10, nil), 4: report(95, nil)}
	d = decideBalance(img, live, nil, trackGone(img, live, nil, t0), disks, t0.Add(time.Hour), balDisk)
	if len(d.moves) != 0 || !strings.Contains(d.reason, "take no replicas") {
		t.Fatalf("evacuation onto a full broker: %+v", d)
	}
}

// A broker with no report is unknown, not empty: it triggers nothing and
// the disk trigger moves nothing onto it.
func TestDecideBalance_DiskUnknownBroker(t *testing.T) {
	img := balanceImage(t, 4, evenOnFour)
	// Broker 1 past the threshold, broker 4 unreported: t-0 (on 1, 2, 3)
	// could only go to 4, so it stays; t-2 and t-3 go to 2 or 3.
	disks := map[int32]DiskReport{1: report(90, map[int32]int64{0: 30, 2: 5, 3: 6}), 2: report(40, nil), 3: report(50, nil)}
	d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk)
	if len(d.moves) == 0 {
		t.Fatalf("nothing moved off broker 1: %+v", d)
	}
	for _, m := range d.moves {
		if m.Partition == 0 || slices.Contains(m.Added(), 4) || !slices.Contains(m.From, 1) || slices.Contains(m.To, 1) {
			t.Fatalf("move %+v: want broker 1's replicas of t-2 and t-3 onto brokers 2 or 3", m)
		}
	}
	// No broker reports: nothing (the cluster is even).
	if d := decideBalance(img, allLive, nil, nil, nil, time.Now(), balDisk); len(d.moves) != 0 {
		t.Fatalf("no reports: %+v", d)
	}
	// Only brokers with no room below the threshold: why is logged.
	disks = map[int32]DiskReport{1: report(90, map[int32]int64{0: 30}), 2: report(85, nil), 3: report(85, nil), 4: report(85, nil)}
	if d := decideBalance(img, allLive, nil, nil, disks, time.Now(), balDisk); len(d.moves) != 0 || !strings.Contains(d.reason, "no broker below it") {
		t.Fatalf("no room anywhere: %+v", d)
	}
}

// Reports are soft state: the controller uses a broker's latest one while
// it is young, and forgets them when a session starts anew.
func TestController_DiskReportsAge(t *testing.T) {
	h := open(t, t.TempDir(), 1)
	now := time.Now()
	h.ctrl.hbMu.Lock()
	r := report(50, nil)
	h.ctrl.sessions[1].disk, h.ctrl.sessions[1].diskAt = &r, now
	h.ctrl.hbMu.Unlock()
	if got, oldest := h.ctrl.diskReports(now.Add(diskReportMaxAge)); len(got) != 1 || !oldest.Equal(now) {
		t.Fatalf("fresh report missing: %v %v", got, oldest)
	}
	if got, _ := h.ctrl.diskReports(now.Add(diskReportMaxAge + time.Second)); len(got) != 0 {
		t.Fatalf("stale report used: %v", got)
	}
}

// fakeDisks is each broker's DiskUsage in TestLifecycle_DiskTriggerMoves.
type fakeDisks struct {
	mu      sync.Mutex
	reports map[int32]DiskReport
	calls   map[int32]int
}

type fakeDisk struct {
	f  *fakeDisks
	id int32
}

func (d fakeDisk) DiskReport() (DiskReport, error) {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	d.f.calls[d.id]++
	r, ok := d.f.reports[d.id]
	if !ok {
		return DiskReport{}, fmt.Errorf("no disk for broker %d", d.id)
	}
	return r, nil
}

// wireForwarder hands requests to the controller after a trip through
// their wire encoding, as the controller RPC does.
type wireForwarder struct{ c *Controller }

func (f wireForwarder) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	out := kmsg.RequestForKey(req.Key())
	out.SetVersion(req.GetVersion())
	if err := out.ReadFrom(req.AppendTo(nil)); err != nil {
		return nil, err
	}
	return f.c.Forward(ctx, out)
}

// End to end in one process: four brokers' lifecycles heartbeat through
// the wire encoding with (fake) disk reports, broker 1's past the
// threshold, and the balancer's next look starts a reassignment of broker
// 1's largest partition onto the broker with the most free space.
func TestLifecycle_DiskTriggerMoves(t *testing.T) {
	h := open(t, filepath.Join(t.TempDir(), "c"))
	b := h.ctrl.cfg.Broker
	b.BalancerEnable, b.BalancerMaxConcurrentMoves, b.BalancerDiskUsageThreshold = true, 1, 80
	fake := &fakeDisks{calls: map[int32]int{}, reports: map[int32]DiskReport{
		1: report(90, map[int32]int64{0: 30, 2: 5, 3: 1}), 2: report(40, nil), 3: report(50, nil), 4: report(20, nil),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for id := int32(1); id <= 4; id++ {
		l := NewLifecycle(LifecycleConfig{NodeID: id, ClusterID: h.ctrl.Image().ClusterID, Interval: 10 * time.Millisecond,
			Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: uint16(9092 + id)}},
			Disk:      fakeDisk{fake, id}, DiskInterval: 50 * time.Millisecond}, wireForwarder{h.ctrl}, h.loader, slog.New(slog.DiscardHandler))
		if err := l.Register(ctx); err != nil {
			t.Fatal(err)
		}
		l.Start()
		t.Cleanup(l.Close)
		if err := l.WaitUnfenced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	spec := TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{}}
	for i, rs := range evenOnFour {
		spec.Assignments[int32(i)] = rs
	}
	if _, err := h.ctrl.CreateTopic(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	for got, _ := h.ctrl.diskReports(time.Now()); len(got) < 4; got, _ = h.ctrl.diskReports(time.Now()) {
		if ctx.Err() != nil {
			t.Fatalf("reports: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.ctrl.balanceTick(ctx, &balancerState{}, time.Now())
	p := h.ctrl.Image().Topic("t").Partitions[0]
	if !slices.Equal(p.RemovingReplicas, []int32{1}) || !slices.Equal(p.AddingReplicas, []int32{4}) {
		t.Fatalf("t-0 after the balancer's look: %+v, want broker 1's replica moving to broker 4", p)
	}
	// Measured at most every DiskInterval, not per heartbeat.
	time.Sleep(200 * time.Millisecond)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if n := fake.calls[1]; n > 10 {
		t.Fatalf("broker 1 measured %d times", n)
	}
}

// After a reassignment the disk trigger waits for disk reports received at
// least diskSettle later (older ones may still count a moved replica's
// deleted copy); the balancer's other decisions do not wait for them, so a
// broker joining is evened at the balancer's pace, not the reports'.
func TestBalanceTick_DiskTriggerWaitsForReportsAfterReassignment(t *testing.T) {
	h := open(t, t.TempDir(), 1)
	b := h.ctrl.cfg.Broker
	b.BalancerEnable, b.BalancerDiskUsageThreshold = true, 80
	t0 := time.Now()
	r := report(50, nil)
	h.ctrl.hbMu.Lock()
	h.ctrl.sessions[1].disk, h.ctrl.sessions[1].diskAt = &r, t0
	h.ctrl.hbMu.Unlock()
	st := &balancerState{busyAt: t0.Add(-time.Second)}
	h.ctrl.balanceTick(context.Background(), st, t0.Add(time.Second))
	if st.last.IsZero() {
		t.Fatal("the balancer did not look while a disk report was stale")
	}

	img := balanceImage(t, 4, evenOnFour)
	disks := map[int32]DiskReport{
		1: report(90, map[int32]int64{0: 30, 2: 5, 3: 1}),
		2: report(40, nil), 3: report(50, nil), 4: report(20, nil),
	}
	stale := balDisk
	stale.diskStale = true
	if d := decideBalance(img, allLive, nil, nil, disks, time.Now(), stale); len(d.moves) != 0 || !strings.Contains(d.reason, "waiting for disk reports") {
		t.Fatalf("stale reports: %+v, want the disk trigger waiting", d)
	}
	// A broker that holds nothing is still evened while reports are stale.
	d := decideBalance(balanceImage(t, 4, sixOnThree), allLive, nil, nil, disks, time.Now(), stale)
	if len(d.moves) == 0 || !strings.Contains(d.reason, "uneven") {
		t.Fatalf("count evening with stale reports: %+v", d)
	}
}
