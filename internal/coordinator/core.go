package coordinator

import (
	"context"
	"errors"
	"time"
)

// Record is one key/value of a coordinator partition. A nil Value is a
// tombstone: compaction removes the key once the tombstone is old enough.
type Record struct {
	Key, Value []byte
	// Producer, when set, makes the record part of that producer's
	// transaction (the group coordinator's TxnOffsetCommit): it is
	// written in a transactional batch of the producer's ID and epoch,
	// and counts only once the transaction's commit marker follows it.
	Producer *Producer
}

// Producer names a transactional producer.
type Producer struct {
	ID    int64
	Epoch int16
}

// Handle names a response a Core will give later (a JoinGroup parked until
// the rebalance completes, for instance). Handles are allocated by the Core,
// are never zero, and each is completed exactly once by a Completion.
type Handle uint64

// Completion resolves a Handle returned earlier in Result.Wait.
type Completion struct {
	Handle   Handle
	Response any
}

// Result is what a Core returns for one operation or tick.
type Result struct {
	// Response is the immediate response, when Wait is zero.
	Response any
	// Wait, when non-zero, says the response will come later as a
	// Completion of this Handle (possibly in Completions of this very
	// Result).
	Wait Handle
	// Records are to be appended to the partition, in order, before any
	// response of this batch is released.
	Records []Record
	// Completions resolve Handles returned by earlier (or this) operations.
	Completions []Completion
}

// Core is a deterministic coordinator state machine for one partition. Its
// methods are called from one goroutine only (the Runtime's event loop), take
// time as an argument and do no I/O.
type Core interface {
	// Replay applies one record read from the partition during loading.
	// An error reports a record the Core could not use (it is logged and
	// loading goes on: one bad record must not make a partition unloadable).
	Replay(key, value []byte) error
	// Loaded is called once when replay has finished, before any operation.
	Loaded(now time.Time) Result
	// Tick runs every timer due at now.
	Tick(now time.Time) Result
	// NextDeadline is the time of the earliest timer; zero when none.
	NextDeadline() time.Time
}

// TxnCore is a Core whose partition may hold transactional records
// (Record.Producer): Replay gets the plain ones, ReplayTxn the
// transactional ones, and ReplayMarker each transaction marker, all in
// offset order. A Core without it skips transactional records.
type TxnCore interface {
	Core
	ReplayTxn(p Producer, key, value []byte) error
	ReplayMarker(producerID int64, commit bool)
}

// Appender writes records to the coordinator partition. Append returns after
// the records are durable (or with an error); on error any prefix of the
// records may have been written. Returns the offset of the last record.
type Appender interface {
	Append(ctx context.Context, records []Record) (offset int64, err error)
}

// Replayer receives a coordinator partition's contents on takeover.
type Replayer interface {
	// Replay takes one record (a nil value is a tombstone); an error is
	// the Core's and does not stop loading.
	Replay(r Record) error
	// Marker takes a transaction marker: producerID's transaction ends
	// (commit or abort) at this point of the log.
	Marker(producerID int64, commit bool)
}

// Loader reads the coordinator partition on takeover: Load hands every
// record and transaction marker from the log start offset to the log end
// offset to the Replayer, in offset order.
type Loader interface {
	Load(ctx context.Context, r Replayer) error
}

// Sentinel errors of Submit, Do and Pending.Wait. The group package maps them
// to Kafka codes (see its service).
var (
	// ErrNotCoordinator: the partition is not (or no longer) served here:
	// closed, or its load failed.
	ErrNotCoordinator = errors.New("coordinator: partition not served by this node")
	// ErrLoadInProgress: the partition is being loaded (or reloaded).
	ErrLoadInProgress = errors.New("coordinator: partition is loading")
	// ErrQueueFull: the partition's request queue is full.
	ErrQueueFull = errors.New("coordinator: request queue full")
	// ErrWriteFailed: the records could not be appended; the state was
	// rebuilt from the partition and the request may be retried.
	ErrWriteFailed = errors.New("coordinator: append to the partition failed")
	// ErrInternal: an operation panicked (a bug); the state was rebuilt.
	ErrInternal = errors.New("coordinator: internal error")
)
