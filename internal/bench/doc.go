// Package bench measures a Kafka-compatible cluster the way Kafka's perf
// tools do: Produce (kafka-producer-perf-test.sh: send->ack latency and
// throughput), Consume (kafka-consumer-perf-test.sh: read throughput) and E2E
// (end-to-end latency, produce time to consume time, at a fixed rate).
//
// It talks to brokers only through franz-go's kgo and kadm, so the same run
// can target Fjord and any other broker (kfake in tests) side by side; the
// CLI's `fjord bench` only wires flags to Config.
//
// Invariants: memory is bounded whatever the run's length (latencies go into
// a fixed-size log-linear Histogram, producer buffers are capped); every
// goroutine a run starts (producers, consumer, progress reporter) has ended
// before the run returns, so Config.Progress is never called afterwards;
// every wait is bounded by Config.Timeout or the caller's context.
package bench
