// Package coordinator is the runtime shared by Fjord's log-backed
// coordinators (consumer groups now, transactions later), in the way Kafka's
// coordinator runtime serves its group and transaction coordinators.
//
// A coordinator's state lives in one partition of an internal compacted topic
// (__consumer_offsets for groups) and is rebuilt by replaying that partition.
// The state machine itself is a deterministic Core (see internal/group): it
// takes requests and timer ticks with an explicit `now`, and answers with a
// Result: the response (or a Handle to a response it will give later), the
// records to append, and the deferred responses it resolved. This package is
// the thin shell around one Core per partition:
//
//   - one event loop goroutine per partition (Runtime), owned by the Runtime:
//     started by Start, stopped by Close or by the context given to Start;
//   - a bounded queue of operations; Submit refuses with ErrQueueFull instead
//     of blocking when it is full;
//   - loading on takeover: the Loader replays the partition into a fresh Core
//     before anything is served; requests meanwhile get ErrLoadInProgress;
//   - timers from Core.NextDeadline, delivered as Core.Tick;
//   - writes through an Appender; responses leave only after the records the
//     Core produced for them (and for everything applied before them) are
//     durable.
//
// # Invariants
//
//   - Nothing is answered before it is durable. Operations are applied in
//     batches (up to Config.MaxBatch queued operations, plus due timers); the
//     records of a batch are appended with one Append call and every response
//     resolved in the batch, reads included, is released only after Append
//     returned without error. One Append is in flight at a time, so a batch
//     only ever observes state whose records are durable or in the same batch.
//   - In-memory state never runs ahead of the log. The Core applies an
//     operation at once (speculatively) and the records follow; if the append
//     fails (or an operation panics) the Runtime fails every response resolved
//     in the batch and every deferred response still waiting, throws the Core
//     away and rebuilds a fresh one by replaying the partition, exactly as a
//     coordinator that takes over the partition would. We chose rebuilding
//     over undo: group state mixes durable parts (generations, assignments,
//     offsets) with soft parts (parked JoinGroup requests, pending members,
//     timers) that no undo log restores consistently, an append error may
//     have left any prefix of the batch on disk (the log, not our memory, then
//     says what is true), and in distributed mode a failed append usually
//     means the partition is moving anyway. It costs nothing on the happy
//     path; the price of a failed append is that requests in flight on the
//     partition fail with a retriable error and rebalances under way start
//     over (Stable groups and committed offsets come back from the log), as
//     on a coordinator failover, which Kafka's clients already handle.
//   - The Runtime assumes nothing about being the only node: it serves one
//     partition while the caller says it leads it (Start ... Close), knows the
//     partition only through Appender and Loader, and a partition can be
//     closed on one node and loaded on another at any time.
package coordinator
