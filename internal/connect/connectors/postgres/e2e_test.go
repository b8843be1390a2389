package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/connectors/postgres/pgtest"
	"github.com/fjordstream/fjord/internal/connect/herder"
	"github.com/fjordstream/fjord/internal/connect/plugins"
	"github.com/fjordstream/fjord/internal/connect/runtime"
)

// TestEndToEnd runs the sink in a standalone worker against a Fjord node:
// JSON records with schemas go from a topic to rows, a record without a
// Struct value goes to the dead-letter queue, and the sink's consumer
// offsets are committed past everything once the rows are in.
func TestEndToEnd(t *testing.T) {
	url := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := fjord.NewNode(fjord.WithDataDir(t.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	reg, err := plugins.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	offsets, err := runtime.OpenFileOffsetStore(filepath.Join(t.TempDir(), "offsets"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	w, err := runtime.NewWorker(runtime.WorkerConfig{WorkerID: "127.0.0.1:8083", BootstrapServers: []string{n.Addr()}, Registry: reg, Offsets: offsets,
		ClientOptions: []kgo.Opt{kgo.AllowAutoTopicCreation()},
		ConverterProps: map[string]string{"key.converter": "org.apache.kafka.connect.json.JsonConverter",
			"value.converter": "org.apache.kafka.connect.json.JsonConverter"},
		OffsetFlushInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := herder.NewStandalone(herder.StandaloneConfig{WorkerID: "127.0.0.1:8083", Worker: w, Registry: reg, Offsets: offsets, Admin: kadm.NewClient(cl)})
	t.Cleanup(h.Close)

	const rows = 200
	var recs []*kgo.Record
	for i := range rows {
		v := fmt.Sprintf(`{"schema":{"type":"struct","name":"person","optional":false,"fields":[`+
			`{"field":"id","type":"int32","optional":false},{"field":"name","type":"string","optional":true}]},`+
			`"payload":{"id":%d,"name":"p%d"}}`, i, i)
		recs = append(recs, &kgo.Record{Topic: "people", Value: []byte(v)})
		if i == rows/2 {
			recs = append(recs, &kgo.Record{Topic: "people", Value: []byte(`{"schema":{"type":"string","optional":false},"payload":"not a struct"}`)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "pg", map[string]string{
		"connector.class": "PostgresSink", "topics": "people", "connection.url": url,
		"auto.create": "true", "insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id",
		"batch.size": "50", "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
		"errors.deadletterqueue.topic.replication.factor": "1",
	}, false); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, ctx, "the rows", func() bool {
		var c int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM people`).Scan(&c)
		return err == nil && c == rows
	})
	var sum int64
	if err := conn.QueryRow(ctx, `SELECT sum(id) FROM people WHERE name = 'p' || id`).Scan(&sum); err != nil || sum != rows*(rows-1)/2 {
		t.Fatalf("sum of ids %d (%v), want %d", sum, err, rows*(rows-1)/2)
	}
	waitFor(t, ctx, "the sink's offsets", func() bool {
		offs, err := h.ConnectorOffsets(ctx, "pg")
		if err != nil || len(offs.Offsets) != 1 {
			return false
		}
		return fmt.Sprint(offs.Offsets[0].Offset["kafka_offset"]) == fmt.Sprint(rows+1)
	})
	dlq, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	f := dlq.PollFetches(ctx)
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	if got := f.Records(); len(got) != 1 || string(got[0].Value) != `{"schema":{"type":"string","optional":false},"payload":"not a struct"}` {
		t.Fatalf("dead-letter queue %v", got)
	}
	if st, _ := h.ConnectorStatus(ctx, "pg"); len(st.Tasks) != 1 || st.Tasks[0].State != connect.Running {
		t.Fatalf("status %+v", st)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
