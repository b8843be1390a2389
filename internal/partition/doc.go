// Package partition holds the broker-side state of the partition replicas a
// node hosts: the log, the leader epoch and the high watermark, the
// notification that wakes long-polling fetches when the high watermark
// moves, and the idempotent producers' state (per producer ID: epoch and
// last five batches) that lets a retried batch be recognised.
//
// Invariants: the high watermark never decreases while a replica is leader
// and never passes the log end offset; when the log's durability setting
// makes appends durable before acknowledgement, the high watermark also never
// passes the flushed offset, so no consumer ever reads a record that a crash
// could take away.
//
// Producer state: the sequence check, the append and the state update of an
// idempotent batch happen under one lock (Partition.produceMu), so a batch
// is written at most once however its retries race; a duplicate is answered
// with the original's offsets only once the original is durable. A producer
// snapshot named <offset>.snapshot holds exactly the state of the batches
// below offset; snapshots are written at clean close, after segment rolls,
// and never trusted above the log end offset or below the log start offset
// when a partition opens: the state is then the newest usable snapshot plus
// the batch headers after it, or the headers of the whole log.
package partition
