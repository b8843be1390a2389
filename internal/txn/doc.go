// Package txn is the transaction coordinator's state machine for one
// partition of __transaction_state: Kafka's TransactionCoordinator and
// TransactionMetadata, as a coordinator.Core (deterministic, driven by
// operations and ticks that carry the time, no I/O, no goroutines).
//
// Each transactional ID has one Txn: its producer ID and epoch, its
// timeout, its state (kmsg.TransactionState: Empty, Ongoing,
// PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort) and the
// partitions of its ongoing transaction. Every change is a record of the
// partition (TxnMetadataKey v0, TxnMetadataValue v0, as Kafka writes them),
// returned with the change: the runtime makes it durable before any
// response of the batch is released, and a coordinator taking the
// partition over rebuilds the same state by replaying them.
//
// Invariants: a producer epoch of a transactional ID only grows (a new
// producer ID restarts it at 0 when it is exhausted, or when the ID
// expired and comes back), so a fenced producer's writes and commits are
// refused for good; only a producer that names itself (KIP-360) may retry
// into the epoch it was given, and fencing leaves no such window; a transaction moves
// Empty or Complete* -> Ongoing -> Prepare* -> Complete*, and only the
// coordinator (a new InitProducerId, or the transaction's timeout) moves an
// Ongoing transaction to PrepareAbort on the producer's behalf, bumping
// the epoch so the old producer is fenced; a transaction in Prepare* has
// markers to write (MarkerJobs) until MarkersWritten completes it, also
// after a coordinator move, since the Prepare* state is in the log.
//
// Not here yet (issue 12): the shell that serves the APIs over the
// runtime, writes the markers (WriteTxnMarkers) and hands out producer IDs;
// the partition side (transactional batches, the last stable offset,
// read_committed).
package txn
