// Package hostile runs a real `fjord server` process against inputs a
// careless or hostile client can send over raw connections: compression
// bombs from many connections at once, malformed and lying frames, giant
// fields, floods, half-sent frames, connection churn, connections past
// max.connections and long polls whose clients leave. Each case asserts
// the answer Kafka gives (or that the connection is closed, where Kafka
// closes it), that the broker keeps serving a healthy franz-go client, and,
// for the bombs, that the process's peak resident memory stays under the
// bound docs/architecture.md (Memory) states for its settings.
package hostile
