package fjordtest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxReported bounds how many problems Verify prints; the count is always
// given in full.
const maxReported = 20

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record as acknowledged to a producer or read by a consumer.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// LeaderEpoch is the leader epoch of the record's batch as a consumer
	// read it (-1 unknown); At is when a producer had it acknowledged
	// (Ledger.Ack stamps it). Neither is compared: they locate a problem
	// in the brokers' logs.
	LeaderEpoch int32
	At          time.Time
}

// FromKgo converts a franz-go record (as returned in a produce promise or a
// fetch) to a Record, copying its bytes.
func FromKgo(r *kgo.Record) Record {
	out := Record{
		Topic:       r.Topic,
		Partition:   r.Partition,
		Offset:      r.Offset,
		Key:         bytes.Clone(r.Key),
		Value:       bytes.Clone(r.Value),
		LeaderEpoch: r.LeaderEpoch,
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	return out
}

// FromKgoAll converts records read by a franz-go consumer.
func FromKgoAll(rs []*kgo.Record) []Record {
	out := make([]Record, 0, len(rs))
	for _, r := range rs {
		out = append(out, FromKgo(r))
	}
	return out
}

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s/%d", tp.topic, tp.partition) }

// Ledger records what a producer had acknowledged, to check later that the
// broker kept every acknowledged record: the durability promise of acks. It
// is safe for concurrent use (produce callbacks run on client goroutines).
// Memory grows with the records acknowledged; tests bound how many they
// produce.
type Ledger struct {
	mu    sync.Mutex
	acked []Record // guarded by mu, in acknowledgement order
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger { return &Ledger{} }

// Ack records that r was acknowledged at r.Offset.
func (l *Ledger) Ack(r Record) {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	l.mu.Lock()
	l.acked = append(l.acked, r)
	l.mu.Unlock()
}

// Promise is a kgo produce promise that records acknowledged records (err ==
// nil) and ignores failed ones, whose fate is unknown and is not checked.
// Use it as the promise of kgo.Client.Produce, or call it from your own.
func (l *Ledger) Promise(r *kgo.Record, err error) {
	if err == nil {
		l.Ack(FromKgo(r))
	}
}

// Len returns how many records were acknowledged.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// Acked returns a copy of the acknowledged records in acknowledgement order.
func (l *Ledger) Acked() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// Verify fails t unless the records read back (got, in the order a consumer
// returned them) satisfy the ledger:
//   - within each partition, got is in strictly increasing offset order;
//   - every acknowledged record is in got at its acknowledged offset with
//     identical key, value and headers;
//   - no two acknowledged records claim the same offset with different bytes
//     (a broker that acked two writes at one offset lost one of them).
//
// Records read back that were never acknowledged are allowed: a producer may
// time out on a write the broker kept.
func (l *Ledger) Verify(t testing.TB, got []Record) {
	t.Helper()
	problems := l.Check(got)
	if len(problems) == 0 {
		return
	}
	shown := problems
	if len(shown) > maxReported {
		shown = shown[:maxReported]
	}
	t.Errorf("ledger: %d problem(s) among %d acknowledged and %d read records (first %d):\n  %s",
		len(problems), l.Len(), len(got), len(shown), strings.Join(shown, "\n  "))
}

// VerifyExactlyOnce is Verify plus CheckDuplicates: for idempotent
// producers whose record values are unique, every record read back must
// be there once.
func (l *Ledger) VerifyExactlyOnce(t testing.TB, got []Record) {
	t.Helper()
	problems := append(l.Check(got), CheckDuplicates(got)...)
	if len(problems) == 0 {
		return
	}
	shown := problems[:min(len(problems), maxReported)]
	t.Errorf("ledger: %d problem(s) among %d acknowledged and %d read records (first %d):\n  %s",
		len(problems), l.Len(), len(got), len(shown), strings.Join(shown, "\n  "))
}

// CheckDuplicates returns, as text, every record of got whose topic,
// partition, key and value were already read at another offset: with
// unique values (each produced record carries its producer and sequence
// number), a record read twice was written twice, which an idempotent
// producer's retries must never cause, acknowledged or not.
func CheckDuplicates(got []Record) []string {
	type content struct {
		tp         topicPartition
		key, value string
	}
	seen := make(map[content]int64, len(got))
	var problems []string
	for _, r := range got {
		k := content{topicPartition{r.Topic, r.Partition}, string(r.Key), string(r.Value)}
		if off, ok := seen[k]; ok {
			problems = append(problems, fmt.Sprintf("%s offset %d: duplicates the record at offset %d (key %q)", k.tp, r.Offset, off, clip(r.Key)))
			continue
		}
		seen[k] = r.Offset
	}
	return problems
}

// Check returns Verify's problems as text, one per entry, empty if none.
func (l *Ledger) Check(got []Record) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	type at struct {
		tp     topicPartition
		offset int64
	}
	read := make(map[at]Record, len(got))
	last := map[topicPartition]int64{}
	for _, r := range got {
		tp := topicPartition{r.Topic, r.Partition}
		if prev, ok := last[tp]; ok && r.Offset <= prev {
			add("%s: read offset %d after offset %d (log out of order or repeated)", tp, r.Offset, prev)
		}
		last[tp] = r.Offset
		if _, dup := read[at{tp, r.Offset}]; !dup {
			read[at{tp, r.Offset}] = r
		}
	}

	acked := l.Acked()
	slices.SortStableFunc(acked, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	for i, a := range acked {
		tp := topicPartition{a.Topic, a.Partition}
		if i > 0 {
			if p := acked[i-1]; p.Topic == a.Topic && p.Partition == a.Partition && p.Offset == a.Offset {
				if d := diffRecord(p, a); d != "" {
					// Which one was read back tells which acknowledgement lied.
					readBack := "nothing read there"
					if r, ok := read[at{tp, a.Offset}]; ok {
						readBack = fmt.Sprintf("read back: key %q value %q (batch leader epoch %d)", clip(r.Key), clip(r.Value), r.LeaderEpoch)
					}
					add("%s offset %d: acknowledged twice with different records: %s; %s; acknowledged at %s and %s",
						tp, a.Offset, d, readBack, stamp(p.At), stamp(a.At))
				}
				continue
			}
		}
		r, ok := read[at{tp, a.Offset}]
		if !ok {
			add("%s offset %d: acknowledged record (key %q) missing (acknowledged at %s)", tp, a.Offset, clip(a.Key), stamp(a.At))
			continue
		}
		if d := diffRecord(a, r); d != "" {
			add("%s offset %d: read back differs from acknowledged: %s (acknowledged at %s; read back from a batch of leader epoch %d)",
				tp, a.Offset, d, stamp(a.At), r.LeaderEpoch)
		}
	}
	return problems
}

// diffRecord describes how b's key, value or headers differ from a's, or
// returns "" if they are identical.
func diffRecord(a, b Record) string {
	var d []string
	if !bytes.Equal(a.Key, b.Key) {
		d = append(d, fmt.Sprintf("key %q != %q", clip(a.Key), clip(b.Key)))
	} else if (a.Key == nil) != (b.Key == nil) {
		// Kafka distinguishes a null key from an empty one (partitioning,
		// compaction); a broker must keep which it was.
		d = append(d, fmt.Sprintf("key null=%v != null=%v", a.Key == nil, b.Key == nil))
	}
	if (a.Value == nil) != (b.Value == nil) && len(a.Value) == 0 && len(b.Value) == 0 {
		d = append(d, fmt.Sprintf("value null=%v != null=%v (a null value is a tombstone)", a.Value == nil, b.Value == nil))
	} else if !bytes.Equal(a.Value, b.Value) {
		d = append(d, fmt.Sprintf("value %q (%d bytes) != %q (%d bytes)", clip(a.Value), len(a.Value), clip(b.Value), len(b.Value)))
	}
	if !slices.EqualFunc(a.Headers, b.Headers, func(x, y Header) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	}) {
		d = append(d, fmt.Sprintf("headers %v != %v", a.Headers, b.Headers))
	}
	return strings.Join(d, "; ")
}

// stamp formats an acknowledgement time as the brokers' logs do (UTC,
// milliseconds), to find it there.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("15:04:05.000")
}

// clip shortens b for messages.
func clip(b []byte) []byte {
	const n = 32
	if len(b) > n {
		return b[:n]
	}
	return b
}
