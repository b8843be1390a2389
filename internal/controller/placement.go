package controller

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/metadata"
)

// liveBrokers lists the registered, unfenced brokers by ID.
func liveBrokers(img *metadata.Image) []int32 {
	var out []int32
	for _, b := range img.Brokers() {
		if !b.Fenced {
			out = append(out, b.ID)
		}
	}
	return out
}

// assign resolves the replica assignment of a new topic.
func (c *Controller) assign(img *metadata.Image, spec TopicSpec) ([][]int32, error) {
	if len(spec.Assignments) > 0 {
		if spec.Partitions != -1 || spec.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both numPartitions or replicationFactor and replicasAssignments were set; both cannot be used at the same time", kerr.InvalidRequest)
		}
		out := make([][]int32, len(spec.Assignments))
		for p, replicas := range spec.Assignments {
			if p < 0 || int(p) >= len(spec.Assignments) {
				return nil, fmt.Errorf("%w: partitions should be a consecutive 0-based integer sequence", kerr.InvalidReplicaAssignment)
			}
			if err := checkReplicas(img, replicas); err != nil {
				return nil, err
			}
			out[p] = replicas
		}
		return out, nil
	}
	n, rf := spec.Partitions, spec.ReplicationFactor
	if n == -1 {
		n = c.cfg.Broker.NumPartitions
	}
	if rf == -1 {
		rf = c.cfg.Broker.DefaultReplicationFactor
	}
	if n <= 0 || n > MaxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: number of partitions must be between 1 and %d, got %d", metadata.ErrInvalidPartitions, MaxPartitionsPerTopic, n)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0, got %d", kerr.InvalidReplicationFactor, rf)
	}
	return c.place(img, int(n), int(rf), 0)
}

// place spreads count partitions of rf replicas over the live brokers:
// partition i starts at broker (first+i) mod n and takes the next rf, so
// leaders (first replicas) are balanced. firstIndex is the index of the
// first partition placed (CreatePartitions continues a topic's stripe).
func (c *Controller) place(img *metadata.Image, count, rf, firstIndex int) ([][]int32, error) {
	live := liveBrokers(img)
	if rf > len(live) {
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered",
			kerr.InvalidReplicationFactor, rf, rf, len(live))
	}
	out := make([][]int32, count)
	for i := range out {
		replicas := make([]int32, rf)
		for r := range replicas {
			replicas[r] = live[(firstIndex+i+r)%len(live)]
		}
		out[i] = replicas
	}
	return out, nil
}

// checkReplicas validates an explicit assignment: at least one replica,
// each a registered broker, none twice.
func checkReplicas(img *metadata.Image, replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: a partition has no replicas", kerr.InvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if img.Broker(r) == nil {
			return fmt.Errorf("%w: broker %d is not registered (registered brokers: %v)", kerr.InvalidReplicaAssignment, r, liveBrokers(img))
		}
		if seen[r] {
			return fmt.Errorf("%w: duplicate replica %d", kerr.InvalidReplicaAssignment, r)
		}
		seen[r] = true
	}
	return nil
}
