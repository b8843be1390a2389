// Package quota measures byte rates the way Kafka's metrics library does
// (a Rate over sampled windows, org.apache.kafka.common.metrics.stats) and
// holds the replication quotas built on it (Kafka's
// ReplicationQuotaManager): leader.replication.throttled.rate and
// follower.replication.throttled.rate.
//
// Everything here is driven by the caller's clock (now): the cores are
// pure and tested without sleeping. A Replication quota is safe for
// concurrent use; a Rate is not.
package quota
