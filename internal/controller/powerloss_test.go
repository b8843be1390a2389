package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Three voters, each on its own vfs.MemFS, commit topics while snapshots
// compact their logs; the power of all three is cut at one instant
// (vfs.CrashCloneAll: what was not fsynced is lost, or a random prefix of
// it kept), and the voters restart on what the crash left. Every commit
// acknowledged before the cut must be in every voter's image; repeated.
// The seed is logged; FJORD_CRASH_SEED replays the choices and
// FJORD_CRASH_RUNS sets the number of cuts.
func TestRaft_PowerLossOfEveryVoter(t *testing.T) {
	seed := uint64(rand.Int64())
	if s := os.Getenv("FJORD_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FJORD_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with FJORD_CRASH_SEED=%d)", seed, seed)
	runs := 5
	if s := os.Getenv("FJORD_CRASH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("FJORD_CRASH_RUNS=%q: want a positive number", s)
		}
		runs = n
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rc := newRaftCluster(t, 7, 1, 2, 3)
	mems := make([]*vfs.MemFS, len(rc.voters))
	for i, id := range rc.voters {
		mems[i] = vfs.NewMem()
		rc.fss[id], rc.dirs[id] = mems[i], "/data/"+MetadataLogDir
	}
	for _, id := range rc.voters {
		rc.start(id).ReleaseVotes()
	}
	var (
		mu      sync.Mutex // the cut: commits are counted under it until crashed
		crashed bool
		acked   []string
	)
	for round := range runs {
		rc.leader()
		mu.Lock()
		crashed = false
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					name := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					q := rc.leaderOrNil()
					if q == nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					c, cancelCommit := context.WithTimeout(ctx, time.Second)
					_, err := q.Commit(c, []metadata.Record{&metadata.TopicRecord{Name: name, TopicID: metadata.NewTopicID()}})
					cancelCommit()
					mu.Lock()
					if err == nil && !crashed {
						acked = append(acked, name)
					}
					mu.Unlock()
				}
			})
		}
		// Cut once some commits of this round are in, and a random while
		// after: commits are in flight.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > before+5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no commit within 10 s", round)
			}
		}
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		opts := vfs.CrashOptions{}
		if rng.IntN(2) == 1 {
			opts.Rand = rand.New(rand.NewPCG(rng.Uint64(), 2))
		}
		mu.Lock()
		clones := vfs.CrashCloneAll(opts, mems...)
		crashed = true
		mu.Unlock()
		cancel()
		wg.Wait()
		for _, id := range rc.voters {
			rc.stop(id)
		}
		copy(mems, clones)
		for i, id := range rc.voters {
			rc.fss[id] = mems[i]
			rc.start(id)
		}
		mu.Lock()
		want := slices.Clone(acked)
		mu.Unlock()
		rc.waitHolding(want)
		t.Logf("round %d (random write-back %v): %d acknowledged commits in every voter's image", round, opts.Rand != nil, len(want))
	}
}

// leaderOrNil returns the active voter, or nil.
func (rc *raftCluster) leaderOrNil() *RaftQuorum {
	rc.net.mu.Lock()
	defer rc.net.mu.Unlock()
	for _, q := range rc.net.nodes {
		if q.Status().Active {
			return q
		}
	}
	return nil
}

// waitHolding waits until every running voter's image holds the topics
// names (a voter restarted on a log whose commit index was not yet
// durable learns the rest from the leader).
func (rc *raftCluster) waitHolding(names []string) {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		missing := ""
		for _, id := range rc.voters {
			img := rc.loaders[id].Image()
			for _, n := range names {
				if img.Topic(n) == nil {
					missing = fmt.Sprintf("voter %d lacks topic %s", id, n)
					break
				}
			}
			if missing != "" {
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("after the restart: %s, committed before the power cut", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
