package fjordtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaderEpochs checks that no partition ever has two leaders in one leader
// epoch, from what brokers say: every observation of (partition, leader
// epoch, leader), from each broker's own Metadata answers, must agree with
// every other on the leader of that epoch. The controller bumps the epoch
// whenever the leader changes, and a broker learns of a leadership only
// with its epoch, so two leaders named for one epoch means the controller
// elected twice in one epoch or a broker took leadership it was not given.
// It complements CheckReplicas, which looks for the writes such a second
// leader would leave in the logs. It is safe for concurrent use.
type LeaderEpochs struct {
	mu           sync.Mutex
	leaders      map[epochKey]epochLeader // guarded by mu
	observations int64                    // guarded by mu
	problems     []string                 // guarded by mu, at most maxProblems
	more         int                      // guarded by mu
}

type epochKey struct {
	tp    topicPartition
	epoch int32
}

type epochLeader struct {
	leader int32
	source string
}

// NewLeaderEpochs returns an empty LeaderEpochs.
func NewLeaderEpochs() *LeaderEpochs { return &LeaderEpochs{leaders: map[epochKey]epochLeader{}} }

// Observe records that source (a broker, for messages) named leader as the
// leader of the partition in epoch. A negative leader (none) or epoch
// (unknown) says nothing and is ignored.
func (e *LeaderEpochs) Observe(source, topic string, partition, epoch, leader int32) {
	if leader < 0 || epoch < 0 {
		return
	}
	k := epochKey{topicPartition{topic, partition}, epoch}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observations++
	prev, ok := e.leaders[k]
	if !ok {
		e.leaders[k] = epochLeader{leader, source}
		return
	}
	if prev.leader == leader {
		return
	}
	if len(e.problems) >= maxProblems {
		e.more++
		return
	}
	e.problems = append(e.problems, fmt.Sprintf("%s leader epoch %d: leader %d (per %s) and leader %d (per %s)",
		k.tp, epoch, prev.leader, prev.source, leader, source))
}

// ObserveMetadata records every partition of a Metadata response from
// source.
func (e *LeaderEpochs) ObserveMetadata(source string, resp *kmsg.MetadataResponse) {
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 {
			continue
		}
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				e.Observe(source, *t.Topic, p.Partition, p.LeaderEpoch, p.Leader)
			}
		}
	}
}

// Epochs returns how many (partition, epoch) pairs were observed, and how
// many observations were made.
func (e *LeaderEpochs) Epochs() (epochs int, observations int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.leaders), e.observations
}

// Check returns the conflicts seen so far, one per line of text.
func (e *LeaderEpochs) Check() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]string(nil), e.problems...)
	if e.more > 0 {
		out = append(out, fmt.Sprintf("... and %d more conflicting leaders", e.more))
	}
	return out
}

// EpochWatcher polls brokers' Metadata into a LeaderEpochs. Stop (or the
// end of the test) stops it.
type EpochWatcher struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// watchRequestTimeout bounds one Metadata request; a paused or cut-off
// broker simply misses polls.
const watchRequestTimeout = time.Second

// WatchLeaderEpochs asks each broker address in addrs, on its own (never
// through another broker), for the metadata of topics every interval,
// recording every answer in e. Asking each broker separately catches a
// broker that believes it leads in an epoch the others give to someone
// else.
func WatchLeaderEpochs(t testing.TB, e *LeaderEpochs, addrs []string, topics []string, interval time.Duration) *EpochWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &EpochWatcher{cancel: cancel}
	var clients []*kgo.Client
	for _, addr := range addrs {
		// Metadata requests go to the seed itself through SeedBrokers.
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0),
			kgo.RetryTimeout(watchRequestTimeout), kgo.DialTimeout(watchRequestTimeout))
		if err != nil {
			cancel()
			for _, c := range clients {
				c.Close()
			}
			t.Fatalf("epoch watcher: %v", err)
		}
		clients = append(clients, cl)
	}
	for i, cl := range clients {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer cl.Close()
			w.poll(ctx, e, cl, addrs[i], topics, interval)
		}()
	}
	t.Cleanup(w.Stop)
	return w
}

func (w *EpochWatcher) poll(ctx context.Context, e *LeaderEpochs, cl *kgo.Client, addr string, topics []string, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		seeds := cl.SeedBrokers()
		if len(seeds) > 0 {
			req := kmsg.NewPtrMetadataRequest()
			for _, name := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
			rc, cancel := context.WithTimeout(ctx, watchRequestTimeout)
			resp, err := seeds[0].Request(rc, req)
			cancel()
			if err == nil {
				e.ObserveMetadata("broker at "+addr, resp.(*kmsg.MetadataResponse))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stop stops polling and waits for the pollers.
func (w *EpochWatcher) Stop() {
	w.once.Do(func() {
		w.cancel()
		w.wg.Wait()
	})
}
