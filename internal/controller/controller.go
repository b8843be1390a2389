package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
)

// MaxPartitionsPerTopic bounds one request's partitions; Kafka has no hard
// limit, but a request for millions of partitions is a mistake.
const MaxPartitionsPerTopic = 100_000

// Config is what the controller needs to decide.
type Config struct {
	// Broker supplies topic defaults (num.partitions,
	// default.replication.factor, the topic keys' broker defaults).
	Broker *config.Broker
}

// Controller validates metadata changes and commits them through the
// quorum. It is safe for concurrent use; operations run one at a time.
type Controller struct {
	cfg    Config
	quorum Quorum
	loader *metadata.Loader
	logger *slog.Logger

	mu sync.Mutex // one operation at a time (see the package invariants)

	hbMu     sync.Mutex // guards sessions; taken under mu, never the reverse
	sessions map[int32]*brokerSession

	elections ElectionStats
}

// ElectionStats counts the leader elections this node committed as the
// active controller, by where the new leader came from (Kafka:
// ControllerStats LeaderElectionRateAndTimeMs, UncleanLeaderElectionsPerSec,
// ElectionFromEligibleLeaderReplicasPerSec). A partition left without a
// leader counts as Offline.
type ElectionStats struct {
	// Clean: the new leader was in the ISR. ELR: elected from the
	// eligible leader replicas (KIP-966). Unclean: neither
	// (unclean.leader.election.enable). Offline: no leader at all.
	Clean, ELR, Unclean, Offline atomic.Int64
}

// Elections returns the node's election counters.
func (c *Controller) Elections() *ElectionStats { return &c.elections }

// countElections counts the leader changes among records, against img,
// the image they apply to (and, for a partition changed twice in one
// batch, its first change).
func (c *Controller) countElections(img *metadata.Image, records []metadata.Record) {
	type state struct {
		leader   int32
		isr, elr []int32
	}
	type key struct {
		topic metadata.TopicID
		part  int32
	}
	seen := map[key]state{}
	for _, r := range records {
		ch, ok := r.(*metadata.PartitionChangeRecord)
		if !ok {
			continue
		}
		k := key{ch.TopicID, ch.PartitionID}
		p, ok := seen[k]
		if !ok {
			t := img.TopicByID(ch.TopicID)
			if t == nil || ch.PartitionID < 0 || int(ch.PartitionID) >= len(t.Partitions) {
				continue
			}
			tp := &t.Partitions[ch.PartitionID]
			p = state{tp.Leader, tp.ISR, tp.ELR}
		}
		if ch.Leader != metadata.NoLeaderChange {
			switch {
			case ch.Leader == p.leader:
			case ch.Leader < 0:
				c.elections.Offline.Add(1)
			case slices.Contains(p.isr, ch.Leader):
				c.elections.Clean.Add(1)
			case slices.Contains(p.elr, ch.Leader):
				c.elections.ELR.Add(1)
			default:
				c.elections.Unclean.Add(1)
			}
			p.leader = ch.Leader
		}
		if ch.ISR != nil {
			p.isr = ch.ISR
		}
		if ch.ELR != nil {
			p.elr = ch.ELR
		}
		seen[k] = p
	}
}

// New returns a controller committing through quorum, whose batches are
// applied to loader.
func New(cfg Config, quorum Quorum, loader *metadata.Loader, logger *slog.Logger) *Controller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, quorum: quorum, loader: loader, logger: logger, sessions: map[int32]*brokerSession{}}
}

// Image returns the current metadata image.
func (c *Controller) Image() *metadata.Image { return c.loader.Image() }

// commit dry-runs records on the current image and commits them.
func (c *Controller) commit(ctx context.Context, records []metadata.Record) error {
	img := c.loader.Image()
	d := metadata.NewDelta(img)
	for _, r := range records {
		if err := d.Replay(r); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
	}
	if _, err := c.quorum.Commit(ctx, records); err != nil {
		return err
	}
	c.countElections(img, records)
	return nil
}

// TopicSpec is a topic creation request: -1 partitions or replication
// factor means the broker default; Assignments, when set, names every
// partition's replicas (and then both counts must be -1).
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignments       map[int32][]int32
	Configs           map[string]string
}

// CreateTopic validates spec as Kafka does and, unless validateOnly,
// commits the topic. It returns the topic as created (or as it would be).
func (c *Controller) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (*metadata.Topic, error) {
	if err := metadata.ValidateTopicName(spec.Name); err != nil {
		return nil, err
	}
	if spec.Configs == nil {
		spec.Configs = map[string]string{}
	}
	if err := config.ValidateTopicConfigs(spec.Configs); err != nil {
		return nil, err
	}
	if _, err := c.cfg.Broker.TopicConfig(spec.Configs); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	if img.Topic(spec.Name) != nil {
		return nil, fmt.Errorf("%w: topic '%s' already exists", metadata.ErrTopicExists, spec.Name)
	}
	if other := img.Collides(spec.Name); other != "" {
		return nil, fmt.Errorf("%w: topic '%s' collides with existing topic '%s' ('.' and '_' are treated alike)", metadata.ErrInvalidTopic, spec.Name, other)
	}
	assignments, err := c.assign(img, spec)
	if err != nil {
		return nil, err
	}
	t := &metadata.Topic{Name: spec.Name, ID: metadata.NewTopicID(), Configs: maps.Clone(spec.Configs)}
	for i, replicas := range assignments {
		t.Partitions = append(t.Partitions, metadata.Partition{Index: int32(i), Leader: replicas[0], Replicas: replicas, ISR: replicas})
	}
	if validateOnly {
		return t, nil
	}
	if err := c.commit(ctx, topicRecords(t, t.Partitions, true)); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", t.Name, err)
	}
	c.logger.Info("created topic", "topic", t.Name, "topic_id", t.ID.String(), "partitions", len(t.Partitions))
	return c.loader.Image().TopicByID(t.ID), nil
}

// topicRecords returns the records creating t (when withTopic) and parts.
func topicRecords(t *metadata.Topic, parts []metadata.Partition, withTopic bool) []metadata.Record {
	var recs []metadata.Record
	if withTopic {
		recs = append(recs, &metadata.TopicRecord{Name: t.Name, TopicID: t.ID})
	}
	for _, p := range parts {
		recs = append(recs, &metadata.PartitionRecord{PartitionID: p.Index, TopicID: t.ID, Replicas: p.Replicas, ISR: p.ISR,
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch})
	}
	if withTopic {
		keys := make([]string, 0, len(t.Configs))
		for k := range t.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := t.Configs[k]
			recs = append(recs, &metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: t.Name, Name: k, Value: &v})
		}
	}
	return recs
}

// DeleteTopic removes a topic; the brokers then delete its replicas.
func (c *Controller) DeleteTopic(ctx context.Context, name string) error {
	if metadata.IsInternal(name) || name == metadata.ClusterMetadataTopic {
		// Deleting __consumer_offsets loses every group and committed
		// offset. Kafka's tools refuse it; its broker does not, so the
		// code is the one Kafka's controller gives a prohibited
		// operation on an internal topic (creating __cluster_metadata).
		return fmt.Errorf("%w: deletion of internal topic %s is prohibited", kerr.InvalidRequest, name)
	}
	if !c.cfg.Broker.DeleteTopicEnable {
		return fmt.Errorf("%w: delete.topic.enable is false", kerr.TopicDeletionDisabled)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.loader.Image().Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	if err := c.commit(ctx, []metadata.Record{&metadata.RemoveTopicRecord{TopicID: t.ID}}); err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	c.logger.Info("deleted topic", "topic", name, "topic_id", t.ID.String())
	return nil
}

// CreatePartitions raises a topic's partition count to count; assignments,
// when not nil, name the new partitions' replicas.
func (c *Controller) CreatePartitions(ctx context.Context, name string, count int32, assignments [][]int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	t := img.Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	have := int32(len(t.Partitions))
	switch {
	case count < have:
		return fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", metadata.ErrInvalidPartitions, have, count)
	case count == have:
		return fmt.Errorf("%w: topic already has %d partitions", metadata.ErrInvalidPartitions, have)
	case count > MaxPartitionsPerTopic:
		return fmt.Errorf("%w: at most %d partitions per topic", metadata.ErrInvalidPartitions, MaxPartitionsPerTopic)
	}
	if assignments != nil && len(assignments) != int(count-have) {
		return fmt.Errorf("%w: increasing the number of partitions by %d but %d assignments provided", kerr.InvalidReplicaAssignment, count-have, len(assignments))
	}
	rf := len(t.Partitions[0].Replicas)
	var placed [][]int32
	if assignments == nil {
		var err error
		if placed, err = c.place(img, int(count-have), rf, int(have)); err != nil {
			return err
		}
	}
	var added []metadata.Partition
	for i := have; i < count; i++ {
		var replicas []int32
		if assignments != nil {
			replicas = assignments[i-have]
			if err := checkReplicas(img, replicas); err != nil {
				return err
			}
		} else {
			replicas = placed[i-have]
		}
		added = append(added, metadata.Partition{Index: i, Leader: replicas[0], Replicas: replicas, ISR: replicas})
	}
	if validateOnly {
		return nil
	}
	if err := c.commit(ctx, topicRecords(t, added, false)); err != nil {
		return fmt.Errorf("create partitions of %s: %w", name, err)
	}
	return nil
}

// AlterTopicConfigs replaces a topic's config overrides with what change
// makes of (a copy of) the current ones, under the controller's lock, so
// concurrent alterations of one topic cannot lose each other's keys.
func (c *Controller) AlterTopicConfigs(ctx context.Context, name string, change func(map[string]string) (map[string]string, error), validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.loader.Image().Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	overrides, err := change(maps.Clone(t.Configs))
	if err != nil {
		return err
	}
	if err := config.ValidateTopicConfigs(overrides); err != nil {
		return err
	}
	if _, err := c.cfg.Broker.TopicConfig(overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	recs := configChanges(metadata.ConfigResourceTopic, name, t.Configs, overrides)
	if len(recs) == 0 {
		return nil
	}
	if err := c.commit(ctx, recs); err != nil {
		return fmt.Errorf("alter configs of %s: %w", name, err)
	}
	return nil
}

// configChanges are the records that take a resource's configs from cur to
// overrides: a value for each key set or changed, a deletion (nil value)
// for each key dropped, in key order; none for a key left as it was.
func configChanges(resourceType metadata.ConfigResourceType, name string, cur, overrides map[string]string) []metadata.Record {
	var recs []metadata.Record
	keys := slices.Sorted(maps.Keys(overrides))
	for k := range cur {
		if _, ok := overrides[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, set := overrides[k]
		if old, had := cur[k]; had && set && old == v {
			continue
		}
		r := &metadata.ConfigRecord{ResourceType: resourceType, ResourceName: name, Name: k}
		if set {
			r.Value = &v
		}
		recs = append(recs, r)
	}
	return recs
}

// ProducerIDBlockSize is how many producer IDs a broker takes at a time
// (Kafka's block size).
const ProducerIDBlockSize = 1000

// AllocateProducerIDs hands brokerID a block of ProducerIDBlockSize
// producer IDs and returns the first (Kafka's AllocateProducerIds).
func (c *Controller) AllocateProducerIDs(ctx context.Context, brokerID int32, brokerEpoch int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.loader.Image().NextProducerID
	if first > 1<<62 {
		return 0, errors.New("controller: producer IDs exhausted")
	}
	r := &metadata.ProducerIdsRecord{BrokerID: brokerID, BrokerEpoch: brokerEpoch, NextProducerID: first + ProducerIDBlockSize}
	if err := c.commit(ctx, []metadata.Record{r}); err != nil {
		return 0, fmt.Errorf("allocate producer IDs: %w", err)
	}
	return first, nil
}
