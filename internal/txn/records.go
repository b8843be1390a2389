package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// Versions written: Kafka's TransactionLogKey v0 and TransactionLogValue
// v0 (kmsg's TxnMetadataKey and TxnMetadataValue), which every Kafka
// version reads; a KIP-890 part 2 transaction's value is v1 (Kafka 4.0's).
const (
	keyVersion   = 0
	valueVersion = 0
)

func key(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = keyVersion
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// record is t's state as a record of the partition.
func record(t *Txn) coordinator.Record {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch = t.ProducerID, t.ProducerEpoch
	v.TimeoutMillis = int32(t.Timeout / time.Millisecond)
	v.State = t.State
	var last string
	for _, p := range t.SortedPartitions() {
		if p.Topic != last || len(v.Topics) == 0 {
			tp := kmsg.NewTxnMetadataValueTopic()
			tp.Topic = p.Topic
			v.Topics = append(v.Topics, tp)
			last = p.Topic
		}
		v.Topics[len(v.Topics)-1].Partitions = append(v.Topics[len(v.Topics)-1].Partitions, p.Partition)
	}
	v.LastUpdateTimestamp = millis(t.LastUpdate)
	v.StartTimestamp = millis(t.StartTime)
	if t.TV2 || t.NextProducerID >= 0 || t.PreviousProducerID >= 0 {
		// KIP-890 part 2's value v1 (Kafka 4.0's), with its tagged
		// fields: the next producer ID of an end that ran out of epochs
		// must survive a coordinator move (Kafka 4.0 leaves it out).
		v.Version = 1
		v.PreviousProducerID, v.NextProducerID = t.PreviousProducerID, t.NextProducerID
		if t.TV2 {
			v.ClientTransactionVersion = 2
		}
	}
	return coordinator.Record{Key: key(t.ID), Value: v.AppendTo(nil)}
}

func tombstone(id string) coordinator.Record { return coordinator.Record{Key: key(id)} }

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// errBadRecord reports a record Replay could not use.
var errBadRecord = errors.New("txn: bad __transaction_state record")

// Replay applies one record of the partition: a transactional ID's state,
// or a tombstone removing it.
func (c *Coordinator) Replay(k, value []byte) error {
	var mk kmsg.TxnMetadataKey
	if err := mk.ReadFrom(k); err != nil {
		return fmt.Errorf("%w: key: %w", errBadRecord, err)
	}
	if mk.Version != keyVersion {
		return fmt.Errorf("%w: key version %d", errBadRecord, mk.Version)
	}
	if value == nil {
		delete(c.txns, mk.TransactionalID)
		return nil
	}
	v := kmsg.NewTxnMetadataValue() // absent tagged fields keep their defaults (-1)
	if err := v.ReadFrom(value); err != nil {
		delete(c.txns, mk.TransactionalID) // as for a bad value below
		return fmt.Errorf("%w: value of %q: %w", errBadRecord, mk.TransactionalID, err)
	}
	if v.Version < 0 || v.Version > 1 || v.State < kmsg.TransactionStateEmpty || v.State > kmsg.TransactionStatePrepareEpochFence ||
		v.TimeoutMillis < 0 || v.ProducerID < 0 || v.ProducerEpoch < 0 {
		// What was held for the ID is older than this record: keeping
		// it could hand out an epoch already given. The ID starts
		// again (a fresh producer ID) on its next InitProducerId.
		delete(c.txns, mk.TransactionalID)
		return fmt.Errorf("%w: value of %q: version %d, state %d, timeout %d ms, producer %d epoch %d", errBadRecord, mk.TransactionalID,
			v.Version, v.State, v.TimeoutMillis, v.ProducerID, v.ProducerEpoch)
	}
	if v.State == kmsg.TransactionStateDead {
		delete(c.txns, mk.TransactionalID) // Kafka writes a tombstone for it; read one
		return nil
	}
	t := &Txn{ID: mk.TransactionalID, ProducerID: v.ProducerID, ProducerEpoch: v.ProducerEpoch, LastProducerEpoch: noEpoch, PreviousProducerID: -1,
		NextProducerID: -1, TV2: v.Version >= 1 && v.ClientTransactionVersion >= 2,
		Timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, State: v.State, Partitions: map[TopicPartition]struct{}{},
		StartTime: fromMillis(v.StartTimestamp), LastUpdate: fromMillis(v.LastUpdateTimestamp)}
	if v.Version >= 1 {
		t.PreviousProducerID, t.NextProducerID = max(v.PreviousProducerID, -1), max(v.NextProducerID, -1)
	}
	if t.State == kmsg.TransactionStatePrepareEpochFence {
		// Kafka's transient fencing state: its abort is what follows.
		t.State = kmsg.TransactionStatePrepareAbort
	}
	for _, tp := range v.Topics {
		for _, p := range tp.Partitions {
			t.Partitions[TopicPartition{tp.Topic, p}] = struct{}{}
		}
	}
	c.txns[t.ID] = t
	return nil
}

// Loaded arms the timers once the partition is replayed. The transactions
// left in Prepare* are MarkerJobs: their markers are written again.
func (c *Coordinator) Loaded(now time.Time) coordinator.Result {
	now = ms(now)
	c.nextAbort, c.nextExpire = now.Add(c.cfg.AbortCheckInterval), now.Add(c.cfg.ExpiredCheckInterval)
	return coordinator.Result{}
}

// NextDeadline is the next check of timeouts or expirations.
func (c *Coordinator) NextDeadline() time.Time {
	if c.nextAbort.IsZero() {
		return time.Time{}
	}
	return minTime(c.nextAbort, c.nextExpire)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Tick aborts the ongoing transactions past their timeout (their epoch
// bumped: the producer is fenced, as Kafka's abortTimedOutTransactions)
// and removes the transactional IDs idle for transactional.id.expiration.ms
// (Kafka's removeExpiredTransactionalIds), when their checks are due.
func (c *Coordinator) Tick(now time.Time) coordinator.Result {
	now = ms(now)
	var res coordinator.Result
	if !c.nextAbort.IsZero() && !now.Before(c.nextAbort) {
		c.nextAbort = now.Add(c.cfg.AbortCheckInterval)
		for _, id := range c.IDs() {
			t := c.txns[id]
			if t.State != kmsg.TransactionStateOngoing || now.Sub(t.StartTime) <= t.Timeout {
				continue
			}
			t = t.clone()
			fence(t)
			t.State, t.LastUpdate = kmsg.TransactionStatePrepareAbort, now
			c.txns[id] = t
			res.Records = append(res.Records, record(t))
		}
	}
	if !c.nextExpire.IsZero() && !now.Before(c.nextExpire) {
		c.nextExpire = now.Add(c.cfg.ExpiredCheckInterval)
		for _, id := range c.IDs() {
			t := c.txns[id]
			switch t.State {
			case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
				if now.Sub(t.LastUpdate) >= c.cfg.IDExpiration {
					delete(c.txns, id)
					res.Records = append(res.Records, tombstone(id))
				}
			}
		}
	}
	return res
}

// Listing is a transaction as ListTransactions shows it.
type Listing struct {
	ID         string                // the transactional ID
	ProducerID int64                 // its producer ID
	State      kmsg.TransactionState // its state
}

// List returns the transactions in one of states (all when empty) and of
// one of producerIDs (all when empty), sorted by ID: ListTransactions.
func (c *Coordinator) List(states []kmsg.TransactionState, producerIDs []int64) []Listing {
	var out []Listing
	for _, id := range c.IDs() {
		t := c.txns[id]
		if len(states) > 0 && !contains(states, t.State) || len(producerIDs) > 0 && !contains(producerIDs, t.ProducerID) {
			continue
		}
		out = append(out, Listing{ID: id, ProducerID: t.ProducerID, State: t.State})
	}
	return out
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// StateName is Kafka's name of a transaction state, as DescribeTransactions
// and ListTransactions answer it.
func StateName(s kmsg.TransactionState) string {
	switch s {
	case kmsg.TransactionStateEmpty:
		return "Empty"
	case kmsg.TransactionStateOngoing:
		return "Ongoing"
	case kmsg.TransactionStatePrepareCommit:
		return "PrepareCommit"
	case kmsg.TransactionStatePrepareAbort:
		return "PrepareAbort"
	case kmsg.TransactionStateCompleteCommit:
		return "CompleteCommit"
	case kmsg.TransactionStateCompleteAbort:
		return "CompleteAbort"
	case kmsg.TransactionStateDead:
		return "Dead"
	case kmsg.TransactionStatePrepareEpochFence:
		return "PrepareEpochFence"
	}
	return "Unknown"
}
