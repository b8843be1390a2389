// Package fjordtest is Fjord's test harness for tests that run the broker the
// way users do: as a separate `fjord server` process, reached over TCP by real
// Kafka clients.
//
// It provides:
//   - BuildBinary: builds ./cmd/fjord once per test binary (Main removes it).
//   - StartProcess / Process: runs `fjord server` on a data directory, waits
//     for its `bootstrap=` line, captures its output (dumped when a test
//     fails), and kills, stops, pauses, resumes or restarts it. After the first
//     start the broker keeps its port, so clients reconnect after a restart.
//     StartCommand runs another fjord command with the same ready line
//     (`fjord dev cluster`), and Interrupt stops either with SIGINT.
//   - Proxy: a TCP fault proxy that cuts links, delays frames, and forwards a
//     request but swallows its response (the broker applied it; the client
//     never learns), for timeout and idempotence tests; in raw mode it
//     forwards any protocol, and it can partition away the connections of
//     one source IP (Block) as a network partition would.
//   - StartCluster / Cluster: N `fjord server` processes forming one
//     cluster, optionally each on its own 127.0.0.(10+N) with every listener
//     behind a Proxy, so Isolate cuts one node off in both directions.
//   - Ledger: the records a producer had acknowledged, verified against what
//     a consumer reads back: each must be present at its acknowledged offset,
//     byte for byte, and partitions must read back in offset order;
//     VerifyExactlyOnce also refuses a record read twice.
//   - Checkers for replicated clusters: CheckReplicas (log matching across
//     replicas' segment files, read by ReadPartitionDir, and in-sync replicas
//     byte-identical below the high watermark), LeaderEpochs with
//     WatchLeaderEpochs (no partition has two leaders in one leader epoch in
//     any broker's Metadata), PollLog (a group consumer's positions never go
//     back within a generation).
//   - RequireTool: a loud skip (or, with FJORD_REQUIRE_CLIENTS=1, a failure)
//     when an external client such as kcat or kafka-python is missing.
//
// Target switch: FJORD_E2E_TARGET selects what BuildBinary builds. Unset or
// "fjord" (the default) builds the real broker. "kfake" builds
// ./internal/fjordtest/kfakebroker, a stand-in over franz-go's kfake that
// speaks the same process contract; it exists to check the harness and the
// tests themselves, never Fjord. FJORD_BIN=/path/to/fjord uses a prebuilt
// binary instead of building one.
//
// Invariants: every process, listener, connection and goroutine started here
// is owned by a test (t.Cleanup stops it and waits for it); every wait is
// bounded by a timeout; captured output is bounded. The only package-level
// state is the write-once cache of built binaries, which must be per process
// by nature (one build shared by all tests); Main deletes it on exit.
package fjordtest
