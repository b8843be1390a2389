package chaos

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// committer commits ever larger offsets of one group for every partition
// of the chaos topic, one commit in flight, remembering the last commit
// the broker acknowledged and the last one it attempted.
type committer struct {
	adm       *kadm.Client
	cl        *kgo.Client
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	acked     atomic.Int64 // last acknowledged offset (every partition)
	attempted atomic.Int64 // last offset sent
	ackCount  atomic.Int64
}

func startCommitter(t *testing.T, addr, group string) *committer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	cm := &committer{adm: kadm.NewClient(cl), cl: cl, cancel: cancel}
	cm.wg.Add(1)
	go func() {
		defer cm.wg.Done()
		for next := int64(1); c.Err() == nil; {
			offs := kadm.Offsets{}
			for p := range int32(partitions) {
				offs.Add(kadm.Offset{Topic: topic, Partition: p, At: next, LeaderEpoch: -1})
			}
			cm.attempted.Store(next)
			rc, cancelOne := context.WithTimeout(c, 3*time.Second)
			resp, err := cm.adm.CommitOffsets(rc, group, offs)
			cancelOne()
			if err == nil && resp.Error() == nil {
				cm.acked.Store(next)
				cm.ackCount.Add(1)
				next++
				continue
			}
			time.Sleep(20 * time.Millisecond) // broker down: retry the same offset
		}
	}()
	return cm
}

func (cm *committer) stop() {
	cm.cancel()
	cm.wg.Wait()
	cm.cl.Close()
}

// waitCommits waits, up to roundCap, until n more commits were
// acknowledged, returning how many were.
func (cm *committer) waitCommits(n int64) int64 {
	start := cm.ackCount.Load()
	deadline := time.Now().Add(roundCap)
	for cm.ackCount.Load()-start < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval, not an assertion
	}
	return cm.ackCount.Load() - start
}

// TestChaos_KillNineDuringOffsetCommits SIGKILLs the broker three times
// while a client commits offsets as fast as the broker acknowledges them:
// after each restart the group's committed offset of every partition is at
// least the last acknowledged commit (and at most the last attempted), so
// no acknowledged commit is lost, and commits go on.
func TestChaos_KillNineDuringOffsetCommits(t *testing.T) {
	b := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir())
	createTopic(t, b.Addr())
	const group = "chaos-commits"
	cm := startCommitter(t, b.Addr(), group)
	defer cm.stop()

	check := func(when string) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		c, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		acked := cm.acked.Load() // read before fetching: commits only grow
		fetched, err := kadm.NewClient(cl).FetchOffsets(c, group)
		if err == nil {
			err = fetched.Error()
		}
		if err != nil {
			t.Fatalf("%s: fetch offsets: %v", when, err)
		}
		attempted := cm.attempted.Load()
		for p := range int32(partitions) {
			o, ok := fetched.Lookup(topic, p)
			if !ok || o.At < acked || o.At > attempted {
				t.Fatalf("%s: partition %d committed %v (found %v), want between the last acknowledged %d and the last attempted %d",
					when, p, o.At, ok, acked, attempted)
			}
		}
		t.Logf("%s: committed offsets at or after the last acknowledged commit %d", when, acked)
	}
	for round := 1; round <= kills; round++ {
		if n := cm.waitCommits(300); n < 20 {
			t.Fatalf("round %d: only %d commits acknowledged in %v; the committer is stuck", round, n, roundCap)
		}
		b.Kill()
		acked := cm.acked.Load()
		b.Restart(t)
		t.Logf("round %d: SIGKILL after commit %d acknowledged", round, acked)
		check("after restart")
	}
	if n := cm.waitCommits(50); n < 20 {
		t.Fatalf("after the last restart only %d commits acknowledged", n)
	}
	check("at the end")
}
