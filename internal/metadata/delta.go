package metadata

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
)

// ErrInconsistent reports a record that does not fit the image it is
// replayed on (a partition of an unknown topic, a second topic of one
// name). The controller never writes one; a metadata log holding one is
// damaged.
var ErrInconsistent = fmt.Errorf("metadata: record does not fit the image")

// Delta is the change a batch of records makes to an image. Records are
// replayed into it in log order; Apply then returns the next image, and
// the delta tells the components that react to metadata (partition
// manager, coordinators) what changed. The base image is never modified:
// changed topics are copied on first write.
type Delta struct {
	base *Image
	next *Image

	owned          map[TopicID]bool   // topics already copied into next
	changedTopics  map[TopicID]bool   // created or changed, present in next
	removedTopics  map[TopicID]*Topic // present in base, gone from next
	changedBrokers map[int32]bool
	votersChanged  bool
}

// NewDelta starts a delta on base.
func NewDelta(base *Image) *Delta {
	next := &Image{
		ClusterID: base.ClusterID, NextProducerID: base.NextProducerID, Offset: base.Offset,
		topics: maps.Clone(base.topics), byID: maps.Clone(base.byID), brokers: maps.Clone(base.brokers),
		brokerConfigs: maps.Clone(base.brokerConfigs), features: maps.Clone(base.features), voters: base.voters,
	}
	return &Delta{base: base, next: next, owned: map[TopicID]bool{}, changedTopics: map[TopicID]bool{},
		removedTopics: map[TopicID]*Topic{}, changedBrokers: map[int32]bool{}}
}

// Base is the image the delta started from.
func (d *Delta) Base() *Image { return d.base }

// SetOffset records the metadata log offset of the last replayed record.
func (d *Delta) SetOffset(offset int64) { d.next.Offset = offset }

// Apply returns the image with every replayed record applied. The delta
// must not be replayed into afterwards.
func (d *Delta) Apply() *Image { return d.next }

// ChangedTopics lists the topics created or changed (partitions, leaders,
// ISR or configs), sorted by name.
func (d *Delta) ChangedTopics() []*Topic {
	out := make([]*Topic, 0, len(d.changedTopics))
	for id := range d.changedTopics {
		out = append(out, d.next.byID[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RemovedTopics lists the topics of the base image that were deleted.
func (d *Delta) RemovedTopics() []*Topic {
	out := slices.Collect(maps.Values(d.removedTopics))
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// VotersChanged reports whether a VotersRecord was replayed: the quorum's
// voters or their endpoints changed.
func (d *Delta) VotersChanged() bool { return d.votersChanged }

// ChangedBrokers lists the brokers registered, changed or unregistered.
func (d *Delta) ChangedBrokers() []int32 {
	out := slices.Collect(maps.Keys(d.changedBrokers))
	slices.Sort(out)
	return out
}

// own returns next's copy of topic id, copying it on first write.
func (d *Delta) own(id TopicID) (*Topic, error) {
	t := d.next.byID[id]
	if t == nil {
		return nil, fmt.Errorf("%w: unknown topic ID %s", ErrInconsistent, id)
	}
	if !d.owned[id] {
		c := *t
		c.Partitions = slices.Clone(t.Partitions)
		c.Configs = maps.Clone(t.Configs)
		if c.Configs == nil {
			c.Configs = map[string]string{}
		}
		t = &c
		d.next.topics[t.Name] = t
		d.next.byID[id] = t
		d.owned[id] = true
	}
	d.changedTopics[id] = true
	return t, nil
}

// Replay applies one record.
func (d *Delta) Replay(r Record) error {
	im := d.next
	switch r := r.(type) {
	case *TopicRecord:
		if err := ValidateTopicName(r.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
		if im.topics[r.Name] != nil || im.byID[r.TopicID] != nil {
			return fmt.Errorf("%w: topic %s (%s) exists", ErrInconsistent, r.Name, r.TopicID)
		}
		t := &Topic{Name: r.Name, ID: r.TopicID, Configs: map[string]string{}}
		im.topics[t.Name], im.byID[t.ID] = t, t
		d.owned[t.ID], d.changedTopics[t.ID] = true, true
	case *PartitionRecord:
		t, err := d.own(r.TopicID)
		if err != nil {
			return err
		}
		p := Partition{Index: r.PartitionID, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
			Replicas: r.Replicas, ISR: r.ISR, ELR: r.ELR, LastKnownELR: r.LastKnownELR,
			AddingReplicas: nonEmpty(r.AddingReplicas), RemovingReplicas: nonEmpty(r.RemovingReplicas)}
		switch {
		case int(r.PartitionID) < len(t.Partitions) && r.PartitionID >= 0:
			t.Partitions[r.PartitionID] = p
		case int(r.PartitionID) == len(t.Partitions):
			t.Partitions = append(t.Partitions, p)
		default:
			return fmt.Errorf("%w: partition %d of %s, which has %d", ErrInconsistent, r.PartitionID, t.Name, len(t.Partitions))
		}
	case *PartitionChangeRecord:
		t, err := d.own(r.TopicID)
		if err != nil {
			return err
		}
		if r.PartitionID < 0 || int(r.PartitionID) >= len(t.Partitions) {
			return fmt.Errorf("%w: change of partition %d of %s, which has %d", ErrInconsistent, r.PartitionID, t.Name, len(t.Partitions))
		}
		p := &t.Partitions[r.PartitionID]
		if r.ISR != nil {
			p.ISR = r.ISR
		}
		if r.Replicas != nil {
			p.Replicas = r.Replicas
		}
		if r.ELR != nil {
			p.ELR = r.ELR
		}
		if r.LastKnownELR != nil {
			p.LastKnownELR = r.LastKnownELR
		}
		// An empty (not nil) list ends the reassignment: completed or
		// cancelled.
		if r.AddingReplicas != nil {
			p.AddingReplicas = nonEmpty(r.AddingReplicas)
		}
		if r.RemovingReplicas != nil {
			p.RemovingReplicas = nonEmpty(r.RemovingReplicas)
		}
		if r.Leader != NoLeaderChange {
			p.Leader = r.Leader
			p.LeaderEpoch++
		}
		p.PartitionEpoch++
	case *RemoveTopicRecord:
		t := im.byID[r.TopicID]
		if t == nil {
			return fmt.Errorf("%w: removing unknown topic %s", ErrInconsistent, r.TopicID)
		}
		delete(im.topics, t.Name)
		delete(im.byID, t.ID)
		delete(d.changedTopics, t.ID)
		delete(d.owned, t.ID)
		if old := d.base.byID[t.ID]; old != nil {
			d.removedTopics[t.ID] = old
		}
	case *ConfigRecord:
		return d.replayConfig(r)
	case *RegisterBrokerRecord:
		im.brokers[r.BrokerID] = &Broker{ID: r.BrokerID, IncarnationID: r.IncarnationID, Epoch: r.BrokerEpoch,
			Endpoints: r.Endpoints, Rack: r.Rack, Fenced: r.Fenced, InControlledShutdown: r.InControlledShutdown}
		d.changedBrokers[r.BrokerID] = true
	case *UnregisterBrokerRecord:
		delete(im.brokers, r.BrokerID)
		d.changedBrokers[r.BrokerID] = true
	case *FenceBrokerRecord:
		return d.setFenced(r.ID, r.Epoch, true)
	case *UnfenceBrokerRecord:
		return d.setFenced(r.ID, r.Epoch, false)
	case *FeatureLevelRecord:
		im.features[r.Name] = r.FeatureLevel
	case *VotersRecord:
		voters := slices.Clone(r.Voters)
		if voters == nil {
			voters = []Voter{}
		}
		slices.SortFunc(voters, func(a, b Voter) int { return int(a.ID) - int(b.ID) })
		d.next.voters = voters
		d.votersChanged = true
	case *ProducerIdsRecord:
		if r.NextProducerID < im.NextProducerID {
			return fmt.Errorf("%w: producer IDs moving back from %d to %d", ErrInconsistent, im.NextProducerID, r.NextProducerID)
		}
		im.NextProducerID = r.NextProducerID
	default:
		return fmt.Errorf("%w: record type %d cannot be replayed", ErrInconsistent, r.Type())
	}
	return nil
}

// nonEmpty keeps "no reassignment" one value in the image (nil), whether
// it was replayed from a null or from an empty list: images rebuilt from a
// snapshot and from the log then compare equal.
func nonEmpty(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func (d *Delta) setFenced(id int32, epoch int64, fenced bool) error {
	b := d.next.brokers[id]
	if b == nil || b.Epoch != epoch {
		return fmt.Errorf("%w: fencing change of broker %d epoch %d, not registered with that epoch", ErrInconsistent, id, epoch)
	}
	c := *b
	c.Fenced = fenced
	d.next.brokers[id] = &c
	d.changedBrokers[id] = true
	return nil
}

func (d *Delta) replayConfig(r *ConfigRecord) error {
	switch r.ResourceType {
	case ConfigResourceTopic:
		t := d.next.topics[r.ResourceName]
		if t == nil {
			return fmt.Errorf("%w: config of unknown topic %s", ErrInconsistent, r.ResourceName)
		}
		t, _ = d.own(t.ID)
		setConfig(t.Configs, r.Name, r.Value)
	case ConfigResourceBroker:
		cfg := maps.Clone(d.next.brokerConfigs[r.ResourceName])
		if cfg == nil {
			cfg = map[string]string{}
		}
		setConfig(cfg, r.Name, r.Value)
		if len(cfg) == 0 {
			delete(d.next.brokerConfigs, r.ResourceName)
		} else {
			d.next.brokerConfigs[r.ResourceName] = cfg
		}
	default:
		return fmt.Errorf("%w: config of resource type %d", ErrInconsistent, r.ResourceType)
	}
	return nil
}

func setConfig(m map[string]string, k string, v *string) {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = *v
	}
}

// diff returns the delta that takes base to next: topics that are new or
// differ are changed, topics gone are removed, and every broker whose
// registration differs is changed.
func diff(base, next *Image) *Delta {
	d := &Delta{base: base, next: next, owned: map[TopicID]bool{}, changedTopics: map[TopicID]bool{},
		removedTopics: map[TopicID]*Topic{}, changedBrokers: map[int32]bool{}}
	for id, t := range next.byID {
		if old := base.byID[id]; old == nil || !reflect.DeepEqual(old, t) {
			d.changedTopics[id] = true
		}
	}
	for id, t := range base.byID {
		if next.byID[id] == nil {
			d.removedTopics[id] = t
		}
	}
	for id, b := range next.brokers {
		if old := base.brokers[id]; old == nil || !reflect.DeepEqual(old, b) {
			d.changedBrokers[id] = true
		}
	}
	for id := range base.brokers {
		if next.brokers[id] == nil {
			d.changedBrokers[id] = true
		}
	}
	d.votersChanged = !reflect.DeepEqual(base.voters, next.voters)
	return d
}

// DeltaOf returns the delta that builds img from an empty image: every
// topic and broker changed. A component that subscribes after the replay
// catches up with it.
func DeltaOf(img *Image) *Delta { return diff(NewImage(img.ClusterID), img) }
