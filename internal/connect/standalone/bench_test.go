package standalone

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/connect/connectors/datagen"
	"github.com/fjordstream/fjord/internal/connect/convert"
)

// benchBroker starts an in-process broker for a benchmark.
func benchBroker(b *testing.B) string {
	b.Helper()
	n, err := fjord.NewNode(fjord.WithDataDir(b.TempDir()), fjord.WithConfig("listeners", "PLAINTEXT://127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	return n.Addr()
}

const benchRecords, benchRecordBytes = 50_000, 1024

// writeInput writes benchRecords lines of benchRecordBytes (newline included).
func writeInput(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pad := strings.Repeat("x", benchRecordBytes-12)
	for i := range benchRecords {
		fmt.Fprintf(w, "%010d-%s\n", i, pad)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	_ = f.Close()
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// BenchmarkFileToFile copies 50,000 records of 1 KiB from a file through a
// topic into a file: a standalone worker running FileStreamSource and
// FileStreamSink (StringConverter, acks=all, sink commits after fsync,
// offset.flush.interval.ms 200).
func BenchmarkFileToFile(b *testing.B) {
	broker := benchBroker(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
		writeInput(b, in)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		topic := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		go func() {
			done <- Run(ctx, Config{Worker: map[string]string{"bootstrap.servers": broker, "listeners": "http://127.0.0.1:0",
				"offset.storage.file.filename": filepath.Join(dir, "offsets"),
				// The sink writes its last lines at a flush: the end
				// of the copy is seen within this of its last record.
				"offset.flush.interval.ms": "200",
				"key.converter":            "org.apache.kafka.connect.storage.StringConverter",
				"value.converter":          "org.apache.kafka.connect.storage.StringConverter"},
				Connectors: []map[string]string{
					{"name": "src", "connector.class": "FileStreamSource", "file": in, "topic": topic},
					{"name": "dst", "connector.class": "FileStreamSink", "file": out, "topics": topic},
				}, Ready: func(string) { close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("the worker ended before it was ready: %v", err)
		}
		for countLines(out) < benchRecords {
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("worker: %v", err)
		}
		b.ReportMetric(float64(benchRecords)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(benchRecords*benchRecordBytes)/elapsed.Seconds()/(1<<20), "MB/s")
	}
}

// BenchmarkPlainKgoFileToFile is BenchmarkFileToFile's baseline: the same
// records read from a file, produced with a plain idempotent acks=all kgo
// producer, consumed by a plain kgo group consumer and written to a file,
// in the same process.
func BenchmarkPlainKgoFileToFile(b *testing.B) {
	broker := benchBroker(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
		writeInput(b, in)
		topic := fmt.Sprintf("plain-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
		if err != nil {
			b.Fatal(err)
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumerGroup("plain-"+topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			f, _ := os.Open(in)
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 4096), 1<<20)
			for sc.Scan() {
				prod.Produce(ctx, &kgo.Record{Value: append([]byte(nil), sc.Bytes()...)}, nil)
			}
			_ = prod.Flush(ctx)
		}()
		f, _ := os.Create(out)
		w := bufio.NewWriterSize(f, 1<<20)
		got := 0
		for got < benchRecords {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				_, _ = w.Write(r.Value)
				_ = w.WriteByte('\n')
				got++
			})
			_ = w.Flush()
			_ = f.Sync()
			_ = cons.CommitUncommittedOffsets(ctx)
			if ctx.Err() != nil {
				b.Fatal(ctx.Err())
			}
		}
		elapsed := time.Since(start)
		_ = f.Close()
		prod.Close()
		cons.Close()
		cancel()
		b.ReportMetric(float64(benchRecords)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(benchRecords*benchRecordBytes)/elapsed.Seconds()/(1<<20), "MB/s")
	}
}

const datagenRecords = 500_000

// endOffsets sums a topic's end offsets (-1 on error).
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) int64 {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = -1
	rt.Partitions = append(rt.Partitions, p)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		return -1
	}
	return resp.Topics[0].Partitions[0].Offset
}

// createTopic creates a one-partition topic: the benchmarks measure
// producing, not a client's wait for an auto-created topic's metadata
// (kgo looks again only after its metadata minimum age, 5 s).
func createTopic(b *testing.B, cl *kgo.Client, topic string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
}

// datagenShape is one kind of record the Datagen benchmarks generate.
type datagenShape struct {
	name    string
	records int
	props   map[string]string // Datagen's keys that choose the records
}

// kibSchema draws records of about 1 KiB of JSON: a sequence number, a
// regex-drawn id and 1000 random letters and digits.
const kibSchema = `{"type":"record","name":"kib","fields":[
 {"name":"seq","type":{"type":"long","arg.properties":{"iteration":{"start":0}}}},
 {"name":"id","type":{"type":"string","arg.properties":{"regex":"id-[0-9a-f]{8}"}}},
 {"name":"payload","type":{"type":"string","arg.properties":{"length":1000}}}]}`

// datagenShapes are the records the Datagen benchmarks move: Datagen's
// pageviews quickstart (about 100 bytes of JSON) and 1 KiB records.
var datagenShapes = []datagenShape{
	{name: "pageviews", records: datagenRecords, props: map[string]string{"quickstart": "pageviews"}},
	{name: "1KiB", records: datagenRecords / 5, props: map[string]string{"schema.string": kibSchema, "schema.keyfield": "id"}},
}

// datagenConfig is a Datagen connector's configuration for shape.
func datagenConfig(shape datagenShape, topic string) map[string]string {
	cfg := map[string]string{"kafka.topic": topic, "max.interval": "0", "iterations": fmt.Sprint(shape.records)}
	for k, v := range shape.props {
		cfg[k] = v
	}
	return cfg
}

// meanRecordBytes is the mean size of shape's records as the benchmarks
// produce them (key and value; JsonConverter without schemas), for MB/s.
func meanRecordBytes(b *testing.B, shape datagenShape) float64 {
	b.Helper()
	task := datagen.NewTask()
	cfg := datagenConfig(shape, "t")
	cfg["task.id"] = "0"
	if err := task.Start(nil, cfg); err != nil {
		b.Fatal(err)
	}
	defer task.Stop()
	recs, err := task.Poll(context.Background())
	if err != nil || len(recs) == 0 {
		b.Fatalf("poll: %d records, %v", len(recs), err)
	}
	conv := &convert.JSONConverter{}
	if err := conv.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, r := range recs {
		v, err := conv.FromConnectData(r.Topic, nil, r.ValueSchema, r.Value)
		if err != nil {
			b.Fatal(err)
		}
		total += len(v) + len(fmt.Sprint(r.Key))
	}
	return float64(total) / float64(len(recs))
}

// BenchmarkDatagenToTopic produces Datagen records (JsonConverter without
// schemas, one task, no pause between records) into a one-partition
// topic: 500,000 pageviews, or 100,000 records of 1 KiB.
func BenchmarkDatagenToTopic(b *testing.B) {
	broker := benchBroker(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for _, shape := range datagenShapes {
		b.Run(shape.name, func(b *testing.B) {
			size := meanRecordBytes(b, shape)
			for i := 0; i < b.N; i++ {
				rate := datagenThroughConnect(b, broker, cl, shape, fmt.Sprintf("gen-%s-%d-%d", shape.name, b.N, i))
				b.ReportMetric(rate, "records/s")
				b.ReportMetric(rate*size/1e6, "MB/s")
			}
		})
	}
}

// datagenThroughConnect runs a standalone worker with one Datagen task
// writing shape's records to topic, and returns the records/s it reached.
func datagenThroughConnect(b *testing.B, broker string, cl *kgo.Client, shape datagenShape, topic string) float64 {
	dir := b.TempDir()
	createTopic(b, cl, topic)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, done := make(chan struct{}), make(chan error, 1)
	conn := datagenConfig(shape, topic)
	conn["name"], conn["connector.class"] = "gen", "Datagen"
	go func() {
		done <- Run(ctx, Config{Worker: map[string]string{"bootstrap.servers": broker, "listeners": "http://127.0.0.1:0",
			"offset.storage.file.filename": filepath.Join(dir, "offsets"), "value.converter.schemas.enable": "false"},
			Connectors: []map[string]string{conn},
			Ready:      func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("the worker ended before it was ready: %v", err)
	}
	// The rate is taken once records flow (from a tenth of them): the
	// worker's start-up (REST server, metadata, the task's start) is not
	// what is measured.
	want := int64(shape.records)
	var from int64
	for from < want/10 {
		time.Sleep(5 * time.Millisecond)
		from = endOffsets(ctx, cl, topic)
	}
	start := time.Now()
	for endOffsets(ctx, cl, topic) < want {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("worker: %v", err)
	}
	return float64(want-from) / elapsed.Seconds()
}

// BenchmarkPlainKgoProduceSmall is BenchmarkDatagenToTopic's baseline: a
// plain idempotent acks=all kgo producer sending 500,000 records of a
// Datagen pageview's size (about 100 bytes of JSON).
func BenchmarkPlainKgoProduceSmall(b *testing.B) {
	broker := benchBroker(b)
	value := []byte(`{"viewtime":1700000000000,"userid":"User_5","pageid":"Page_42"}`)
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("plain-small-%d", i)
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic))
		if err != nil {
			b.Fatal(err)
		}
		createTopic(b, cl, topic)
		ctx := context.Background()
		start := time.Now()
		for j := 0; j < datagenRecords; j++ {
			cl.Produce(ctx, &kgo.Record{Key: []byte("User_5"), Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		cl.Close()
		b.ReportMetric(float64(datagenRecords)/elapsed.Seconds(), "records/s")
	}
}

// BenchmarkPlainKgoDatagen is BenchmarkDatagenToTopic's like-for-like
// baseline: the same Datagen task, JsonConverters and SimpleHeaderConverter
// (Datagen's records carry headers), driven by a loop
// that hands each converted record to a plain idempotent acks=all kgo
// producer. The difference from BenchmarkDatagenToTopic is the Connect
// runtime alone (offset tracking, transforms chain, error handling).
func BenchmarkPlainKgoDatagen(b *testing.B) {
	broker := benchBroker(b)
	for _, shape := range datagenShapes {
		b.Run(shape.name, func(b *testing.B) {
			size := meanRecordBytes(b, shape)
			for i := 0; i < b.N; i++ {
				rate := datagenThroughKgo(b, broker, shape, fmt.Sprintf("plain-gen-%s-%d-%d", shape.name, b.N, i))
				b.ReportMetric(rate, "records/s")
				b.ReportMetric(rate*size/1e6, "MB/s")
			}
		})
	}
}

// datagenThroughKgo moves shape's records from a Datagen task through the
// converters to a plain kgo producer, and returns the records/s.
func datagenThroughKgo(b *testing.B, broker string, shape datagenShape, topic string) float64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	createTopic(b, cl, topic)
	var conn datagen.Connector
	if err := conn.Start(nil, datagenConfig(shape, topic)); err != nil {
		b.Fatal(err)
	}
	cfgs, err := conn.TaskConfigs(1)
	if err != nil {
		b.Fatal(err)
	}
	task := datagen.NewTask()
	if err := task.Start(nil, cfgs[0]); err != nil {
		b.Fatal(err)
	}
	defer task.Stop()
	keyConv, valueConv, headerConv := &convert.JSONConverter{}, &convert.JSONConverter{}, convert.SimpleHeaderConverter{}
	if err := keyConv.Configure(map[string]string{}, true); err != nil {
		b.Fatal(err)
	}
	if err := valueConv.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for n := 0; n < shape.records; {
		recs, err := task.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			k, err := keyConv.FromConnectData(r.Topic, nil, r.KeySchema, r.Key)
			if err != nil {
				b.Fatal(err)
			}
			v, err := valueConv.FromConnectData(r.Topic, nil, r.ValueSchema, r.Value)
			if err != nil {
				b.Fatal(err)
			}
			kr := &kgo.Record{Topic: r.Topic, Key: k, Value: v}
			for _, h := range r.Headers {
				hv, err := headerConv.FromConnectHeader(r.Topic, h.Key, h.Schema, h.Value)
				if err != nil {
					b.Fatal(err)
				}
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: hv})
			}
			cl.Produce(ctx, kr, nil)
		}
		n += len(recs)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return float64(shape.records) / time.Since(start).Seconds()
}
