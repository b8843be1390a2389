// Package partition holds the broker-side state of the partition replicas a
// node hosts: the log, the leader epoch and the high watermark, and the
// notification that wakes long-polling fetches when the high watermark moves.
//
// Invariants: the high watermark never decreases while a replica is leader
// and never passes the log end offset; when the log's durability setting
// makes appends durable before acknowledgement, the high watermark also never
// passes the flushed offset, so no consumer ever reads a record that a crash
// could take away.
package partition
