package server

import (
	"errors"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
)

// maxPartitionsPerTopic bounds one request's folder creation; Kafka has no
// hard limit, but a request for millions of partitions is a mistake.
const maxPartitionsPerTopic = 100_000

// topicSpec is a topic creation request after decoding: -1 partitions or
// replication factor means the broker default.
type topicSpec struct {
	name              string
	partitions        int32
	replicationFactor int16
	assignments       map[int32][]int32
	configs           map[string]string
}

// brokerCount is the number of registered brokers: one in standalone mode.
func (b *Broker) brokerCount() int { return 1 }

// createTopic validates spec as Kafka does and, unless validateOnly, creates
// the partition folders and then commits the topic to the metadata store.
func (b *Broker) createTopic(spec topicSpec, validateOnly bool) (*metadata.Topic, error) {
	if err := metadata.ValidateTopicName(spec.name); err != nil {
		return nil, err
	}
	if spec.configs == nil {
		spec.configs = map[string]string{}
	}
	if err := config.ValidateTopicConfigs(spec.configs); err != nil {
		return nil, err
	}
	cfg, err := b.cfg.Broker.TopicConfig(spec.configs)
	if err != nil {
		return nil, err
	}
	assignments, err := b.assign(spec)
	if err != nil {
		return nil, err
	}

	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	img := b.meta.Image()
	if img.Topic(spec.name) != nil {
		return nil, fmt.Errorf("%w: topic '%s' already exists", metadata.ErrTopicExists, spec.name)
	}
	if other := img.Collides(spec.name); other != "" {
		return nil, fmt.Errorf("%w: topic '%s' collides with existing topic '%s' ('.' and '_' are treated alike)", metadata.ErrInvalidTopic, spec.name, other)
	}
	t := &metadata.Topic{Name: spec.name, ID: metadata.NewTopicID(), Configs: maps.Clone(spec.configs)}
	for i, replicas := range assignments {
		t.Partitions = append(t.Partitions, metadata.Partition{
			Index: int32(i), Leader: replicas[0], Replicas: replicas, ISR: replicas,
		})
	}
	if validateOnly {
		return t, nil
	}
	if err := b.openPartitions(t, t.Partitions, cfg); err != nil {
		return nil, err
	}
	if err := b.meta.Update(func(m *metadata.Mutation) error { m.PutTopic(t); return nil }); err != nil {
		for _, p := range t.Partitions {
			_ = b.parts.Remove(partition.ID{Topic: t.Name, Partition: p.Index})
		}
		return nil, fmt.Errorf("create topic %s: %w", t.Name, err)
	}
	b.logger.Info("created topic", "topic", t.Name, "topic_id", t.ID.String(), "partitions", len(t.Partitions))
	return t, nil
}

// openPartitions creates the hosted replicas of parts, undoing on failure.
func (b *Broker) openPartitions(t *metadata.Topic, parts []metadata.Partition, cfg config.Topic) error {
	for i, p := range parts {
		if _, err := b.parts.Create(partition.ID{Topic: t.Name, Partition: p.Index}, t.ID, cfg, p.LeaderEpoch); err != nil {
			for _, q := range parts[:i] {
				_ = b.parts.Remove(partition.ID{Topic: t.Name, Partition: q.Index})
			}
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// assign resolves the replica assignment of a new topic.
func (b *Broker) assign(spec topicSpec) ([][]int32, error) {
	if len(spec.assignments) > 0 {
		if spec.partitions != -1 || spec.replicationFactor != -1 {
			return nil, fmt.Errorf("%w: both numPartitions or replicationFactor and replicasAssignments were set; both cannot be used at the same time", kerr.InvalidRequest)
		}
		out := make([][]int32, len(spec.assignments))
		for p, replicas := range spec.assignments {
			if p < 0 || int(p) >= len(spec.assignments) {
				return nil, fmt.Errorf("%w: partitions should be a consecutive 0-based integer sequence", kerr.InvalidReplicaAssignment)
			}
			if err := b.checkReplicas(replicas); err != nil {
				return nil, err
			}
			out[p] = replicas
		}
		return out, nil
	}
	n, rf := spec.partitions, spec.replicationFactor
	if n == -1 {
		n = b.cfg.Broker.NumPartitions
	}
	if rf == -1 {
		rf = b.cfg.Broker.DefaultReplicationFactor
	}
	if n <= 0 || n > maxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: number of partitions must be between 1 and %d, got %d", metadata.ErrInvalidPartitions, maxPartitionsPerTopic, n)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0, got %d", kerr.InvalidReplicationFactor, rf)
	}
	if int(rf) > b.brokerCount() {
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered",
			kerr.InvalidReplicationFactor, rf, rf, b.brokerCount())
	}
	out := make([][]int32, n)
	for i := range out {
		out[i] = []int32{b.cfg.NodeID}
	}
	return out, nil
}

func (b *Broker) checkReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: a partition has no replicas", kerr.InvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if r != b.cfg.NodeID {
			return fmt.Errorf("%w: broker %d is not registered (this cluster has one broker, %d)", kerr.InvalidReplicaAssignment, r, b.cfg.NodeID)
		}
		if seen[r] {
			return fmt.Errorf("%w: duplicate replica %d", kerr.InvalidReplicaAssignment, r)
		}
		seen[r] = true
	}
	return nil
}

// deleteTopic removes a topic: the metadata change is made durable first,
// then the folders go; a crash in between leaves orphans that start-up
// removes (partition.Manager.RemoveOrphans).
func (b *Broker) deleteTopic(name string) error {
	if !b.cfg.Broker.DeleteTopicEnable {
		return fmt.Errorf("%w: delete.topic.enable is false", kerr.TopicDeletionDisabled)
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t := b.meta.Image().Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	if err := b.meta.Update(func(m *metadata.Mutation) error { m.DeleteTopic(name); return nil }); err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	var errs []error
	for _, p := range t.Partitions {
		errs = append(errs, b.parts.Remove(partition.ID{Topic: name, Partition: p.Index}))
	}
	if err := errors.Join(errs...); err != nil {
		b.logger.Error("topic deleted but some folders remain", "topic", name, "err", err)
	}
	b.logger.Info("deleted topic", "topic", name, "topic_id", t.ID.String())
	return nil
}

// applyTopicConfigs replaces a topic's overrides and applies them live.
func (b *Broker) applyTopicConfigs(name string, overrides map[string]string, validateOnly bool) error {
	if err := config.ValidateTopicConfigs(overrides); err != nil {
		return err
	}
	cfg, err := b.cfg.Broker.TopicConfig(overrides)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t := b.meta.Image().Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	nt := *t
	nt.Configs = maps.Clone(overrides)
	if err := b.meta.Update(func(m *metadata.Mutation) error { m.PutTopic(&nt); return nil }); err != nil {
		return fmt.Errorf("alter configs of %s: %w", name, err)
	}
	for _, p := range t.Partitions {
		if part := b.partitionFor(name, p.Index); part != nil {
			part.SetConfig(cfg)
		}
	}
	return nil
}
