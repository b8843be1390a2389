// Package runtime is Fjord Connect's engine, Kafka Connect's Worker,
// WorkerSourceTask and WorkerSinkTask in Go: it runs connector tasks,
// moving records between them and Kafka through converters, transforms
// and the errors.* handling, and keeps their offsets.
//
// It reaches brokers only through franz-go (kgo, kadm), so it runs
// against Fjord or any Kafka cluster.
//
// Invariants: delivery is at-least-once both ways. A source offset is
// stored only once every record before it from the same source partition
// was acknowledged by the brokers (acks=all, idempotent producer); a sink
// consumer offset is committed only after the task's Flush (or PreCommit)
// returned for the records below it. Every goroutine the package starts
// is owned by a Worker task and ended by StopTask or StopAll, and every
// blocking call is bounded by a context or a timeout.
package runtime
