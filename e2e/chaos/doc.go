// Package chaos runs real `fjord server` processes through crashes while a
// real client (franz-go) writes to them, and proves the durability promise
// of an acknowledgement: with acks=1 and idempotence disabled, every record
// the producer had acknowledged before SIGKILL is still there after the
// broker restarts on the same data directory, at the offset it was
// acknowledged at, byte for byte, and each partition's acknowledged records
// keep the order they were produced in. Three kills in a row check that
// recovery itself leaves a log that survives the next crash.
//
// A second test puts a fault proxy (fjordtest.Proxy, advertised to clients
// through advertised.listeners) between franz-go's default idempotent
// producer and the broker: it cuts every connection, swallows the responses
// to Produce requests the broker applied, and the broker is paused with
// SIGSTOP. Acknowledged records must survive in order, and the producer's
// retries must not be written twice (Fjord deduplicates idempotent batches).
//
// Two more kill tests: an idempotent producer (acks=all) keeps writing
// while the broker is SIGKILLed twice, and every acknowledged record must be
// there exactly once; and a compacted topic is killed while the cleaner
// runs, after which offsets still increase, every record present is one that
// was sent at that offset, and every key's newest acknowledged value is kept.
//
// What this does not prove: SIGKILL loses no data the kernel already has, so
// this tests the broker's own buffering and recovery, not fsync (a machine
// crash); that belongs to the vfs crash tests. Records whose produce failed
// or was retried may appear once or twice (at-least-once); the ledger allows
// unacknowledged extras.
//
// FJORD_E2E_TARGET=kfake runs the same tests against franz-go's kfake (with
// persistence) to check the tests themselves.
package chaos
