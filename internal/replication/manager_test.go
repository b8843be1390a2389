package replication

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
)

// scriptedController answers AlterPartition from a script: each call takes
// the next answer (an error, or a per-partition error code).
type scriptedController struct {
	mu      sync.Mutex
	answers []func(*kmsg.AlterPartitionRequest) (kmsg.Response, error)
	sent    []*kmsg.AlterPartitionRequest
	calls   chan struct{}
}

func (c *scriptedController) Forward(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
	r := req.(*kmsg.AlterPartitionRequest)
	c.mu.Lock()
	c.sent = append(c.sent, r)
	answer := c.answers[min(len(c.sent), len(c.answers))-1]
	c.mu.Unlock()
	defer func() {
		select {
		case c.calls <- struct{}{}:
		default:
		}
	}()
	return answer(r)
}

func unanswered(*kmsg.AlterPartitionRequest) (kmsg.Response, error) {
	return nil, context.DeadlineExceeded
}

func answerCode(code int16) func(*kmsg.AlterPartitionRequest) (kmsg.Response, error) {
	return func(r *kmsg.AlterPartitionRequest) (kmsg.Response, error) {
		resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewAlterPartitionResponseTopic()
			rt.TopidID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterPartitionResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
}

// testReplicas returns an empty partition manager of node 1 and the
// default topic config.
func testReplicas(t *testing.T, logger *slog.Logger) (*partition.Manager, config.Topic) {
	t.Helper()
	parts := partition.NewManager(partition.ManagerConfig{Dir: t.TempDir(), NodeID: 1}, logger)
	t.Cleanup(func() { _ = parts.Close() })
	b, _, err := config.LoadBroker(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := b.TopicConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	return parts, cfg
}

// leaderWithExpansion returns a leader of replicas 1,2 with ISR [1] and an
// expansion to [1 2] proposed through the manager's sender.
func leaderWithExpansion(t *testing.T, ctl *scriptedController) (*partition.Partition, partition.ISRProposal) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	parts, cfg := testReplicas(t, logger)
	p, err := parts.Create(partition.ID{Topic: "t", Partition: 0}, [16]byte{7}, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p.ApplyLeadership(partition.Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}, now)
	m := New(Config{NodeID: 1}, parts, nil, ctl, logger)
	m.Start()
	t.Cleanup(m.Close)
	if err := p.FollowerFetched(2, 1, 0, 0, now); err != nil {
		t.Fatal(err)
	}
	return p, partition.ISRProposal{Partition: p, ISR: []int32{1, 2}, LeaderEpoch: 1, PartitionEpoch: 1}
}

func waitCall(t *testing.T, ctl *scriptedController) {
	t.Helper()
	select {
	case <-ctl.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no AlterPartition sent")
	}
}

// An AlterPartition the controller did not answer may still have been
// committed: the expansion stays in flight (so the high watermark keeps
// waiting for the new member) and is sent again until answered.
func TestManager_UnansweredAlterPartitionIsRetried(t *testing.T) {
	ctl := &scriptedController{calls: make(chan struct{}, 16),
		answers: []func(*kmsg.AlterPartitionRequest) (kmsg.Response, error){unanswered, unanswered, answerCode(0)}}
	p, prop := leaderWithExpansion(t, ctl)
	for range 3 {
		waitCall(t, ctl)
	}
	if !p.ISRProposalInFlight(prop) {
		t.Fatal("the unanswered expansion was forgotten")
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	for i, r := range ctl.sent {
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || !slices.Equal(r.Topics[0].Partitions[0].NewISR, []int32{1, 2}) {
			t.Fatalf("request %d: %+v, want the expansion to [1 2]", i, r.Topics)
		}
	}
}

// A proposal the controller answers with epochs it has moved past
// (INVALID_UPDATE_VERSION: also the answer to a resend of a proposal it
// committed; NOT_LEADER_OR_FOLLOWER from a controller that had not yet
// learned it lost its role) stays pending until the metadata brings the
// newer state, and is sent again meanwhile: forgetting it could let the
// high watermark pass a member of the committed ISR, and waiting without
// resending would wait for good when the answer came from a stale
// controller.
func TestManager_StaleAnswerKeepsProposalAndResends(t *testing.T) {
	ctl := &scriptedController{calls: make(chan struct{}, 16),
		answers: []func(*kmsg.AlterPartitionRequest) (kmsg.Response, error){
			answerCode(kerr.InvalidUpdateVersion.Code), answerCode(kerr.NotLeaderForPartition.Code), answerCode(0)}}
	p, prop := leaderWithExpansion(t, ctl)
	for i := range 3 {
		waitCall(t, ctl)
		if !p.ISRProposalInFlight(prop) {
			t.Fatalf("after answer %d the expansion was forgotten", i+1)
		}
	}
	time.Sleep(3 * isrRetryBackoff) // a resend after the success would be sent by now (ordering only)
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if len(ctl.sent) != 3 {
		t.Fatalf("%d AlterPartition requests, want 3 (resent until answered without error)", len(ctl.sent))
	}
}

// A refused proposal is forgotten: the next fetch or tick proposes again.
func TestManager_RefusedAlterPartitionIsForgotten(t *testing.T) {
	ctl := &scriptedController{calls: make(chan struct{}, 16),
		answers: []func(*kmsg.AlterPartitionRequest) (kmsg.Response, error){answerCode(kerr.IneligibleReplica.Code)}}
	p, prop := leaderWithExpansion(t, ctl)
	waitCall(t, ctl)
	deadline := time.Now().Add(5 * time.Second)
	for p.ISRProposalInFlight(prop) {
		if time.Now().After(deadline) {
			t.Fatal("the refused expansion is still in flight")
		}
		time.Sleep(time.Millisecond)
	}
}

// Followers dial the leader's endpoint on inter.broker.listener.name, not
// its first (client) endpoint.
func TestManager_LeaderAddrUsesInterBrokerListener(t *testing.T) {
	loader := metadata.NewLoader(metadata.NewImage("c"))
	if _, err := loader.Apply([]metadata.Record{&metadata.RegisterBrokerRecord{BrokerID: 2, BrokerEpoch: 1, Endpoints: []metadata.Endpoint{
		{Name: "CLIENT", Host: "127.0.0.1", Port: 9092}, {Name: "REPLICATION", Host: "127.0.0.2", Port: 9094}}}}, 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ listener, want string }{{"REPLICATION", "127.0.0.2:9094"}, {"CLIENT", "127.0.0.1:9092"}, {"", "127.0.0.1:9092"}} {
		m := New(Config{NodeID: 1, Listener: tt.listener}, nil, loader, nil, slog.New(slog.DiscardHandler))
		if got, ok := m.leaderAddr(2); !ok || got != tt.want {
			t.Errorf("listener %q: leader address %q %v, want %q", tt.listener, got, ok, tt.want)
		}
	}
	m := New(Config{NodeID: 1, Listener: "OTHER"}, nil, loader, nil, slog.New(slog.DiscardHandler))
	if got, ok := m.leaderAddr(2); ok {
		t.Errorf("a leader without the inter-broker listener gave %q", got)
	}
}

// num.replica.fetchers spreads a leader's partitions over that many
// fetchers; a fetcher left with nothing to copy stops.
func TestManager_SpreadsPartitionsOverFetchers(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	parts, cfg := testReplicas(t, logger)
	m := New(Config{NodeID: 1, Fetchers: 3}, parts, metadata.NewLoader(metadata.NewImage("c")), nil, logger)
	defer m.Close()
	want := map[int]bool{}
	var ids []partition.ID
	for i := range int32(12) {
		id := partition.ID{Topic: "t", Partition: i}
		p, err := parts.Create(id, [16]byte{7}, cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		m.follow(p, [16]byte{7}, 2, 1)
		want[fetcherIndex(id, 3)] = true
		ids = append(ids, id)
	}
	m.mu.Lock()
	n := len(m.fetchers)
	m.mu.Unlock()
	if n != len(want) || n < 2 {
		t.Fatalf("%d fetchers for 12 partitions over num.replica.fetchers=3 (want %d, more than one)", n, len(want))
	}
	for _, id := range ids {
		m.unfollow(id)
	}
	m.mu.Lock()
	n = len(m.fetchers)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d fetchers left with nothing to copy", n)
	}
}
