package replication

import (
	"context"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/quota"
)

// Forwarder sends a Kafka request to the active controller.
type Forwarder interface {
	Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// Config holds the replica fetch settings (Kafka's replica.fetch.* keys).
type Config struct {
	NodeID int32
	// FetchMaxBytes is replica.fetch.max.bytes (per partition),
	// ResponseMaxBytes replica.fetch.response.max.bytes.
	FetchMaxBytes, ResponseMaxBytes int32
	// WaitMax is replica.fetch.wait.max.ms, MinBytes replica.fetch.min.bytes.
	WaitMax  time.Duration
	MinBytes int32
	// Backoff is replica.fetch.backoff.ms.
	Backoff time.Duration
	// BrokerEpoch returns this broker's registration epoch (for
	// AlterPartition).
	BrokerEpoch func() int64
	// SourceHost, when not empty, is the local IP followers dial leaders
	// from: the node's own address, so a test's fault proxy can tell
	// which node a connection comes from. "" lets the kernel choose.
	SourceHost string
	// Listener is inter.broker.listener.name: followers fetch from the
	// leader's endpoint of that name.
	Listener string
	// Fetchers is num.replica.fetchers: how many fetchers (each its own
	// connection, fetch loop and fsyncs) copy one leader's partitions,
	// which are spread over them by a hash of the partition.
	Fetchers int
	// Quota is the node's follower.replication.throttled.rate quota,
	// shared by all its fetchers; nil throttles nothing.
	Quota *quota.Replication
}

// fetcherKey names a fetcher: the leader it copies from and its index
// among that leader's num.replica.fetchers.
type fetcherKey struct {
	leader int32
	index  int
}

// Manager follows the metadata: every hosted follower replica is fetched
// by the fetcher of its leader; leaders are fetched by nobody.
type Manager struct {
	cfg    Config
	parts  *partition.Manager
	loader *metadata.Loader
	fwd    Forwarder
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards fetchers and closed
	fetchers map[fetcherKey]*fetcher
	closed   bool

	isr chan partition.ISRProposal
}

// New returns a manager; Start starts its ISR sender.
func New(cfg Config, parts *partition.Manager, loader *metadata.Loader, fwd Forwarder, logger *slog.Logger) *Manager {
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 1 << 20
	}
	if cfg.ResponseMaxBytes <= 0 {
		cfg.ResponseMaxBytes = 10 << 20
	}
	if cfg.WaitMax <= 0 {
		cfg.WaitMax = 500 * time.Millisecond
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Fetchers <= 0 {
		cfg.Fetchers = 1
	}
	if cfg.BrokerEpoch == nil {
		cfg.BrokerEpoch = func() int64 { return -1 }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, parts: parts, loader: loader, fwd: fwd, logger: logger, ctx: ctx, cancel: cancel,
		fetchers: map[fetcherKey]*fetcher{}, isr: make(chan partition.ISRProposal, 4096)}
}

// Start starts the ISR sender and hands ISR proposals of the hosted
// leaders to it.
func (m *Manager) Start() {
	m.parts.SetISRProposer(m.propose)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.sendISRChanges()
	}()
}

// Close stops every fetcher and the ISR sender.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[fetcherKey]*fetcher{}
	m.mu.Unlock()
	m.cancel()
	for _, f := range fs {
		f.stop()
	}
	m.wg.Wait()
}

// Publish is the manager's metadata publisher (after the partition
// manager's, which has opened and led the replicas already).
func (m *Manager) Publish(d *metadata.Delta, img *metadata.Image) {
	for _, t := range d.RemovedTopics() {
		for _, p := range t.Partitions {
			m.unfollow(partition.ID{Topic: t.Name, Partition: p.Index})
		}
	}
	for _, t := range d.ChangedTopics() {
		for _, p := range t.Partitions {
			id := partition.ID{Topic: t.Name, Partition: p.Index}
			part := m.parts.Get(id)
			if part == nil || part.Role() != partition.RoleFollower || p.Leader < 0 {
				m.unfollow(id)
				continue
			}
			m.follow(part, t.ID, p.Leader, p.LeaderEpoch)
		}
	}
	// Brokers' endpoints may have moved: fetchers re-dial on error.
}

// follow hands a follower replica to the fetcher of its leader.
func (m *Manager) follow(part *partition.Partition, topicID metadata.TopicID, leader, epoch int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	key := fetcherKey{leader, fetcherIndex(part.ID, m.cfg.Fetchers)}
	for k, f := range m.fetchers {
		if k != key {
			m.removeLocked(k, f, part.ID)
		}
	}
	f := m.fetchers[key]
	if f == nil {
		f = newFetcher(m, leader)
		m.fetchers[key] = f
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			f.run()
		}()
	}
	f.add(part, topicID, epoch)
}

func (m *Manager) unfollow(id partition.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, f := range m.fetchers {
		m.removeLocked(k, f, id)
	}
}

// removeLocked takes a partition from fetcher k and stops the fetcher once
// it copies nothing, so a former leader keeps no idle goroutine or
// connection. Caller holds mu.
func (m *Manager) removeLocked(k fetcherKey, f *fetcher, id partition.ID) {
	if f.remove(id) == 0 {
		f.stop()
		delete(m.fetchers, k)
	}
}

// fetcherIndex spreads a leader's partitions over n fetchers, as Kafka's
// fetcher manager does (by a hash of the topic and partition).
func fetcherIndex(id partition.ID, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id.Topic))
	return int((h.Sum32() + uint32(id.Partition)) % uint32(n))
}

// leaderAddr returns the leader's address on the inter-broker listener
// (its first endpoint when no name is configured) from the metadata.
func (m *Manager) leaderAddr(id int32) (string, bool) {
	b := m.loader.Image().Broker(id)
	if b == nil || len(b.Endpoints) == 0 {
		return "", false
	}
	for _, e := range b.Endpoints {
		if m.cfg.Listener == "" || e.Name == m.cfg.Listener {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
		}
	}
	return "", false
}

// propose queues an ISR change of a hosted leader; a full queue forgets
// it (never sent: the leader proposes again on its next tick).
func (m *Manager) propose(p partition.ISRProposal) {
	select {
	case m.isr <- p:
	default:
		p.Partition.ISRProposalRefused(p)
	}
}

// isrRetryBackoff is how long an unanswered AlterPartition waits before it
// is sent again.
const isrRetryBackoff = 500 * time.Millisecond

// sendISRChanges sends queued ISR proposals to the controller in
// AlterPartition batches. A batch the controller did not answer (timeout,
// no controller, a top-level error) is sent again after a backoff, as
// Kafka's AlterPartition manager does: the controller may have committed
// it, so the leader keeps it in flight rather than forget it. Retries are
// held here, one per partition (the latest wins), so none is dropped.
func (m *Manager) sendISRChanges() {
	retry := map[partition.ID]partition.ISRProposal{}
	var retryAt <-chan time.Time
	for {
		var batch []partition.ISRProposal
		select {
		case <-m.ctx.Done():
			return
		case p := <-m.isr:
			batch = append(batch, p)
		case <-retryAt:
			retryAt = nil
			for id, p := range retry {
				delete(retry, id)
				if p.Partition.ISRProposalInFlight(p) {
					batch = append(batch, p)
				}
			}
		}
		for more := true; more && len(batch) < 1000; {
			select {
			case p := <-m.isr:
				batch = append(batch, p)
			default:
				more = false
			}
		}
		if len(batch) == 0 {
			continue
		}
		for _, p := range m.alterPartition(dedupe(batch)) {
			retry[p.Partition.ID] = p
		}
		if len(retry) > 0 && retryAt == nil {
			retryAt = time.After(isrRetryBackoff)
		}
	}
}

// dedupe keeps the latest proposal of each partition (one AlterPartition
// names a partition once).
func dedupe(batch []partition.ISRProposal) []partition.ISRProposal {
	last := make(map[partition.ID]int, len(batch))
	for i, p := range batch {
		last[p.Partition.ID] = i
	}
	out := batch[:0]
	for i, p := range batch {
		if last[p.Partition.ID] == i {
			out = append(out, p)
		}
	}
	return out
}

// alterPartition sends one batch and returns the proposals to send again
// (unanswered and still in flight); refused ones are forgotten.
func (m *Manager) alterPartition(batch []partition.ISRProposal) []partition.ISRProposal {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 2
	req.BrokerID, req.BrokerEpoch = m.cfg.NodeID, m.cfg.BrokerEpoch()
	byTopic := map[[16]byte]int{}
	for _, p := range batch {
		i, ok := byTopic[p.Partition.TopicID]
		if !ok {
			t := kmsg.NewAlterPartitionRequestTopic()
			t.TopicID = p.Partition.TopicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.Partition.TopicID] = i
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = p.Partition.ID.Partition, p.LeaderEpoch, p.PartitionEpoch, p.ISR
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	resp, err := m.fwd.Forward(ctx, req)
	if err == nil {
		if r := resp.(*kmsg.AlterPartitionResponse); r.ErrorCode != 0 {
			err = kerr.ErrorForCode(r.ErrorCode)
		}
	}
	if err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		m.logger.Warn("AlterPartition unanswered; sending it again", "partitions", len(batch), "err", err)
		var again []partition.ISRProposal
		for _, p := range batch {
			if p.Partition.ISRProposalInFlight(p) {
				again = append(again, p)
			}
		}
		return again
	}
	refused := map[partition.ID]bool{}
	undecided := map[partition.ID]bool{}
	r := resp.(*kmsg.AlterPartitionResponse)
	for ti, t := range r.Topics {
		if ti >= len(req.Topics) {
			break
		}
		for _, rp := range t.Partitions {
			if rp.ErrorCode == 0 {
				continue
			}
			level := slog.LevelInfo
			if rp.ErrorCode == kerr.IneligibleReplica.Code || !notApplied(rp.ErrorCode) {
				// Repeated while a follower is fenced, or resent every
				// 500 ms until the metadata arrives.
				level = slog.LevelDebug
			}
			m.logger.Log(m.ctx, level, "AlterPartition not applied", "topic_id", metadata.TopicID(req.Topics[ti].TopicID).String(),
				"partition", rp.Partition, "err", kerr.ErrorForCode(rp.ErrorCode), "kept_pending", !notApplied(rp.ErrorCode))
			for _, b := range batch {
				if b.Partition.TopicID == req.Topics[ti].TopicID && b.Partition.ID.Partition == rp.Partition {
					if notApplied(rp.ErrorCode) {
						refused[b.Partition.ID] = true
					} else {
						undecided[b.Partition.ID] = true
					}
				}
			}
		}
	}
	var again []partition.ISRProposal
	for _, p := range batch {
		switch {
		case refused[p.Partition.ID]:
			// Refused for what it proposes: the next tick or fetch
			// proposes again.
			p.Partition.ISRProposalRefused(p)
		case undecided[p.Partition.ID] && p.Partition.ISRProposalInFlight(p):
			// Built on epochs the controller says it has moved past:
			// the newer metadata will settle it (ApplyLeadership clears
			// the proposal). It is sent again meanwhile, as Kafka's
			// leaders retry: a controller that had not yet learned it
			// lost its role answers from an old image, and a leader
			// waiting for metadata that is not coming would keep its ISR
			// from ever changing. A resend of a proposal the controller
			// committed is refused on its epochs, harmlessly.
			again = append(again, p)
		}
	}
	return again
}

// notApplied reports whether an AlterPartition error says the proposal
// itself was refused (so it is certainly not in the metadata) rather than
// built on epochs the controller has moved past. Only then is the pending
// ISR forgotten, as Kafka's leaders do on INELIGIBLE_REPLICA or
// OPERATION_NOT_ATTEMPTED. INVALID_UPDATE_VERSION and FENCED_LEADER_EPOCH
// (also the answer to a resend of a proposal the controller committed),
// NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION and NEW_LEADER_ELECTED
// (the proposal was committed and completed a reassignment that moved the
// leadership away) keep it pending, and sent again, until the newer metadata arrives (ApplyLeadership clears
// it): forgetting an expansion the controller committed would let the
// high watermark pass a member of the committed ISR that lacks the
// records.
func notApplied(code int16) bool {
	switch code {
	case 0, kerr.InvalidUpdateVersion.Code, kerr.FencedLeaderEpoch.Code, kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code,
		kerr.NewLeaderElected.Code:
		return false
	}
	return true
}
