package controller

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
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

// cordonedBrokers is the set of brokers whose log directories are all
// cordoned (KIP-1066's cordoned.log.dirs, a per-broker dynamic config):
// they receive no new replicas. Registered or not: a broker's cordon
// outlives its registration, as its config does.
func cordonedBrokers(img *metadata.Image) map[int32]bool {
	out := map[int32]bool{}
	for _, b := range img.Brokers() {
		if config.Cordoned(img.BrokerConfigs(strconv.Itoa(int(b.ID)))) {
			out[b.ID] = true
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

// place spreads count partitions of rf replicas over the live brokers that
// are not cordoned (cordonedBrokers), racks first: the brokers are ordered alternating racks (a1 b1 c1 a2 b2
// ...), partition i is led by the broker at (first+i) in that order, so
// leaders are balanced, and its followers are the next brokers on racks it
// does not use yet, so a partition spans min(rf, racks) racks and a
// stretched cluster that loses a whole rack keeps every partition. The
// followers' starting point shifts with i/n, spreading the follower load
// as Kafka's assignment does. firstIndex is the index of the first
// partition placed (CreatePartitions continues a topic's stripe).
func (c *Controller) place(img *metadata.Image, count, rf, firstIndex int) ([][]int32, error) {
	cordoned := cordonedBrokers(img)
	var usable, skipped []int32
	for _, id := range liveBrokers(img) {
		if cordoned[id] {
			skipped = append(skipped, id)
		} else {
			usable = append(usable, id)
		}
	}
	live := rackAlternated(img, usable)
	if rf > len(live) {
		if len(skipped) > 0 {
			// Kafka's message, with KIP-1066's mention of cordoning.
			return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered and not cordoned (all log directories of broker(s) %v are cordoned: cordoned.log.dirs)",
				kerr.InvalidReplicationFactor, rf, rf, len(live), skipped)
		}
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered",
			kerr.InvalidReplicationFactor, rf, rf, len(live))
	}
	n := len(live)
	rackOf := func(id int32) string {
		if b := img.Broker(id); b != nil && b.Rack != nil {
			return *b.Rack
		}
		return ""
	}
	out := make([][]int32, count)
	for i := range out {
		p := firstIndex + i
		leader := live[p%n]
		replicas := []int32{leader}
		racks := map[string]bool{rackOf(leader): true}
		shift := 1 + (p/n)%max(n-1, 1)
		// First pass: brokers on unused racks; second pass: any broker.
		for pass := 0; pass < 2 && len(replicas) < rf; pass++ {
			for k := 0; k < n && len(replicas) < rf; k++ {
				cand := live[(p+shift+k)%n]
				if slices.Contains(replicas, cand) || (pass == 0 && racks[rackOf(cand)]) {
					continue
				}
				replicas = append(replicas, cand)
				racks[rackOf(cand)] = true
			}
		}
		out[i] = replicas
	}
	return out, nil
}

// rackAlternated orders broker IDs alternating racks: the first broker of
// each rack (racks sorted), then the second of each, and so on. Brokers
// without a rack form a rack of their own.
func rackAlternated(img *metadata.Image, ids []int32) []int32 {
	byRack := map[string][]int32{}
	var racks []string
	for _, id := range ids {
		r := ""
		if b := img.Broker(id); b != nil && b.Rack != nil {
			r = *b.Rack
		}
		if _, ok := byRack[r]; !ok {
			racks = append(racks, r)
		}
		byRack[r] = append(byRack[r], id)
	}
	slices.Sort(racks)
	out := make([]int32, 0, len(ids))
	for k := 0; len(out) < len(ids); k++ {
		for _, r := range racks {
			if k < len(byRack[r]) {
				out = append(out, byRack[r][k])
			}
		}
	}
	return out
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
