package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Environment knobs of the nemesis tests.
const (
	// seedEnv replays a run's fault schedule (which node, how long):
	// FJORD_CHAOS_SEED=<the seed a run printed>. Timing still varies.
	seedEnv = "FJORD_CHAOS_SEED"
	// roundsEnv multiplies every test's rounds, for soaking:
	// FJORD_CHAOS_ROUNDS=10.
	roundsEnv = "FJORD_CHAOS_ROUNDS"
)

// nemesisRun is one nemesis test in progress: the cluster, its workload,
// the schedule's randomness, and what happened.
type nemesisRun struct {
	t        *testing.T
	c        *fjordtest.Cluster
	w        *workload
	rng      *rand.Rand
	faults   int
	recovery []time.Duration // per round: heal to every partition writing again
	failed   bool            // a round found a partition stuck; later rounds are skipped
}

// nemesis describes one nemesis test: rounds (times the multiplier) calls
// of round, each injecting faults, healing them and returning how many
// faults it injected. The runner then waits for every partition to take
// writes again before the next round.
type nemesis struct {
	rounds  int
	proxied bool
	round   func(r *nemesisRun, i int) int
}

// runNemesis starts a 3-node cluster with the replicated workload, runs
// the nemesis's rounds and every end-of-test check, and prints the test's
// fault count and duration.
func runNemesis(t *testing.T, n nemesis) {
	if fjordtest.CurrentTarget(t) == fjordtest.TargetKfake {
		t.Skip("the nemesis tests need a replicated cluster; kfake is a single process")
	}
	// The nemesis tests mostly wait (session timeouts, elections, holds),
	// so two at a time (go test's default -parallel on two cores) halve the
	// package's time at little cost in CPU.
	t.Parallel()
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(seedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, v, err)
		}
		seed = s
	}
	rounds := n.rounds
	if v := os.Getenv(roundsEnv); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			t.Fatalf("%s=%q: want a positive integer", roundsEnv, v)
		}
		rounds *= m
	}
	t.Logf("seed %d (replay the schedule with %s=%d), %d rounds", seed, seedEnv, seed, rounds)
	c := fjordtest.StartCluster(t, fjordtest.BuildBinary(t), clusterConfig(n.proxied))
	r := &nemesisRun{t: t, c: c, w: startWorkload(t, c), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	t.Logf("cluster and workload up in %v", time.Since(start).Round(time.Millisecond))
	if _, stuck := r.w.waitProgress(time.Now()); stuck != nil {
		t.Fatalf("partitions %v take no writes before any fault", stuck)
	}
	for i := range rounds {
		r.faults += n.round(r, i)
		if r.failed || t.Failed() {
			break
		}
		healed := time.Now()
		took, stuck := r.w.waitProgress(healed)
		if stuck != nil {
			r.w.skipOnKnownLivelock(t, fmt.Sprintf("after %d faults, in round %d", r.faults, i), stuck)
			t.Errorf("round %d: partitions %v took no acknowledged write for %v after the fault healed (a hang or a failover far slower than the session timeout); the nodes' views:\n  %s",
				i, stuck, progressTimeout, r.w.views())
			r.failed = true
			break
		}
		r.recovery = append(r.recovery, took)
	}
	faultsDone := time.Since(start)
	if !t.Failed() {
		r.w.verify(t)
	}
	slices.Sort(r.recovery)
	var p50, worst time.Duration
	if len(r.recovery) > 0 {
		p50, worst = r.recovery[len(r.recovery)/2], r.recovery[len(r.recovery)-1]
	}
	gapPart, gap := r.w.worstGap()
	t.Logf("NEMESIS %s: %d faults in %v (faults done at %v); %d acknowledged records; longest a partition went without an acknowledged write: %v (partition %d); every partition writing again %v (median) / %v (worst) after a heal",
		t.Name(), r.faults, time.Since(start).Round(time.Millisecond), faultsDone.Round(time.Millisecond), r.w.ledger.Len(),
		gap.Round(time.Millisecond), gapPart, p50.Round(time.Millisecond), worst.Round(time.Millisecond))
}

// between returns a random duration in [lo, hi).
func (r *nemesisRun) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

// randomLeader returns the leader of a random partition, or a random node
// if none is known.
func (r *nemesisRun) randomLeader() int32 {
	if id := r.w.leaderOf(int32(r.rng.IntN(replPartitions))); id > 0 {
		return id
	}
	return int32(1 + r.rng.IntN(len(r.c.Nodes())))
}

// logf logs what a round did.
func (r *nemesisRun) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf(format, args...)
}

// TestNemesis_KillLeader SIGKILLs the leader of a random partition and
// restarts it after a random downtime, sometimes shorter than the session
// timeout (the node comes back before it is fenced), sometimes longer
// (its leaderships have moved).
func TestNemesis_KillLeader(t *testing.T) {
	runNemesis(t, nemesis{rounds: 20, round: func(r *nemesisRun, i int) int {
		id := r.randomLeader()
		down := r.killAndRestart(id)
		r.logf("round %d: SIGKILL node %d, restarted after %v", i, id, down)
		return 1
	}})
}

// killAndRestart SIGKILLs node id and restarts it after a random downtime,
// sometimes shorter than the session timeout, sometimes longer; it returns
// the downtime.
func (r *nemesisRun) killAndRestart(id int32) time.Duration {
	down := r.between(300*time.Millisecond, 2500*time.Millisecond)
	node := r.c.Node(id)
	node.Proc.Kill()
	time.Sleep(down)
	node.Proc.Restart(r.t)
	return down.Round(time.Millisecond)
}

// pauseLeader is a round that SIGSTOPs the leader of a random partition for
// between lo and hi, then SIGCONTs it.
func pauseLeader(lo, hi time.Duration) func(r *nemesisRun, i int) int {
	return func(r *nemesisRun, i int) int {
		id := r.randomLeader()
		hold := r.between(lo, hi)
		node := r.c.Node(id)
		node.Proc.Pause()
		time.Sleep(hold)
		node.Proc.Resume()
		r.logf("round %d: SIGSTOP node %d for %v", i, id, hold.Round(time.Millisecond))
		return 1
	}
}

// TestNemesis_PauseBeyondSession SIGSTOPs the leader of a random partition
// for longer than broker.session.timeout.ms (1.5 s), so it is fenced and
// its leaderships move while it cannot notice, then SIGCONTs it: whatever
// it still believes as a stale leader must not be acknowledged.
func TestNemesis_PauseBeyondSession(t *testing.T) {
	runNemesis(t, nemesis{rounds: 20, round: pauseLeader(1800*time.Millisecond, 2800*time.Millisecond)})
}

// TestNemesis_PauseWithinSession SIGSTOPs the leader of a random partition
// for less than the session timeout, as a long GC pause or a stalled disk
// would: it is not fenced, its followers and clients wait, and it must
// carry on as leader where it stopped.
func TestNemesis_PauseWithinSession(t *testing.T) {
	// Below broker.session.timeout.ms (1.5 s) minus a heartbeat interval
	// (250 ms) and some scheduling slack.
	runNemesis(t, nemesis{rounds: 30, round: pauseLeader(200*time.Millisecond, 1000*time.Millisecond)})
}

// TestNemesis_IsolateNode cuts a node off from the other nodes in both
// directions (client and controller listeners, connections it opens and
// connections to it) through the fault proxies, then heals. The proxies
// drop traffic as a partition does: connections stall, new ones get no
// answer, and what was held is delivered late once healed (stale raft
// messages and requests included) unless an end gave up on it first. In odd rounds
// clients are cut off from it too; in even rounds they still reach it, so
// producers keep sending to a leader that has lost the quorum: it must not
// acknowledge anything (min.insync.replicas=2), and once healed it must
// truncate whatever it appended alone.
func TestNemesis_IsolateNode(t *testing.T) {
	runNemesis(t, nemesis{rounds: 20, proxied: true, round: func(r *nemesisRun, i int) int {
		id := r.randomLeader()
		if i%4 == 3 {
			// Now and then the active controller instead.
			if ctrl, _ := r.w.activeController(); ctrl > 0 {
				id = ctrl
			}
		}
		clients := i%2 == 1
		hold := r.between(1800*time.Millisecond, 3000*time.Millisecond)
		r.c.Isolate(id, clients)
		time.Sleep(hold)
		r.c.Heal()
		r.logf("round %d: isolated node %d (clients cut too: %v) for %v", i, id, clients, hold.Round(time.Millisecond))
		return 1
	}})
}

// TestNemesis_KillController SIGKILLs the active controller (the raft
// leader of the metadata quorum, as a majority of the brokers report it)
// and restarts it after a random downtime; the other two voters must elect
// a new one, which must then fence the dead broker and move its
// leaderships.
func TestNemesis_KillController(t *testing.T) {
	runNemesis(t, nemesis{rounds: 20, round: func(r *nemesisRun, i int) int {
		id, how := r.w.activeController()
		if id < 0 {
			r.t.Errorf("round %d: no active controller found", i)
			r.failed = true
			return 0
		}
		down := r.killAndRestart(id)
		r.logf("round %d: SIGKILL active controller %d (found from its %s), restarted after %v", i, id, how, down)
		return 1
	}})
}

// TestNemesis_RollingRestart restarts every node in turn with SIGTERM (a
// controlled shutdown), under load, waiting after each until every
// replica is back in sync.
func TestNemesis_RollingRestart(t *testing.T) {
	runNemesis(t, nemesis{rounds: 7, round: func(r *nemesisRun, i int) int {
		n := 0
		for _, node := range r.c.Nodes() {
			t0 := time.Now()
			node.Proc.Restart(r.t) // SIGTERM, wait for exit, start
			r.w.waitInSync(r.t, fmt.Sprintf("round %d, after restarting node %d", i, node.ID))
			r.logf("round %d: SIGTERM node %d, back and in sync after %v", i, node.ID, time.Since(t0).Round(time.Millisecond))
			n++
		}
		return n
	}})
}
