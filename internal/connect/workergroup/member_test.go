package workergroup

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/distributed"
)

// worker is a test worker: it runs what it is assigned and, as leader,
// assigns six tasks of one connector with the cooperative assignor.
type worker struct {
	id     string
	member *Member

	mu      sync.Mutex
	current distributed.Assignment
	state   distributed.AssignorState
}

func (w *worker) State() distributed.WorkerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return distributed.WorkerState{URL: "http://" + w.id, Current: w.current}
}

func (w *worker) Assign(_ context.Context, leader string, version int16, members map[string]distributed.WorkerState) (map[string]distributed.LeaderAssignment, error) {
	var in distributed.AssignInput
	for id, s := range members {
		in.Members = append(in.Members, distributed.Member{ID: id, Current: s.Current})
	}
	in.Connectors = []string{"c"}
	for i := range 6 {
		in.Tasks = append(in.Tasks, connect.TaskID{Connector: "c", Task: i})
	}
	w.mu.Lock()
	in.State, in.Now = w.state, time.Now()
	out, st := distributed.Assign(in)
	w.state = st
	w.mu.Unlock()
	res := map[string]distributed.LeaderAssignment{}
	for id, o := range out {
		res[id] = distributed.LeaderAssignment{Leader: leader, LeaderURL: members[leader].URL, Assigned: o.Assigned, Revoked: o.Revoked}
	}
	return res, nil
}

func (w *worker) Assigned(_ context.Context, a distributed.LeaderAssignment, _ int32, _ string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := func(ids []connect.TaskID) []connect.TaskID {
		return slices.DeleteFunc(slices.Clone(w.current.Tasks), func(t connect.TaskID) bool { return slices.Contains(ids, t) })
	}
	w.current.Tasks = append(keep(a.Revoked.Tasks), a.Assigned.Tasks...)
	w.current.Connectors = slices.DeleteFunc(w.current.Connectors, func(c string) bool { return slices.Contains(a.Revoked.Connectors, c) })
	w.current.Connectors = append(w.current.Connectors, a.Assigned.Connectors...)
	if !a.Revoked.Empty() {
		w.member.RequestRejoin() // cooperative: the revoked work is reassigned in the next round
	}
}

func (w *worker) Revoked(context.Context) {
	w.mu.Lock()
	w.current = distributed.Assignment{}
	w.mu.Unlock()
}

func (w *worker) tasks() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.current.Tasks)
}

// Three workers share six tasks two each; one leaves and the other two
// take its tasks; each task is run by exactly one worker throughout the
// settled states.
func TestMember_ThreeWorkersShareAndOneLeaves(t *testing.T) {
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cfg := Config{GroupID: "connect-cluster", SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, Protocol: distributed.ProtocolCompatible}
	var workers []*worker
	stops := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for i := range 3 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		w := &worker{id: fmt.Sprintf("w%d", i)}
		w.member = New(cfg, cl, w)
		workers = append(workers, w)
		wctx, stop := context.WithCancel(ctx)
		stops[w.id] = stop
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.member.Run(wctx)
		}()
	}
	defer func() {
		for _, s := range stops {
			s()
		}
		wg.Wait()
	}()
	settled := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			got := map[string]int{}
			total := 0
			for _, w := range workers {
				if _, stopped := want[w.id]; stopped {
					got[w.id] = w.tasks()
					total += got[w.id]
				}
			}
			ok := total == 6
			for id, n := range want {
				ok = ok && got[id] == n
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("tasks per worker %v, want %v", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	settled(map[string]int{"w0": 2, "w1": 2, "w2": 2})
	stops["w2"]()
	settled(map[string]int{"w0": 3, "w1": 3})
}
