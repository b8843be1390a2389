// Package group is Fjord's consumer group coordinator for Kafka's classic
// group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, OffsetDelete, DescribeGroups, ListGroups and DeleteGroups.
//
// Coordinator is a pure, deterministic state machine holding every group of
// one __consumer_offsets partition: no goroutines, no I/O, no clock. Each
// method takes the decoded kmsg request and `now` and returns a
// coordinator.Result: the kmsg response, or a Handle for a response given
// later (JoinGroup and SyncGroup wait for the rebalance), the records to
// append to the partition, and the parked responses it resolved. Timers
// (session timeouts, rebalance timeouts, group.initial.rebalance.delay.ms,
// offset retention) are deadlines read through NextDeadline and run by Tick.
// Replay rebuilds the state from the partition. internal/coordinator runs one
// Coordinator per partition; Service is the thin shell the server calls,
// routing each group to its partition (PartitionFor, Kafka's
// abs(groupId.hashCode()) % offsets.topic.num.partitions).
//
// Records use Kafka's own __consumer_offsets schemas, in the versions Kafka
// writes today (OffsetCommitKey v1 with OffsetCommitValue v3, or v1 when a
// commit carries a retention time; GroupMetadataKey v2 with
// GroupMetadataValue v3; nil values as tombstones), so tools that read that
// topic keep working.
//
// Invariants:
//   - Every Handle the Coordinator returns is completed exactly once: when
//     the join or sync phase completes, or with an error when its member is
//     removed, fenced or its request superseded. The shell fails the rest
//     when it drops the Coordinator.
//   - State changes are applied at once and their records returned with
//     them; the shell releases responses only after those records are
//     durable and rebuilds the Coordinator by Replay if they are not, so the
//     state never runs ahead of the partition (see internal/coordinator).
//   - Replay of the records a Coordinator wrote gives back the same groups
//     (members, generation, protocol, assignments; soft state such as parked
//     requests excepted) and the same committed offsets.
//   - Every iteration that shapes output is ordered (members in join order,
//     groups, topics and partitions sorted), so equal inputs give equal
//     outputs.
package group
