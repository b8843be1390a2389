package postgres

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// The offsets.table.name tests run in TestSink, on its server; each uses
// its own connector name, so they share one offsets table.

func offsetsProps(name string, kv ...string) map[string]string {
	m := map[string]string{KeyName: name, KeyOffsetsTable: "fjord_offsets", KeyAutoCreate: "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// KeyName is the common key the runtime adds to every configuration.
const KeyName = connect.KeyName

func tp(topic string, p int32) connect.TopicPartition {
	return connect.TopicPartition{Topic: topic, Partition: p}
}

// stored returns the offsets table's rows of a connector, "topic/p=next".
func (e *env) stored(t *testing.T, connector string) string {
	t.Helper()
	var out []string
	for _, r := range e.query(t, `SELECT topic, kafka_partition, next_offset FROM fjord_offsets WHERE connector = $1 ORDER BY 1, 2`, connector) {
		out = append(out, fmt.Sprintf("%s/%d=%d", r[0], r[1], r[2]))
	}
	return strings.Join(out, " ")
}

func open(t *testing.T, task *SinkTask, tps ...connect.TopicPartition) {
	t.Helper()
	if err := task.Open(tps); err != nil {
		t.Fatalf("Open: %v", err)
	}
}

func onPartition(r connect.SinkRecord, p int32) connect.SinkRecord {
	r.Partition = p
	return r
}

// testOffsetsCommitWithRows: Flush writes the rows and the next offset of
// each partition in one go; records that made no row (a tombstone with
// deletes off, a reported record) count, and so do the runtime's offsets
// (records a transform dropped), even with no rows to write.
func (e *env) testOffsetsCommitWithRows(t *testing.T) {
	fc := &fakeCtx{}
	task := e.task(t, fc, offsetsProps("rows"))
	open(t, task, tp("off_rows", 0), tp("off_rows", 1))
	if len(fc.rewinds) != 0 {
		t.Fatalf("rewinds %v from an empty table", fc.rewinds)
	}
	tomb := onPartition(personRecord("off_rows", 4, 9, ""), 1)
	tomb.ValueSchema, tomb.Value = nil, nil
	bad := connect.SinkRecord{Record: connect.Record{Topic: "off_rows", Partition: 1, Value: "no schema"}, KafkaOffset: 5}
	put(t, task, personRecord("off_rows", 0, 1, "ann"), personRecord("off_rows", 1, 2, "bob"), tomb, bad)
	if got := e.stored(t, "rows"); got != "" {
		t.Fatalf("offsets %q before Flush, want none", got)
	}
	flush(t, task)
	if got, want := e.stored(t, "rows"), "off_rows/0=2 off_rows/1=6"; got != want {
		t.Fatalf("offsets %q, want %q", got, want)
	}
	if n := len(e.query(t, `SELECT * FROM off_rows`)); n != 2 || len(fc.reported) != 1 {
		t.Fatalf("%d rows, %d reported; want 2 and 1", n, len(fc.reported))
	}
	// Nothing put, but the runtime read past records a transform dropped.
	if err := task.Flush(map[connect.TopicPartition]int64{tp("off_rows", 0): 9, tp("off_rows", 1): 3}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.stored(t, "rows"), "off_rows/0=9 off_rows/1=6"; got != want {
		t.Fatalf("offsets %q after an offsets-only Flush, want %q", got, want)
	}
	// The table's layout, as documented.
	cols := fmt.Sprint(e.query(t, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'fjord_offsets' ORDER BY ordinal_position`))
	if want := "[[connector text] [topic text] [kafka_partition integer] [next_offset bigint]]"; cols != want {
		t.Fatalf("columns %s, want %s", cols, want)
	}
}

// testOffsetsFailedFlush: a Flush whose transaction fails leaves neither
// its rows nor its offsets, drops its pending offsets, and rewinds to the
// table's; the replay then writes each row once.
func (e *env) testOffsetsFailedFlush(t *testing.T) {
	e.exec(t, `CREATE TABLE off_fail (id integer, name text)`)
	e.exec(t, `CREATE FUNCTION off_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		IF NEW.name = 'boom' THEN RAISE EXCEPTION 'boom' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`)
	e.exec(t, `CREATE TRIGGER off_fail BEFORE INSERT ON off_fail FOR EACH ROW EXECUTE FUNCTION off_fail()`)
	fc := &fakeCtx{}
	task := e.task(t, fc, offsetsProps("fail"))
	task.sleep = func(time.Duration) {}
	open(t, task, tp("off_fail", 0))
	put(t, task, personRecord("off_fail", 0, 1, "ann"))
	flush(t, task)
	put(t, task, personRecord("off_fail", 1, 2, "bob"), personRecord("off_fail", 2, 3, "boom"))
	var re *connect.RetriableError
	if err := task.Flush(nil); !errors.As(err, &re) {
		t.Fatalf("Flush = %v, want a RetriableError (serialization failure, retried)", err)
	}
	if got := fmt.Sprint(e.query(t, `SELECT id FROM off_fail ORDER BY id`)); got != "[[1]]" {
		t.Fatalf("rows %s after the failed Flush, want only the first Flush's", got)
	}
	if got := e.stored(t, "fail"); got != "off_fail/0=1" {
		t.Fatalf("offsets %q after the failed Flush, want off_fail/0=1", got)
	}
	if fmt.Sprint(fc.rewinds) != fmt.Sprint(map[connect.TopicPartition]int64{tp("off_fail", 0): 1}) {
		t.Fatalf("rewinds %v, want off_fail/0 to 1", fc.rewinds)
	}
	// The runtime puts the records again: an offsets-only Flush before
	// them must not commit the dropped pending offsets.
	flush(t, task)
	if got := e.stored(t, "fail"); got != "off_fail/0=1" {
		t.Fatalf("offsets %q: the failed Flush's pending offsets survived", got)
	}
	put(t, task, personRecord("off_fail", 1, 2, "bob"), personRecord("off_fail", 2, 3, "cy"))
	flush(t, task)
	if got := fmt.Sprint(e.query(t, `SELECT id, name FROM off_fail ORDER BY id`)); got != "[[1 ann] [2 bob] [3 cy]]" {
		t.Fatalf("rows %s after the replay", got)
	}
	if got := e.stored(t, "fail"); got != "off_fail/0=3" {
		t.Fatalf("offsets %q after the replay, want off_fail/0=3", got)
	}
}

// testOffsetsOpenRewinds: a new task (after a crash) rewinds its
// partitions to the table's offsets, whatever the consumer group says,
// and skips replayed records the table already covers; another
// connector's rows are not its own.
func (e *env) testOffsetsOpenRewinds(t *testing.T) {
	props := offsetsProps("rewind", KeyTableFormat, "off_rewind")
	first := e.task(t, &fakeCtx{}, props)
	open(t, first, tp("a", 0), tp("a", 1))
	for i := range 5 {
		put(t, first, personRecord("a", int64(i), int32(i), "first"))
	}
	put(t, first, onPartition(personRecord("a", 0, 100, "first"), 1))
	flush(t, first)
	// A crash: the task is gone without Close or Stop.
	fc := &fakeCtx{}
	task := e.task(t, fc, props)
	open(t, task, tp("a", 0), tp("a", 1), tp("a", 2))
	want := map[connect.TopicPartition]int64{tp("a", 0): 5, tp("a", 1): 1}
	if fmt.Sprint(fc.rewinds) != fmt.Sprint(want) {
		t.Fatalf("Open rewound %v, want %v", fc.rewinds, want)
	}
	// Records fetched before the rewind applied are skipped.
	for i := 3; i < 7; i++ {
		put(t, task, personRecord("a", int64(i), int32(i), "second"))
	}
	flush(t, task)
	got := fmt.Sprint(e.query(t, `SELECT id, name FROM off_rewind WHERE id < 100 ORDER BY id`))
	if want := "[[0 first] [1 first] [2 first] [3 first] [4 first] [5 second] [6 second]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	if got := e.stored(t, "rewind"); got != "a/0=7 a/1=1" {
		t.Fatalf("offsets %q", got)
	}
	other := &fakeCtx{}
	open(t, e.task(t, other, offsetsProps("other")), tp("a", 0))
	if len(other.rewinds) != 0 {
		t.Fatalf("another connector rewound to %v", other.rewinds)
	}
}

// testOffsetsFenced: two tasks holding the same partition (a zombie after
// a rebalance): the one whose view of the table is stale fails its Flush
// without writing, and rewinds to what the other committed.
func (e *env) testOffsetsFenced(t *testing.T) {
	props := offsetsProps("fenced", KeyTableFormat, "off_fenced")
	zc, nc := &fakeCtx{}, &fakeCtx{}
	zombie, next := e.task(t, zc, props), e.task(t, nc, props)
	open(t, zombie, tp("f", 0))
	open(t, next, tp("f", 0))
	put(t, next, personRecord("f", 0, 1, "next"))
	flush(t, next)
	put(t, zombie, personRecord("f", 0, 1, "zombie"))
	if err := zombie.Flush(nil); !errors.Is(err, errFenced) {
		t.Fatalf("the zombie's Flush = %v, want errFenced", err)
	}
	if fmt.Sprint(zc.rewinds) != fmt.Sprint(map[connect.TopicPartition]int64{tp("f", 0): 1}) {
		t.Fatalf("the zombie rewound to %v, want f/0 to 1", zc.rewinds)
	}
	// The zombie goes on from the table: its stale record is skipped.
	put(t, zombie, personRecord("f", 0, 1, "zombie"), personRecord("f", 1, 2, "zombie"))
	flush(t, zombie)
	if got := fmt.Sprint(e.query(t, `SELECT id, name FROM off_fenced ORDER BY id`)); got != "[[1 next] [2 zombie]]" {
		t.Fatalf("rows %s", got)
	}
	// And now the other one is stale.
	put(t, next, personRecord("f", 1, 2, "next"))
	if err := next.Flush(nil); !errors.Is(err, errFenced) {
		t.Fatalf("Flush = %v, want errFenced", err)
	}
	if got := e.stored(t, "fenced"); got != "f/0=2" {
		t.Fatalf("offsets %q", got)
	}
}

// testOffsetsRowByRow: the row-by-row path (a refused row) commits the
// offsets with the rows it keeps.
func (e *env) testOffsetsRowByRow(t *testing.T) {
	e.exec(t, `CREATE TABLE off_each (id integer PRIMARY KEY, name text CHECK (name <> 'evil'))`)
	fc := &fakeCtx{}
	task := e.task(t, fc, offsetsProps("each"))
	open(t, task, tp("off_each", 0))
	put(t, task, personRecord("off_each", 0, 1, "ann"), personRecord("off_each", 1, 2, "evil"), personRecord("off_each", 2, 3, "cy"))
	flush(t, task)
	if len(fc.reported) != 1 {
		t.Fatalf("%d reported, want 1", len(fc.reported))
	}
	if got := fmt.Sprint(e.query(t, `SELECT id FROM off_each ORDER BY id`)); got != "[[1] [3]]" {
		t.Fatalf("rows %s", got)
	}
	if got := e.stored(t, "each"); got != "off_each/0=3" {
		t.Fatalf("offsets %q, want off_each/0=3", got)
	}
}

// TestOffsetsOpenDatabaseDown: Open cannot read the offsets table, retries
// max.retries times and fails (the runtime fails the task); without the
// table Open needs no database.
func TestOffsetsOpenDatabaseDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("postgres://u@127.0.0.1:%d/db?sslmode=disable", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	for _, on := range []bool{false, true} {
		props := map[string]string{KeyURL: url, KeyMaxRetries: "2", KeyQueryTimeout: "2000", KeyName: "down"}
		if on {
			props[KeyOffsetsTable] = "fjord_offsets"
		}
		task := &SinkTask{}
		slept := 0
		task.sleep = func(time.Duration) { slept++ }
		if err := task.Start(&fakeCtx{}, props); err != nil {
			t.Fatal(err)
		}
		err := task.Open([]connect.TopicPartition{tp("t", 0)})
		switch {
		case !on && err != nil:
			t.Fatalf("Open without offsets.table.name = %v", err)
		case on && (err == nil || slept != 2):
			t.Fatalf("Open = %v after %d retries, want an error after 2", err, slept)
		}
	}
}

func TestOffsetsConfig(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		bad   bool
	}{
		{map[string]string{KeyURL: "postgres://h/db", KeyName: "n", KeyOffsetsTable: "audit.offsets"}, false},
		{map[string]string{KeyURL: "postgres://h/db", KeyOffsetsTable: "offsets"}, true},
		{map[string]string{KeyURL: "postgres://h/db", KeyName: "n", KeyOffsetsTable: "audit..offsets"}, true},
	} {
		_, err := parse(tc.props)
		found := (&SinkConnector{}).Validate(tc.props)
		if tc.bad != (err != nil) || tc.bad != (len(found) == 1 && found[0].Name == KeyOffsetsTable) {
			t.Errorf("%v: parse = %v, Validate = %v; want bad=%v", tc.props, err, found, tc.bad)
		}
	}
	s, err := parse(map[string]string{KeyURL: "postgres://h/db", KeyName: "n", KeyOffsetsTable: "audit.Offsets"})
	if err != nil || s.offsetsTable.Sanitize() != `"audit"."Offsets"` || s.connector != "n" {
		t.Fatalf("settings %+v, %v", s, err)
	}
}
