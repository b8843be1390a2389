package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// checkThrottledReplicas is Kafka's ThrottledReplicaListValidator: every
// item matches ([0-9]+:[0-9]+)? or the whole list is the literal *.
func checkThrottledReplicas(items []string) error {
	if strings.TrimSpace(strings.Join(items, "")) == "*" {
		return nil
	}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		p, b, ok := strings.Cut(it, ":")
		if !ok || !digits(p) || !digits(b) {
			return errors.New("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
		// Kafka's pattern takes any digits and its handler then fails on
		// numbers past an int; refused here rather than silently ignored.
		if _, err := strconv.ParseInt(p, 10, 32); err != nil {
			return fmt.Errorf("partition %s is out of range", p)
		}
		if _, err := strconv.ParseInt(b, 10, 32); err != nil {
			return fmt.Errorf("broker %s is out of range", b)
		}
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// LeaderThrottled reports whether this topic's partition is throttled on
// broker as leader (leader.replication.throttled.replicas names it, or
// is *): its bytes sent to followers count against broker's
// leader.replication.throttled.rate. Kafka's TopicConfigHandler keeps,
// on each broker, the partitions of the pairs naming that broker.
func (t Topic) LeaderThrottled(partition, broker int32) bool {
	return throttled(t.LeaderThrottledReplicas, partition, broker)
}

// FollowerThrottled reports whether this topic's partition is throttled on
// broker as follower (follower.replication.throttled.replicas).
func (t Topic) FollowerThrottled(partition, broker int32) bool {
	return throttled(t.FollowerThrottledReplicas, partition, broker)
}

func throttled(list []string, partition, broker int32) bool {
	for _, it := range list {
		it = strings.TrimSpace(it)
		if it == "*" {
			return true
		}
		p, b, ok := strings.Cut(it, ":")
		if !ok {
			continue
		}
		pi, perr := strconv.ParseInt(p, 10, 32)
		bi, berr := strconv.ParseInt(b, 10, 32)
		if perr == nil && berr == nil && int32(pi) == partition && int32(bi) == broker {
			return true
		}
	}
	return false
}

// ReplicationThrottleRates returns the leader and follower replication
// throttle rates in effect (bytes per second): the broker's own dynamic
// value, else the cluster-wide dynamic default, else the static one, as
// Kafka's BrokerConfigHandler resolves them. Dynamic values were
// validated by the controller; one that does not parse is skipped.
func (b *Broker) ReplicationThrottleRates(perBroker, cluster map[string]string) (leader, follower int64) {
	pick := func(key string, static int64) int64 {
		for _, m := range []map[string]string{perBroker, cluster} {
			if v, ok := m[key]; ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
					return n
				}
			}
		}
		return static
	}
	return pick("leader.replication.throttled.rate", b.LeaderReplicationThrottledRate),
		pick("follower.replication.throttled.rate", b.FollowerReplicationThrottledRate)
}
