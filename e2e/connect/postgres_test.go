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
