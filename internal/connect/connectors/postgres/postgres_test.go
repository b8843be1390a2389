package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/connectors/postgres/pgtest"
)

// fakeCtx is the runtime's side of a task: it records reported records
// and rewinds (Offset), and answers ReportError with reportErr (nil:
// errors.tolerance=all).
type fakeCtx struct {
	reported  []connect.SinkRecord
	reasons   []error
	reportErr error
	commits   int
	rewinds   map[connect.TopicPartition]int64
}

func (c *fakeCtx) Config() map[string]string            { return nil }
func (c *fakeCtx) Assignment() []connect.TopicPartition { return nil }
func (c *fakeCtx) Offset(o map[connect.TopicPartition]int64) {
	if c.rewinds == nil {
		c.rewinds = map[connect.TopicPartition]int64{}
	}
	for tp, off := range o {
		c.rewinds[tp] = off
	}
}
func (c *fakeCtx) Timeout(time.Duration)            {}
func (c *fakeCtx) Pause(...connect.TopicPartition)  {}
func (c *fakeCtx) Resume(...connect.TopicPartition) {}
func (c *fakeCtx) RequestCommit()                   { c.commits++ }
func (c *fakeCtx) ReportError(r connect.SinkRecord, err error) error {
	c.reported, c.reasons = append(c.reported, r), append(c.reasons, err)
	return c.reportErr
}

// env is one test server shared by the subtests, each on its own tables.
type env struct {
	url  string
	conn *pgx.Conn
}

func (e *env) task(t *testing.T, ctx *fakeCtx, props map[string]string) *SinkTask {
	t.Helper()
	all := map[string]string{KeyURL: e.url, KeyRetryBackoff: "10", KeyMaxRetries: "1"}
	for k, v := range props {
		all[k] = v
	}
	task := &SinkTask{}
	if err := task.Start(ctx, all); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func (e *env) query(t *testing.T, sql string, args ...any) [][]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := e.conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func (e *env) exec(t *testing.T, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestSink runs every database test against one private server.
func TestSink(t *testing.T) {
	url := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	e := &env{url: url, conn: conn}
	t.Run("InsertAutoCreateTypes", e.testInsertAutoCreateTypes)
	t.Run("JDBCURL", e.testJDBCURL)
	t.Run("UpsertReplayIdempotent", e.testUpsertReplay)
	t.Run("KafkaPKReplay", e.testKafkaPK)
	t.Run("AutoEvolve", e.testAutoEvolve)
	t.Run("DeleteOnTombstone", e.testDelete)
	t.Run("BadRecordsReported", e.testBadRecords)
	t.Run("RefusedRowReported", e.testRefusedRow)
	t.Run("OneTransaction", e.testOneTransaction)
	t.Run("ReconnectAfterTerminate", e.testReconnect)
	t.Run("QuotedSchemaQualified", e.testQualified)
	// offsets.table.name (offsets_test.go).
	t.Run("OffsetsCommitWithRows", e.testOffsetsCommitWithRows)
	t.Run("OffsetsFailedFlushLeavesNeither", e.testOffsetsFailedFlush)
	t.Run("OffsetsOpenRewinds", e.testOffsetsOpenRewinds)
	t.Run("OffsetsFenced", e.testOffsetsFenced)
	t.Run("OffsetsRowByRow", e.testOffsetsRowByRow)
}

// allTypes is a value schema with a field of every mapped type.
var allTypes = func() *connect.Schema {
	return connect.StructSchema(
		connect.Field{Name: "id", Schema: connect.Int32Schema},
		connect.Field{Name: "i8", Schema: connect.Int8Schema},
		connect.Field{Name: "i16", Schema: connect.Int16Schema},
		connect.Field{Name: "i64", Schema: connect.Int64Schema},
		connect.Field{Name: "f32", Schema: connect.Float32Schema},
		connect.Field{Name: "f64", Schema: connect.Float64Schema},
		connect.Field{Name: "ok", Schema: connect.BooleanSchema},
		connect.Field{Name: "name", Schema: connect.OptionalStringSchema},
		connect.Field{Name: "raw", Schema: connect.OptionalBytesSchema},
		connect.Field{Name: "amount", Schema: connect.DecimalSchema(2)},
		connect.Field{Name: "day", Schema: connect.DateSchema()},
		connect.Field{Name: "tod", Schema: connect.TimeSchema()},
		connect.Field{Name: "at", Schema: connect.TimestampSchema()},
	)
}()

func allTypesRecord(t *testing.T, topic string, offset int64, id int32) connect.SinkRecord {
	t.Helper()
	st := connect.NewStruct(allTypes)
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for name, v := range map[string]any{
		"id": id, "i8": int8(-8), "i16": int16(1600), "i64": int64(1) << 40, "f32": float32(1.5), "f64": 2.25, "ok": true,
		"name": fmt.Sprintf("row %d", id), "raw": []byte{0, 1, 2}, "amount": big.NewRat(12345, 100),
		"day": day, "tod": time.Date(1970, 1, 1, 13, 14, 15, 0, time.UTC), "at": time.UnixMilli(1765000000123).UTC(),
	} {
		if err := st.Put(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return valueRecord(topic, offset, allTypes, st)
}

func valueRecord(topic string, offset int64, schema *connect.Schema, v *connect.Struct) connect.SinkRecord {
	return connect.SinkRecord{Record: connect.Record{Topic: topic, Partition: 0, ValueSchema: schema, Value: v}, KafkaOffset: offset}
}

func flush(t *testing.T, task *SinkTask) {
	t.Helper()
	if err := task.Flush(nil); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func put(t *testing.T, task *SinkTask, recs ...connect.SinkRecord) {
	t.Helper()
	if err := task.Put(recs); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func (e *env) testInsertAutoCreateTypes(t *testing.T) {
	task := e.task(t, &fakeCtx{}, map[string]string{KeyAutoCreate: "true"})
	put(t, task, allTypesRecord(t, "types", 0, 1), allTypesRecord(t, "types", 1, 2))
	if n := e.query(t, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'types'`)[0][0].(int64); n != 0 {
		t.Fatalf("Put wrote before Flush: the table exists")
	}
	flush(t, task)
	want := map[string]string{
		"id": "integer NO", "i8": "smallint NO", "i16": "smallint NO", "i64": "bigint NO", "f32": "real NO",
		"f64": "double precision NO", "ok": "boolean NO", "name": "text YES", "raw": "bytea YES", "amount": "numeric NO",
		"day": "date NO", "tod": "time without time zone NO", "at": "timestamp with time zone NO",
	}
	got := map[string]string{}
	for _, r := range e.query(t, `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'types'`) {
		got[r[0].(string)] = r[1].(string) + " " + r[2].(string)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("columns\n got %v\nwant %v", got, want)
	}
	rows := e.query(t, `SELECT id, i8, i16, i64, f32, f64, ok, name, raw, amount::text, day::text, tod::text, at FROM types ORDER BY id`)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	r := rows[1]
	wantRow := []any{int32(2), int16(-8), int16(1600), int64(1) << 40, float32(1.5), 2.25, true, "row 2", []byte{0, 1, 2}, "123.45", "2026-12-07", "13:14:15"}
	if fmt.Sprint(r[:12]) != fmt.Sprint(wantRow) {
		t.Fatalf("row\n got %v\nwant %v", r[:12], wantRow)
	}
	if at := r[12].(time.Time); !at.Equal(time.UnixMilli(1765000000123)) {
		t.Fatalf("at = %v", at)
	}
}

func (e *env) testJDBCURL(t *testing.T) {
	jdbc := "jdbc:postgresql://" + strings.TrimPrefix(e.url, "postgres://postgres@")
	task := e.task(t, &fakeCtx{}, map[string]string{KeyURL: jdbc, KeyUser: "postgres", KeyAutoCreate: "true", KeyTableFormat: "jdbc_${topic}"})
	put(t, task, allTypesRecord(t, "t", 0, 1))
	flush(t, task)
	if n := e.query(t, `SELECT count(*) FROM jdbc_t`)[0][0].(int64); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

var person = connect.StructSchema(
	connect.Field{Name: "id", Schema: connect.Int32Schema},
	connect.Field{Name: "name", Schema: connect.StringSchema},
)

func personRecord(topic string, offset int64, id int32, name string) connect.SinkRecord {
	st := connect.NewStruct(person)
	st.Values[0], st.Values[1] = id, name
	return valueRecord(topic, offset, person, st)
}

func (e *env) testUpsertReplay(t *testing.T) {
	props := map[string]string{KeyAutoCreate: "true", KeyInsertMode: "upsert", KeyPKMode: "record_value", KeyPKFields: "id", KeyBatchSize: "2"}
	batch := []connect.SinkRecord{personRecord("people", 0, 1, "ann"), personRecord("people", 1, 2, "bob"), personRecord("people", 2, 3, "cy")}
	task := e.task(t, &fakeCtx{}, props)
	put(t, task, batch...)
	flush(t, task)
	// A restarted task is given the same records again, then newer ones.
	task = e.task(t, &fakeCtx{}, props)
	put(t, task, batch...)
	put(t, task, personRecord("people", 3, 2, "bea"))
	flush(t, task)
	got := fmt.Sprint(e.query(t, `SELECT id, name FROM people ORDER BY id`))
	if want := "[[1 ann] [2 bea] [3 cy]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	pk := e.query(t, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'people'::regclass AND i.indisprimary`)
	if fmt.Sprint(pk) != "[[id]]" {
		t.Fatalf("primary key %v, want id", pk)
	}
}

func (e *env) testKafkaPK(t *testing.T) {
	props := map[string]string{KeyAutoCreate: "true", KeyInsertMode: "upsert", KeyPKMode: "kafka"}
	for range 2 {
		task := e.task(t, &fakeCtx{}, props)
		put(t, task, personRecord("kafkapk", 7, 1, "ann"), personRecord("kafkapk", 8, 1, "ann"))
		flush(t, task)
	}
	got := fmt.Sprint(e.query(t, `SELECT __connect_topic, __connect_partition, __connect_offset, id FROM kafkapk ORDER BY 3`))
	if want := "[[kafkapk 0 7 1] [kafkapk 0 8 1]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
}

func (e *env) testAutoEvolve(t *testing.T) {
	props := map[string]string{KeyAutoCreate: "true", KeyAutoEvolve: "true"}
	task := e.task(t, &fakeCtx{}, props)
	put(t, task, personRecord("evolve", 0, 1, "ann"))
	flush(t, task)
	v2 := connect.StructSchema(
		connect.Field{Name: "id", Schema: connect.Int32Schema},
		connect.Field{Name: "name", Schema: connect.StringSchema},
		connect.Field{Name: "email", Schema: connect.OptionalStringSchema},
	)
	st := connect.NewStruct(v2)
	st.Values[0], st.Values[1], st.Values[2] = int32(2), "bob", "bob@example.com"
	put(t, task, valueRecord("evolve", 1, v2, st))
	flush(t, task)
	got := fmt.Sprint(e.query(t, `SELECT id, name, email FROM evolve ORDER BY id`))
	if want := "[[1 ann <nil>] [2 bob bob@example.com]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	// A new required field cannot be added; without auto.evolve no
	// field can: both fail the task, leaving the table as it was.
	v3 := connect.StructSchema(
		connect.Field{Name: "id", Schema: connect.Int32Schema},
		connect.Field{Name: "age", Schema: connect.Int32Schema},
	)
	st3 := connect.NewStruct(v3)
	st3.Values[0], st3.Values[1] = int32(3), int32(40)
	for _, p := range []map[string]string{props, {KeyAutoEvolve: "false"}} {
		task := e.task(t, &fakeCtx{}, p)
		put(t, task, valueRecord("evolve", 2, v3, st3))
		if err := task.Flush(nil); !errors.Is(err, errSchema) {
			t.Fatalf("Flush with %v = %v, want errSchema", p, err)
		}
		if err := task.Put(nil); err == nil {
			t.Fatal("Put after a failed Flush succeeded; the task must fail")
		}
	}
	if n := len(e.query(t, `SELECT * FROM evolve`)); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

func (e *env) testDelete(t *testing.T) {
	keySchema := connect.StructSchema(connect.Field{Name: "id", Schema: connect.Int32Schema})
	rec := func(offset int64, id int32, name string, tombstone bool) connect.SinkRecord {
		k := connect.NewStruct(keySchema)
		k.Values[0] = id
		r := personRecord("deletes", offset, id, name)
		r.KeySchema, r.Key = keySchema, k
		if tombstone {
			r.ValueSchema, r.Value = nil, nil
		}
		return r
	}
	task := e.task(t, &fakeCtx{}, map[string]string{KeyAutoCreate: "true", KeyInsertMode: "upsert", KeyPKMode: "record_key", KeyDeleteEnabled: "true"})
	put(t, task, rec(0, 1, "ann", false), rec(1, 2, "bob", false), rec(2, 3, "cy", false))
	flush(t, task)
	// The delete and a re-insert after it in one Flush keep their order.
	put(t, task, rec(3, 2, "", true), rec(4, 3, "", true), rec(5, 3, "cy2", false))
	flush(t, task)
	got := fmt.Sprint(e.query(t, `SELECT id, name FROM deletes ORDER BY id`))
	if want := "[[1 ann] [3 cy2]]"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	// A primitive key is one column, __connect_key.
	task = e.task(t, &fakeCtx{}, map[string]string{KeyAutoCreate: "true", KeyInsertMode: "upsert", KeyPKMode: "record_key", KeyDeleteEnabled: "true"})
	r1 := personRecord("deletes_prim", 0, 1, "ann")
	r1.KeySchema, r1.Key = connect.StringSchema, "k1"
	r2 := r1
	r2.KafkaOffset, r2.ValueSchema, r2.Value = 1, nil, nil
	put(t, task, r1)
	flush(t, task)
	if n := len(e.query(t, `SELECT __connect_key FROM deletes_prim`)); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
	put(t, task, r2)
	flush(t, task)
	if n := len(e.query(t, `SELECT __connect_key FROM deletes_prim`)); n != 0 {
		t.Fatalf("%d rows after the tombstone, want 0", n)
	}
}

func (e *env) testBadRecords(t *testing.T) {
	fc := &fakeCtx{}
	task := e.task(t, fc, map[string]string{KeyAutoCreate: "true"})
	wrongType := connect.NewStruct(person)
	wrongType.Values[0], wrongType.Values[1] = "not an int", "x" // bypasses Put's check
	schemaless := connect.SinkRecord{Record: connect.Record{Topic: "bad", Value: map[string]any{"id": 1}}, KafkaOffset: 1}
	nested := connect.StructSchema(connect.Field{Name: "id", Schema: connect.Int32Schema}, connect.Field{Name: "tags", Schema: connect.ArraySchema(connect.StringSchema)})
	nst := connect.NewStruct(nested)
	nst.Values[0], nst.Values[1] = int32(9), []any{"a"}
	put(t, task, personRecord("bad", 0, 1, "ok"), valueRecord("bad", 2, person, wrongType), schemaless, valueRecord("bad", 3, nested, nst), personRecord("bad", 4, 2, "ok too"))
	flush(t, task)
	if len(fc.reported) != 3 {
		t.Fatalf("%d records reported (%v), want 3", len(fc.reported), fc.reasons)
	}
	for _, err := range fc.reasons {
		if !errors.Is(err, errBadRecord) {
			t.Fatalf("reason %v is not errBadRecord", err)
		}
	}
	if got := fmt.Sprint(e.query(t, `SELECT id FROM bad ORDER BY id`)); got != "[[1] [2]]" {
		t.Fatalf("rows %s, want the two good ones", got)
	}
	// Under errors.tolerance=none ReportError fails: so does Put.
	fc = &fakeCtx{reportErr: errors.New("tolerance exceeded")}
	task = e.task(t, fc, map[string]string{KeyAutoCreate: "true"})
	if err := task.Put([]connect.SinkRecord{schemaless}); err == nil || !strings.Contains(err.Error(), "tolerance exceeded") {
		t.Fatalf("Put = %v, want the reporter's error", err)
	}
}

// testRefusedRow: a value the existing table refuses (text into an
// integer column, a CHECK) is found row by row, reported, and the rest of
// the batch is written.
func (e *env) testRefusedRow(t *testing.T) {
	e.exec(t, `CREATE TABLE refused (id integer PRIMARY KEY, name text CHECK (name <> 'evil'))`)
	fc := &fakeCtx{}
	task := e.task(t, fc, nil)
	textID := connect.StructSchema(connect.Field{Name: "id", Schema: connect.StringSchema}, connect.Field{Name: "name", Schema: connect.StringSchema})
	st := connect.NewStruct(textID)
	st.Values[0], st.Values[1] = "abc", "text id"
	put(t, task, personRecord("refused", 0, 1, "ann"), personRecord("refused", 1, 2, "evil"), personRecord("refused", 2, 3, "cy"),
		personRecord("refused", 3, 1, "dup"), valueRecord("refused", 4, textID, st))
	flush(t, task)
	if len(fc.reported) != 3 || fc.reported[0].KafkaOffset != 1 || fc.reported[1].KafkaOffset != 3 || fc.reported[2].KafkaOffset != 4 {
		t.Fatalf("reported %v (%v), want offsets 1, 3 and 4", fc.reported, fc.reasons)
	}
	t.Logf("reasons: %v", fc.reasons)
	if got := fmt.Sprint(e.query(t, `SELECT id, name FROM refused ORDER BY id`)); got != "[[1 ann] [3 cy]]" {
		t.Fatalf("rows %s", got)
	}
	// Tolerance none: the reporter's error undoes the whole Flush.
	e.exec(t, `TRUNCATE refused`)
	fc = &fakeCtx{reportErr: errors.New("tolerance exceeded")}
	task = e.task(t, fc, nil)
	put(t, task, personRecord("refused", 0, 1, "ann"), personRecord("refused", 1, 2, "evil"))
	if err := task.Flush(nil); err == nil {
		t.Fatal("Flush succeeded")
	}
	if n := len(e.query(t, `SELECT * FROM refused`)); n != 0 {
		t.Fatalf("%d rows after a failed Flush, want 0", n)
	}
}

// testOneTransaction: a failure mid-Flush (the second table is missing)
// leaves nothing of the first table's rows, written before it.
func (e *env) testOneTransaction(t *testing.T) {
	e.exec(t, `CREATE TABLE tx_a (id integer, name text)`)
	task := e.task(t, &fakeCtx{}, map[string]string{KeyBatchSize: "1"})
	put(t, task, personRecord("tx_a", 0, 1, "ann"), personRecord("tx_a", 1, 2, "bob"), personRecord("tx_b", 0, 1, "x"))
	err := task.Flush(nil)
	if !errors.Is(err, errSchema) {
		t.Fatalf("Flush = %v, want a missing-table error", err)
	}
	if n := len(e.query(t, `SELECT * FROM tx_a`)); n != 0 {
		t.Fatalf("%d rows after the failed transaction, want 0", n)
	}
	// A statement failing after earlier ones in the same transaction.
	e.exec(t, `CREATE TABLE tx_c (id integer, name text)`)
	e.exec(t, `CREATE TABLE tx_d (id integer, name text)`)
	e.exec(t, `CREATE FUNCTION tx_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'XX000'; END $$`)
	e.exec(t, `CREATE TRIGGER tx_fail BEFORE INSERT ON tx_d FOR EACH ROW EXECUTE FUNCTION tx_fail()`)
	task = e.task(t, &fakeCtx{}, map[string]string{KeyBatchSize: "1"})
	put(t, task, personRecord("tx_c", 0, 1, "ann"), personRecord("tx_c", 1, 2, "bob"), personRecord("tx_d", 0, 1, "x"))
	if err := task.Flush(nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Flush = %v, want the trigger's error", err)
	}
	if n := len(e.query(t, `SELECT * FROM tx_c`)); n != 0 {
		t.Fatalf("%d rows after the failed transaction, want 0", n)
	}
}

// TestRetriableAfterRetries: a database that cannot be reached is retried
// max.retries times, then Flush returns a *connect.RetriableError and the
// task may go on.
func TestRetriableAfterRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	task := &SinkTask{}
	slept := 0
	task.sleep = func(time.Duration) { slept++ }
	if err := task.Start(&fakeCtx{}, map[string]string{KeyURL: fmt.Sprintf("postgres://u@127.0.0.1:%d/db?sslmode=disable", port), KeyMaxRetries: "2", KeyQueryTimeout: "2000"}); err != nil {
		t.Fatal(err)
	}
	put(t, task, personRecord("t", 0, 1, "ann"))
	var re *connect.RetriableError
	if err := task.Flush(nil); !errors.As(err, &re) {
		t.Fatalf("Flush = %v, want a RetriableError", err)
	}
	if slept != 2 {
		t.Fatalf("slept %d times, want 2 (max.retries)", slept)
	}
	if err := task.Put(nil); err != nil {
		t.Fatalf("Put after a retriable Flush failure: %v", err)
	}
}

func TestConfig(t *testing.T) {
	base := map[string]string{KeyURL: "postgres://h/db"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		props map[string]string
		bad   string // the key Validate names, "" when valid
	}{
		{with(), ""},
		{with(KeyURL, "jdbc:postgresql://h:5432/db?user=u"), ""},
		{with(KeyInsertMode, "upsert"), KeyInsertMode},
		{with(KeyInsertMode, "upsert", KeyPKMode, "record_value"), ""},
		{with(KeyDeleteEnabled, "true", KeyPKMode, "record_value"), KeyDeleteEnabled},
		{with(KeyPKMode, "kafka", KeyPKFields, "a,b"), KeyPKFields},
	} {
		c := &SinkConnector{}
		err := c.Start(nil, tc.props)
		found := c.Validate(tc.props)
		if tc.bad == "" {
			if err != nil || found != nil {
				t.Errorf("%v: Start = %v, Validate = %v, want valid", tc.props, err, found)
			}
			continue
		}
		if err == nil || len(found) != 1 || found[0].Name != tc.bad {
			t.Errorf("%v: Start = %v, Validate = %v, want a finding on %s", tc.props, err, found, tc.bad)
		}
	}
	if _, err := config().Parse(with(KeyURL, "mysql://h/db")); err == nil {
		t.Error("a mysql:// URL was accepted")
	}
}

func TestRegister(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Class, Alias, "PostgresSinkConnector"} {
		c, typ, err := r.NewConnector(name)
		if err != nil || typ != connect.SinkType {
			t.Fatalf("%s: %v %v", name, typ, err)
		}
		if _, ok := c.(connect.SinkConnector); !ok {
			t.Fatalf("%s is a %T", name, c)
		}
	}
	if _, ok := r.Lookup("io.confluent.connect.jdbc.JdbcSinkConnector"); ok {
		t.Fatal("Confluent's JDBC class is claimed")
	}
}

// testReconnect: the server ends the task's connection between Flushes
// (admin shutdown, a transient error): the next Flush reconnects and
// writes, counting it as a retry.
func (e *env) testReconnect(t *testing.T) {
	task := e.task(t, &fakeCtx{}, map[string]string{KeyAutoCreate: "true", KeyMaxRetries: "3"})
	slept := 0
	task.sleep = func(time.Duration) { slept++ }
	put(t, task, personRecord("reconnect", 0, 1, "ann"))
	flush(t, task)
	pid := task.conn.PgConn().PID()
	e.query(t, `SELECT pg_terminate_backend($1)`, pid)
	put(t, task, personRecord("reconnect", 1, 2, "bob"))
	flush(t, task)
	if got := fmt.Sprint(e.query(t, `SELECT id FROM reconnect ORDER BY id`)); got != "[[1] [2]]" {
		t.Fatalf("rows %s", got)
	}
	if slept != 1 || task.conn.PgConn().PID() == pid {
		t.Fatalf("slept %d times, pid %d (was %d): want one retry on a new connection", slept, task.conn.PgConn().PID(), pid)
	}
}

// testQualified: table.name.format's '.' names a schema, and names keep
// their case and odd characters (each part quoted on its own).
func (e *env) testQualified(t *testing.T) {
	e.exec(t, `CREATE SCHEMA audit`)
	task := e.task(t, &fakeCtx{}, map[string]string{KeyAutoCreate: "true", KeyTableFormat: "audit.${topic}"})
	put(t, task, personRecord(`Mixed "Case"; x`, 0, 1, "ann"))
	flush(t, task)
	got := fmt.Sprint(e.query(t, `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'audit'`))
	if want := `[[audit Mixed "Case"; x]]`; got != want {
		t.Fatalf("tables %s, want %s", got, want)
	}
	// The cached columns are reloaded by the next task: it finds the table.
	task = e.task(t, &fakeCtx{}, map[string]string{KeyTableFormat: "audit.${topic}"})
	put(t, task, personRecord(`Mixed "Case"; x`, 1, 2, "bob"))
	flush(t, task)
	if n := len(e.query(t, `SELECT * FROM audit."Mixed ""Case""; x"`)); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}
