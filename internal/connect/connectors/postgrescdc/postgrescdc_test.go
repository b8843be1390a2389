package postgrescdc

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/jackc/pglogrepl"
)

// fakeCtx is the runtime's side of a source task: the stored offsets by
// partition, kept through JSON as an offset store keeps them.
type fakeCtx struct {
	mu      sync.Mutex
	offsets map[string]map[string]any
}

func (c *fakeCtx) Config() map[string]string { return nil }

func (c *fakeCtx) Offset(p map[string]any) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsets[fmt.Sprint(p)], nil
}

// store stores r's offset, as the runtime does once Kafka acknowledged r.
func (c *fakeCtx) store(t *testing.T, r connect.SourceRecord) {
	t.Helper()
	b, err := json.Marshal(r.SourceOffset)
	if err != nil {
		t.Fatal(err)
	}
	var off map[string]any
	if err := json.Unmarshal(b, &off); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offsets == nil {
		c.offsets = map[string]map[string]any{}
	}
	c.offsets[fmt.Sprint(r.SourcePartition)] = off
}

func startTask(t *testing.T, ctx connect.SourceTaskContext, props map[string]string) *Task {
	t.Helper()
	task := NewTask()
	task.wait = 100 * time.Millisecond
	if err := task.Start(ctx, props); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = task.Stop() })
	return task
}

// pollN polls until n records arrived (or fails after a deadline).
func pollN(t *testing.T, task *Task, n int) []connect.SourceRecord {
	t.Helper()
	var out []connect.SourceRecord
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d: %v", len(out), n, describe(out))
		}
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d: %v", len(out), n, describe(out))
	}
	return out
}

// pollQuiet checks that nothing more arrives for a while.
func pollQuiet(t *testing.T, task *Task) {
	t.Helper()
	for i := 0; i < 5; i++ {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 {
			t.Fatalf("unexpected records: %v", describe(recs))
		}
	}
}

// describe renders records as op:id (tombstones as "tomb:id").
func describe(recs []connect.SourceRecord) []string {
	var out []string
	for _, r := range recs {
		id := any(nil)
		if k, ok := r.Key.(*connect.Struct); ok {
			id = k.Get("id")
		}
		if r.Value == nil {
			out = append(out, fmt.Sprintf("tomb:%v", id))
			continue
		}
		out = append(out, fmt.Sprintf("%s:%v", r.Value.(*connect.Struct).Get("op"), id))
	}
	return out
}

func field(r connect.SourceRecord, part, name string) any {
	s, _ := r.Value.(*connect.Struct).Get(part).(*connect.Struct)
	if s == nil {
		return nil
	}
	return s.Get(name)
}

func wantOps(t *testing.T, recs []connect.SourceRecord, want ...string) {
	t.Helper()
	got := describe(recs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records %v, want %v", got, want)
	}
}

const createTable = `CREATE TABLE public.items (id int PRIMARY KEY, name text, price numeric(10,2), ok bool,
	at timestamptz, day date, data bytea, u uuid, j jsonb, big int8, f float8)`

func TestSnapshotThenStream(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, createTable,
		`INSERT INTO items VALUES (1, 'one', 1.50, true, '2024-01-02 03:04:05.123+00', '2024-01-02', '\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a":1}', 9000000000, 0.5)`,
		`INSERT INTO items (id, name) VALUES (2, 'two')`)
	task := startTask(t, &fakeCtx{}, pg.props(KeyTableInclude, "public.items"))

	snap := pollN(t, task, 2)
	wantOps(t, snap, "r:1", "r:2")
	r := snap[0]
	if r.Topic != "srv.public.items" {
		t.Errorf("topic %q", r.Topic)
	}
	if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
		t.Fatal(err)
	}
	if err := connect.Validate(r.KeySchema, r.Key); err != nil {
		t.Fatal(err)
	}
	if len(r.KeySchema.Fields) != 1 || r.KeySchema.Fields[0].Name != "id" {
		t.Errorf("key schema %+v, want the primary key", r.KeySchema.Fields)
	}
	checks := map[string]any{"id": int32(1), "name": "one", "ok": true, "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"j": `{"a": 1}`, "big": int64(9000000000), "f": 0.5}
	for k, want := range checks {
		if got := field(r, "after", k); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after.%s = %#v, want %#v", k, got, want)
		}
	}
	if p, _ := field(r, "after", "price").(*big.Rat); p == nil || p.Cmp(big.NewRat(3, 2)) != 0 {
		t.Errorf("price %v", field(r, "after", "price"))
	}
	if at, _ := field(r, "after", "at").(time.Time); !at.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC)) {
		t.Errorf("at %v", at)
	}
	if d, _ := field(r, "after", "data").([]byte); string(d) != "\x01\x02" {
		t.Errorf("data %q", d)
	}
	if field(r, "source", "snapshot") != "true" || field(snap[1], "source", "snapshot") != "last" || field(r, "source", "connector") != "postgresql" ||
		field(r, "source", "name") != "srv" || field(r, "source", "table") != "items" || field(r, "source", "schema") != "public" || field(r, "source", "db") != "postgres" {
		t.Errorf("source %v / %v", r.Value.(*connect.Struct).Get("source"), snap[1].Value.(*connect.Struct).Get("source"))
	}
	if snap[1].SourceOffset[OffsetLastSnapshot] != true || fmt.Sprint(r.SourcePartition) != "map[server:srv]" {
		t.Errorf("offsets %v %v", snap[1].SourceOffset, r.SourcePartition)
	}

	pg.exec(t, `INSERT INTO items (id, name) VALUES (3, 'three')`,
		`UPDATE items SET name = 'uno' WHERE id = 1`,
		`BEGIN`, `DELETE FROM items WHERE id = 2`, `INSERT INTO items (id, name) VALUES (4, 'four')`, `COMMIT`)
	recs := pollN(t, task, 5)
	wantOps(t, recs, "c:3", "u:1", "d:2", "tomb:2", "c:4")
	if field(recs[0], "after", "name") != "three" || recs[0].Value.(*connect.Struct).Get("before") != nil {
		t.Errorf("insert %v", recs[0].Value)
	}
	// Default replica identity: no old row on update, the key on delete.
	if field(recs[1], "after", "name") != "uno" || recs[1].Value.(*connect.Struct).Get("before") != nil {
		t.Errorf("update %v", recs[1].Value)
	}
	if field(recs[2], "before", "id") != int32(2) || field(recs[2], "before", "name") != nil || recs[2].Value.(*connect.Struct).Get("after") != nil {
		t.Errorf("delete %v", recs[2].Value)
	}
	if recs[2].SourceOffset[OffsetLSN] != recs[4].SourceOffset[OffsetLSN] || recs[0].SourceOffset[OffsetLSN] == recs[1].SourceOffset[OffsetLSN] {
		t.Errorf("offsets name the transaction's commit LSN: %v %v %v", recs[0].SourceOffset, recs[1].SourceOffset, recs[4].SourceOffset)
	}
	if field(recs[0], "source", "snapshot") != "false" || field(recs[0], "source", "txId") == nil || field(recs[0], "source", "lsn") == nil {
		t.Errorf("source %v", recs[0].Value.(*connect.Struct).Get("source"))
	}

	// REPLICA IDENTITY FULL: the whole old row.
	pg.exec(t, `ALTER TABLE items REPLICA IDENTITY FULL`, `UPDATE items SET name = 'tres' WHERE id = 3`)
	recs = pollN(t, task, 1)
	wantOps(t, recs, "u:3")
	if field(recs[0], "before", "name") != "three" || field(recs[0], "after", "name") != "tres" {
		t.Errorf("full update %v", recs[0].Value)
	}
}

func TestResumeFromStoredOffset(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY, name text)`, `INSERT INTO items VALUES (1, 'one')`)
	ctx := &fakeCtx{}
	props := pg.props(KeyTableInclude, "public\\.items", KeyTombstones, "false")
	task := startTask(t, ctx, props)
	recs := pollN(t, task, 1)
	wantOps(t, recs, "r:1")
	pg.exec(t, `INSERT INTO items VALUES (2, 'two')`, `BEGIN`, `INSERT INTO items VALUES (3, 'three')`, `INSERT INTO items VALUES (4, 'four')`, `COMMIT`)
	recs = append(recs, pollN(t, task, 3)...)
	wantOps(t, recs, "r:1", "c:2", "c:3", "c:4")
	// Kafka acknowledged up to the middle of the second transaction.
	for _, r := range recs[:3] {
		ctx.store(t, r)
	}
	if err := task.Commit(); err != nil {
		t.Fatal(err)
	}
	// A status update carries the stored offset's commit LSN to the slot.
	want := pglogrepl.LSN(uint64(recs[2].SourceOffset[OffsetLSN].(int64))).String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := pg.count(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'debezium'`)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot confirmed %s, want %s (the stored offset's)", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}

	// Restarted: no snapshot again, the rest of the transaction first.
	pg.exec(t, `INSERT INTO items VALUES (5, 'five')`)
	task = startTask(t, ctx, props)
	recs = pollN(t, task, 2)
	wantOps(t, recs, "c:4", "c:5")
	pollQuiet(t, task)

	// Records polled but never stored nor committed come again after a
	// restart (a SIGKILL before the commit): the slot kept them.
	pg.exec(t, `DELETE FROM items WHERE id = 1`)
	lost := pollN(t, task, 1)
	wantOps(t, lost, "d:1")
	if err := task.Commit(); err != nil { // the stored offset is still before them
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	task = startTask(t, ctx, props)
	recs = pollN(t, task, 3)
	wantOps(t, recs, "c:4", "c:5", "d:1")
}

func TestUnfinishedSnapshotIsTakenAgain(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY, name text)`, `INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')`)
	ctx := &fakeCtx{}
	props := pg.props(KeyMaxBatchSize, "1")
	task := startTask(t, ctx, props)
	recs := pollN(t, task, 1)
	wantOps(t, recs, "r:1")
	ctx.store(t, recs[0])
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	pg.exec(t, `INSERT INTO items VALUES (4, 'four')`)
	task = startTask(t, ctx, props)
	recs = pollN(t, task, 4)
	wantOps(t, recs, "r:1", "r:2", "r:3", "r:4")
	if recs[3].SourceOffset[OffsetLastSnapshot] != true {
		t.Errorf("last offset %v", recs[3].SourceOffset)
	}
	pollQuiet(t, task)
}

func TestSnapshotModeNever(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY, name text)`, `INSERT INTO items VALUES (1, 'one')`)
	task := startTask(t, &fakeCtx{}, pg.props(KeySnapshotMode, SnapshotNever, KeySlotName, "never_slot", KeyPublicationName, "never_pub"))
	pollQuiet(t, task)
	pg.exec(t, `INSERT INTO items VALUES (2, 'two')`)
	wantOps(t, pollN(t, task, 1), "c:2")
}

func TestSnapshotModeInitialOnly(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY, name text)`, `INSERT INTO items VALUES (1, 'one'), (2, 'two')`)
	ctx := &fakeCtx{}
	props := pg.props(KeySnapshotMode, SnapshotInitialOnly)
	task := startTask(t, ctx, props)
	recs := pollN(t, task, 2)
	wantOps(t, recs, "r:1", "r:2")
	pg.exec(t, `INSERT INTO items VALUES (3, 'three')`)
	pollQuiet(t, task)
	if n := pg.count(t, `SELECT count(*) FROM pg_replication_slots`); n != "0" {
		t.Errorf("%s slots left after an initial_only snapshot, want none", n)
	}
	ctx.store(t, recs[1])
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	task = startTask(t, ctx, props)
	pollQuiet(t, task)
}

func TestStopUnblocksPoll(t *testing.T) {
	pg := startPG(t)
	pg.exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	task := NewTask()
	task.wait = time.Hour // Poll would block for an hour without Stop
	if err := task.Start(&fakeCtx{}, pg.props()); err != nil {
		t.Fatal(err)
	}
	// The empty snapshot ends in the first Poll; the next one blocks.
	if _, err := task.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := task.Poll(context.Background())
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- task.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not unblock Poll")
	}
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
}

func TestRegisteredNames(t *testing.T) {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Class, Alias, "PostgresConnector", "Postgres"} {
		c, typ, err := r.NewConnector(name)
		if err != nil || typ != connect.ConnectorType(connect.PluginSource) {
			t.Fatalf("%s: %v %v", name, typ, err)
		}
		if _, ok := c.(connect.SourceConnector); !ok {
			t.Fatalf("%s is not a source connector", name)
		}
	}
	c := &Connector{}
	if err := c.Start(nil, map[string]string{KeyHostname: "h", KeyUser: "u", KeyDBName: "d", KeyTopicPrefix: "p"}); err != nil {
		t.Fatal(err)
	}
	cfgs, err := c.TaskConfigs(4)
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("task configs %v %v: want one task", cfgs, err)
	}
	for _, bad := range []map[string]string{
		{KeyHostname: "h", KeyUser: "u", KeyDBName: "d", KeyTopicPrefix: "p", KeyPluginName: "decoderbufs"},
		{KeyHostname: "h", KeyUser: "u", KeyDBName: "d", KeyTopicPrefix: "p", KeySnapshotMode: "always"},
		{KeyHostname: "h", KeyUser: "u", KeyDBName: "d"},
	} {
		if err := c.Start(nil, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestDecodeText(t *testing.T) {
	cases := []struct {
		oid    uint32
		typmod int32
		text   string
		want   string
	}{
		{oidInt2, -1, "-7", "-7"},
		{oidFloat4, -1, "1.5", "1.5"},
		{oidNumeric, -1, "123.456789", "123.456789"},
		{oidNumeric, (10<<16 | 2) + 4, "NaN", "<nil>"},
		{oidTimestamp, -1, "2024-05-06 07:08:09", "2024-05-06 07:08:09 +0000 UTC"},
		{oidTimestamptz, -1, "2024-05-06 07:08:09.5+05:30", "2024-05-06 01:38:09.5 +0000 UTC"},
		{oidTimestamptz, -1, "infinity", "<nil>"},
		{oidTime, -1, "10:11:12.25", "1970-01-01 10:11:12.25 +0000 UTC"},
	}
	for _, c := range cases {
		col := column{name: "c", oid: c.oid, typmod: c.typmod}
		col.schema = columnSchema(c.oid, c.typmod, true)
		v, err := decode(&col, []byte(c.text))
		if err != nil {
			t.Fatalf("%d %q: %v", c.oid, c.text, err)
		}
		if got := fmt.Sprint(v); got != c.want {
			t.Errorf("%d %q = %s, want %s", c.oid, c.text, got, c.want)
		}
		if err := connect.Validate(col.schema, v); err != nil {
			t.Errorf("%d %q: %v", c.oid, c.text, err)
		}
	}
}
