package partition

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
)

// TopicConfigFunc resolves a topic's overrides against the broker's
// defaults.
type TopicConfigFunc func(overrides map[string]string) (config.Topic, error)

// ApplyDelta makes the hosted replicas match committed metadata: it opens
// the replicas assigned to nodeID in created or grown topics, applies
// config and leader-epoch changes, and deletes the replicas of removed
// topics (and of partitions no longer assigned here). It carries on past a
// failing replica and returns every failure joined.
func (m *Manager) ApplyDelta(d *metadata.Delta, topicConfig TopicConfigFunc, now time.Time) error {
	nodeID := m.nodeID
	var errs []error
	for _, t := range d.RemovedTopics() {
		for _, p := range t.Partitions {
			if err := m.Remove(ID{Topic: t.Name, Partition: p.Index}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	base := d.Base()
	for _, t := range d.ChangedTopics() {
		old := base.TopicByID(t.ID)
		configChanged := old == nil || !maps.Equal(old.Configs, t.Configs)
		cfg, err := topicConfig(t.Configs)
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, err))
			continue
		}
		for _, p := range t.Partitions {
			id := ID{Topic: t.Name, Partition: p.Index}
			hosted := m.Get(id)
			switch {
			case !slices.Contains(p.Replicas, nodeID):
				if hosted != nil {
					errs = append(errs, m.Remove(id))
				}
			default:
				l := Leadership{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
					Replicas: p.Replicas, ISR: p.ISR}
				if hosted == nil {
					if _, err = m.create(id, t.ID, cfg, &l); err != nil {
						errs = append(errs, err)
					}
					continue
				}
				if configChanged {
					hosted.SetConfig(cfg)
				}
				hosted.ApplyLeadership(l, now)
			}
		}
	}
	return errors.Join(errs...)
}
