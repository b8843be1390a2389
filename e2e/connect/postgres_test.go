package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect/connectors/postgres/pgtest"
	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Issue 10's CDC test: rows inserted into PostgreSQL while a standalone
// worker captures them (the PostgreSQL CDC source, Debezium's envelope)
// arrive in the topic as change events, in order; the worker is SIGKILLed
// midway and restarted, and no change is lost (the replication slot keeps
// what was not confirmed).
func TestCDC_WorkerSIGKILLedLosesNoChange(t *testing.T) {
	pgURL := pgtest.Start(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(ctx, "CREATE TABLE items (id integer PRIMARY KEY, name text)"); err != nil {
		t.Fatal(err)
	}
	bin := fjordtest.BuildFjord(t)
	broker := fjordtest.StartProcess(t, bin, t.TempDir())
	dir := t.TempDir()
	worker, src := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "cdc.properties")
	writeProps(t, worker, "bootstrap.servers", broker.Addr(), "listeners", "http://127.0.0.1:0",
		"key.converter", "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable", "false",
		"value.converter", "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable", "false",
		"offset.storage.file.filename", filepath.Join(dir, "offsets"), "offset.flush.interval.ms", "300")
	writeProps(t, src, "name", "cdc", "connector.class", "io.debezium.connector.postgresql.PostgresConnector",
		"database.hostname", u.Hostname(), "database.port", u.Port(), "database.user", u.User.Username(), "database.dbname", "postgres",
		"topic.prefix", "db", "table.include.list", "public.items", "slot.name", "fjord", "publication.name", "fjord_pub")
	w := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "standalone", worker, src)

	// Rows inserted once the replication slot exists are streamed ("c"),
	// not read by the snapshot ("r"): the slot's exported snapshot is
	// the snapshot's view.
	for {
		var slots int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'fjord'").Scan(&slots); err != nil {
			t.Fatal(err)
		}
		if slots == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the connector never created its replication slot\n%s", w.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	const n = 2000
	writerDone := make(chan error, 1)
	wdb, err := pgx.Connect(ctx, pgURL) // the writer's own: a pgx.Conn is not for two goroutines
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wdb.Close(context.Background())
		for i := range n {
			if _, err := wdb.Exec(ctx, "INSERT INTO items (id, name) VALUES ($1, $2)", i, fmt.Sprintf("item-%d", i)); err != nil {
				writerDone <- err
				return
			}
			if i%50 == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		writerDone <- nil
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("db.public.items"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ids []int
	read := func(until func() bool) {
		t.Helper()
		for !until() {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				var ev struct {
					Op    string `json:"op"`
					After struct {
						ID int `json:"id"`
					} `json:"after"`
				}
				if err := json.Unmarshal(r.Value, &ev); err != nil {
					t.Fatalf("change event %s: %v", r.Value, err)
				}
				if ev.Op != "c" {
					t.Fatalf("event %s: op %q, want c", r.Value, ev.Op)
				}
				ids = append(ids, ev.After.ID)
			})
			if ctx.Err() != nil {
				t.Fatalf("%d change events read\n%s", len(ids), w.Output())
			}
		}
	}
	read(func() bool { return len(ids) >= n/4 })
	w.Kill()
	t.Logf("SIGKILLed the worker after %d change events", len(ids))
	time.Sleep(500 * time.Millisecond)
	w.Restart(t)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	distinct := func() int {
		seen := map[int]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		return len(seen)
	}
	read(func() bool { return distinct() >= n })
	seen := map[int]bool{}
	next := 0
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if id != next {
			t.Fatalf("change of row %d came before row %d's: out of order", id, next)
		}
		next++
	}
	t.Logf("%d rows captured, %d change events (%d replayed after the kill)", n, len(ids), len(ids)-n)
}

// The PostgreSQL sink's offsets table (offsets.table.name): a standalone
// worker writes numbered records as rows in insert mode with no primary
// key, so a replayed record would be a second row. The worker is
// SIGKILLed once PostgreSQL has every row, and the consumer group is then
// rewound to the start, the worst the group can lag behind PostgreSQL:
// as if the worker had died between every PostgreSQL commit and the
// group's commit after it. The restarted worker resumes from the table
// instead, and every number is a row exactly once.
//
// The rewind stands for the crash window because the window itself is
// too narrow to hit on purpose: batch.size=1 makes the sink ask for a
// commit after every Put (offset.flush.interval.ms, an hour, never comes),
// and each commit is Flush, then the group's commit, milliseconds apart.
// Without the table, the restart re-reads every record from offset 0 and
// the check finds each of the first N numbers twice.
func TestPostgresSink_OffsetsTableExactlyOnceAcrossSIGKILL(t *testing.T) {
	pgURL := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	bin := fjordtest.BuildFjord(t)
	broker := fjordtest.StartProcess(t, bin, t.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, partitions, group = "nums", 3, "connect-pgsink"
	if resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	dir := t.TempDir()
	worker, sink := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "sink.properties")
	writeProps(t, worker, "bootstrap.servers", broker.Addr(), "listeners", "http://127.0.0.1:0",
		"key.converter", "org.apache.kafka.connect.storage.StringConverter",
		"value.converter", "org.apache.kafka.connect.json.JsonConverter",
		"offset.storage.file.filename", filepath.Join(dir, "offsets"), "offset.flush.interval.ms", "3600000",
		// The killed worker's consumer leaves the group when its session
		// ends, so the group can be rewound.
		"consumer.session.timeout.ms", "6000", "consumer.heartbeat.interval.ms", "500")
	writeProps(t, sink, "name", "pgsink", "connector.class", "PostgresSink", "topics", topic, "connection.url", pgURL,
		"insert.mode", "insert", "auto.create", "true", "batch.size", "1", "offsets.table.name", "fjord_connect_offsets")
	w := fjordtest.StartCommandMarked(t, bin, "worker ready: rest=", "connect", "standalone", worker, sink)

	const n = 2000
	produce := func(from int) {
		t.Helper()
		recs := make([]*kgo.Record, 0, n)
		for i := from; i < from+n; i++ {
			v := fmt.Sprintf(`{"schema":{"type":"struct","name":"num","optional":false,"fields":[{"field":"n","type":"int32","optional":false}]},"payload":{"n":%d}}`, i)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		var c int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM nums").Scan(&c); err != nil {
			return -1 // not created yet
		}
		return c
	}
	waitRows := func(what string, want int) {
		t.Helper()
		for count() < want {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %d rows\n%s", what, count(), w.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	produce(0)
	waitRows("the first records", n)
	w.Kill()

	// Rewind the consumer group to the start once the killed member is
	// gone (an empty group takes a commit from outside it).
	start := kadm.Offsets{}
	for p := range int32(partitions) {
		start.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	for {
		resp, err := adm.CommitOffsets(ctx, group, start)
		if err == nil && resp.Error() == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("rewinding %s: %v %v", group, err, resp.Error())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("SIGKILLed the worker with %d rows in PostgreSQL; rewound %s to offset 0", count(), group)
	w.Restart(t)
	produce(n)
	waitRows("the second records", 2*n)
	// Once the group has committed past every record, the worker has
	// written all it ever will: a replay would be in the table by now.
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		var at int64
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) { at += max(o.At, 0) })
		}
		if at == 2*n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the group committed %d of %d offsets\n%s", at, 2*n, w.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := db.Query(ctx, "SELECT n, count(*) FROM nums GROUP BY n ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	seen, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		N     int32
		Count int64
	}])
	if err != nil {
		t.Fatal(err)
	}
	total := count()
	var dups []int32
	for _, r := range seen {
		if r.Count != 1 {
			dups = append(dups, r.N)
		}
	}
	if total != 2*n || len(seen) != 2*n || len(dups) > 0 || seen[0].N != 0 || seen[len(seen)-1].N != 2*n-1 {
		t.Fatalf("%d rows, %d distinct numbers, %d written more than once (first: %v); want %d, each once", total, len(seen), len(dups), dups[:min(len(dups), 5)], 2*n)
	}
	var stored int64
	if err := db.QueryRow(ctx, "SELECT sum(next_offset) FROM fjord_connect_offsets WHERE connector = 'pgsink' AND topic = $1", topic).Scan(&stored); err != nil || stored != 2*n {
		t.Fatalf("the offsets table sums to %d (%v), want %d", stored, err, 2*n)
	}
	t.Logf("%d rows, each number once; the offsets table holds %d", total, stored)
}
