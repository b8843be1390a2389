package standalone

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect/connectors/postgres/pgtest"
)

const pgRows = 50_000

// rowsSchema is the JsonConverter schema of the benchmark's rows.
const rowsSchema = `{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"name","type":"string"},{"field":"amount","type":"double"}]}`

// fillRowsTopic produces pgRows JSON records with their schema into a new
// one-partition topic, before the clock starts.
func fillRowsTopic(b *testing.B, broker, topic string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	createTopic(b, cl, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range pgRows {
		v := fmt.Sprintf(`{"schema":%s,"payload":{"id":%d,"name":"name-%d","amount":%d.5}}`, rowsSchema, i, i, i)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// waitRows waits until table holds want rows.
func waitRows(b *testing.B, db *pgx.Conn, table string, want int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		var n int
		err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
		if err == nil && n >= want {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("%s: %d rows of %d (%v)", table, n, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkPostgresSink writes 50,000 records (JsonConverter with schemas,
// three columns) from a topic into a PostgreSQL table: a standalone worker
// running PostgresSink (auto.create, insert mode, batch.size 3000, one
// transaction per flush, offset.flush.interval.ms 200).
func BenchmarkPostgresSink(b *testing.B) {
	broker := benchBroker(b)
	pgURL := pgtest.Start(b)
	db, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("rows_%d", i)
		fillRowsTopic(b, broker, topic)
		dir := b.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan struct{}), make(chan error, 1)
		start := time.Now()
		go func() {
			done <- Run(ctx, Config{Worker: map[string]string{"bootstrap.servers": broker, "listeners": "http://127.0.0.1:0",
				"offset.storage.file.filename": filepath.Join(dir, "offsets"), "offset.flush.interval.ms": "200"},
				Connectors: []map[string]string{{"name": "pg", "connector.class": "PostgresSink", "topics": topic,
					"connection.url": pgURL, "auto.create": "true"}},
				Ready: func(string) { close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("the worker ended before it was ready: %v", err)
		}
		waitRows(b, db, topic, pgRows)
		elapsed := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("worker: %v", err)
		}
		b.ReportMetric(float64(pgRows)/elapsed.Seconds(), "rows/s")
	}
}

// BenchmarkPlainPgxSink is BenchmarkPostgresSink's baseline: a plain kgo
// consumer decodes the same records and inserts them with pgx, 3,000
// statements a round trip, one transaction per poll.
func BenchmarkPlainPgxSink(b *testing.B) {
	broker := benchBroker(b)
	pgURL := pgtest.Start(b)
	db, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("plain_rows_%d", i)
		fillRowsTopic(b, broker, topic)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if _, err := db.Exec(ctx, "CREATE TABLE "+topic+" (id bigint NOT NULL, name text NOT NULL, amount double precision NOT NULL)"); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			b.Fatal(err)
		}
		insert := "INSERT INTO " + topic + " (id, name, amount) VALUES ($1, $2, $3)"
		for written := 0; written < pgRows; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				b.Fatalf("%d rows written", written)
			}
			tx, err := db.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			batch := &pgx.Batch{}
			fs.EachRecord(func(r *kgo.Record) {
				var v struct {
					Payload struct {
						ID     int64   `json:"id"`
						Name   string  `json:"name"`
						Amount float64 `json:"amount"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(r.Value, &v); err != nil {
					b.Fatal(err)
				}
				batch.Queue(insert, v.Payload.ID, v.Payload.Name, v.Payload.Amount)
				if batch.Len() == 3000 {
					if err := tx.SendBatch(ctx, batch).Close(); err != nil {
						b.Fatal(err)
					}
					batch = &pgx.Batch{}
				}
				written++
			})
			if batch.Len() > 0 {
				if err := tx.SendBatch(ctx, batch).Close(); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		cl.Close()
		cancel()
		b.ReportMetric(float64(pgRows)/elapsed.Seconds(), "rows/s")
	}
}
