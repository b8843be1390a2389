// Package compat holds Fjord's client compatibility tests: clients Fjord's
// authors did not write talk to a real `fjord server` process (or, for the
// franz-go codec test, an embedded fjord.Node) and must see Kafka's
// behaviour. Passing proves, for the clients and API versions listed in
// docs/protocol.md:
//
//   - kcat (librdkafka): `kcat -L` lists the one broker and a topic with its
//     partitions and leader; keyed produce (-K:) then consume returns the same
//     key=value lines in order.
//   - kafka-python 2.0.2: the seed's producer and consumer snippets
//     (testdata/seed003_*.py, verbatim; only the bootstrap address is
//     substituted) deliver the three messages to a topic nobody created, so
//     auto-creation through Metadata v0-v3 works; the seed's CLI walkthrough
//     (api-versions, topic list, a replication factor of 3 refused on one
//     broker with INVALID_REPLICATION_FACTOR, then accepted with 1) works with
//     Fjord's CLI.
//   - franz-go: 100k records per codec (none, gzip, snappy, lz4, zstd) over
//     every partition come back byte for byte (keys, null keys, values,
//     tombstones, headers) at the offsets they were acknowledged at, also
//     after the broker restarts between produce and consume.
//   - sarama and kafka-go: create, list and delete topics.
//
// The external clients (kcat, python3 with kafka-python) are found by
// fjordtest.RequireTool: a loud skip if missing, a failure under
// FJORD_REQUIRE_CLIENTS=1 (as in CI). FJORD_E2E_TARGET=kfake runs the same
// tests against franz-go's kfake to check the tests themselves.
package compat
