// Package consumergroup is the state machine of Kafka's consumer group
// protocol (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe,
// with the assignment computed by the group coordinator (internal/assignor)
// instead of a client leader.
//
// Groups holds the consumer groups of one __consumer_offsets partition. It
// is pure: no goroutines, no I/O, no clock of its own. The group
// coordinator (internal/group) owns it, runs its timers (session and
// revocation deadlines), appends the records it returns before answering,
// and rebuilds it by Replay when it takes over the partition.
//
// How a group moves: every change of membership, subscription or subscribed
// topic metadata bumps the group epoch; the target assignment is then
// recomputed for that epoch; each member reconciles from its current
// assignment to its target on its own heartbeats, revoking before it is
// given anything new (reconcile.go).
//
// Invariants:
//   - A partition is held (assigned or pending revocation) by at most one
//     member at any time; a member is given a partition only after its
//     previous holder released it.
//   - A member's epoch never exceeds the target assignment epoch, which
//     never exceeds the group epoch.
//   - Every state change returns its records (Kafka's schemas, record types
//     3 and 5-8) so that Replay of them rebuilds the same groups, members,
//     targets and current assignments.
package consumergroup
