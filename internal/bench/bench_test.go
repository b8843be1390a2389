package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// envTestBootstrap, when set, points these tests at a running broker (e.g.
// a Fjord node) instead of an in-process kfake cluster; every test uses
// topic names of its own, so a shared broker works.
const envTestBootstrap = "FJORD_TEST_BOOTSTRAP"

// newCluster returns the bootstrap addresses of the broker under test: a
// one-broker kfake cluster, or $FJORD_TEST_BOOTSTRAP.
func newCluster(t testing.TB) []string {
	t.Helper()
	if addr := os.Getenv(envTestBootstrap); addr != "" {
		return strings.Split(addr, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// uniqueTopic names a topic no other test (or earlier run) uses.
func uniqueTopic(base string) string {
	return fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano(), rand.IntN(1<<30))
}

// createTestTopic makes an empty topic with the given partitions.
func createTestTopic(t *testing.T, brokers []string, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(testCtx(t), partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

func testConfig(brokers []string, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = brokers
	cfg.Topic = topic
	cfg.RecordSize = 100
	cfg.Timeout = 10 * time.Second
	cfg.Linger = 0
	return cfg
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestProduceConsumeE2E_CountRecords(t *testing.T) {
	brokers := newCluster(t)
	ctx := testCtx(t)

	cfg := testConfig(brokers, uniqueTopic("bench"))
	cfg.Records = 2000
	cfg.Partitions = 3
	cfg.Producers = 2
	res, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if res.Records != 2000 || res.Errors != 0 || res.Bytes != 2000*100 || res.Latency.Count != 2000 {
		t.Fatalf("Produce result %+v: want 2000 records of 100 bytes, 2000 latencies, no errors", res)
	}

	res, err = Consume(ctx, cfg)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if res.Records != 2000 || res.Bytes != 2000*100 {
		t.Fatalf("Consume result %+v: want 2000 records, 200000 bytes", res)
	}

	// E2E starts at the end of the log, so the 2000 records above are not
	// counted again.
	cfg.Producers = 1
	res, err = E2E(ctx, cfg)
	if err != nil {
		t.Fatalf("E2E: %v", err)
	}
	if res.Records != 2000 || res.Latency.Count != 2000 || res.Mode != ModeE2E {
		t.Fatalf("E2E result %+v: want 2000 records read back with 2000 latencies", res)
	}
}

func TestConsume_Group(t *testing.T) {
	brokers := newCluster(t)
	ctx := testCtx(t)
	cfg := testConfig(brokers, uniqueTopic("grouped"))
	cfg.Records = 500
	if _, err := Produce(ctx, cfg); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	cfg.Group = uniqueTopic("bench-group")
	res, err := Consume(ctx, cfg)
	if err != nil || res.Records != 500 {
		t.Fatalf("Consume with group = %d records, %v; want 500, nil", res.Records, err)
	}
}

func TestProduce_DurationAndProgress(t *testing.T) {
	brokers := newCluster(t)
	cfg := testConfig(brokers, uniqueTopic("timed"))
	cfg.Duration = 300 * time.Millisecond
	cfg.Throughput = 1000
	cfg.ProgressInterval = 20 * time.Millisecond
	var calls, last atomic.Int64
	var decreased atomic.Bool
	cfg.Progress = func(p Progress) {
		calls.Add(1)
		if p.Records < last.Swap(p.Records) {
			decreased.Store(true)
		}
	}
	res, err := Produce(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if res.Records == 0 || res.Records != res.Latency.Count {
		t.Fatalf("result %+v: want some records, each with a latency", res)
	}
	if calls.Load() == 0 || decreased.Load() {
		t.Fatalf("progress called %d times (decreasing: %v); want some, non-decreasing", calls.Load(), decreased.Load())
	}
}

func TestConfig_Invalid(t *testing.T) {
	base := testConfig([]string{"127.0.0.1:1"}, "t")
	base.Records = 1
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no topic", func(c *Config) { c.Topic = "" }},
		{"no brokers", func(c *Config) { c.Brokers = nil }},
		{"no stop condition", func(c *Config) { c.Records = 0 }},
		{"idempotent acks 1", func(c *Config) { c.Acks = "1" }},
		{"bad acks", func(c *Config) { c.Acks = "2" }},
		{"bad compression", func(c *Config) { c.Compression = "brotli" }},
		{"huge record", func(c *Config) { c.RecordSize = MaxRecordSize + 1 }},
		{"too many producers", func(c *Config) { c.Producers = MaxProducers + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			for name, run := range map[string]func(context.Context, Config) (Result, error){
				"produce": Produce, "consume": Consume, "e2e": E2E,
			} {
				if _, err := run(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
				}
			}
		})
	}
}

func TestConsume_Errors(t *testing.T) {
	brokers := newCluster(t)
	ctx := testCtx(t)
	empty := uniqueTopic("empty")
	createTestTopic(t, brokers, empty, 3)

	cfg := testConfig(brokers, uniqueTopic("missing"))
	cfg.Records = 10
	if _, err := Consume(ctx, cfg); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Consume missing topic: err = %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	cfg.Topic = empty
	cfg.Timeout = 300 * time.Millisecond
	res, err := Consume(ctx, cfg)
	if !errors.Is(err, ErrNoProgress) || res.Records != 0 {
		t.Errorf("Consume empty topic: %d records, err = %v; want 0, ErrNoProgress", res.Records, err)
	}
}

func TestProduce_NoAcksNotIdempotent(t *testing.T) {
	brokers := newCluster(t)
	cfg := testConfig(brokers, uniqueTopic("acks0"))
	cfg.Records = 300
	cfg.Acks = "0"
	cfg.Idempotent = false
	cfg.Compression = "zstd"
	res, err := Produce(testCtx(t), cfg)
	if err != nil || res.Records != 300 {
		t.Fatalf("Produce acks=0 = %d records, %v; want 300, nil", res.Records, err)
	}
}

func TestResult_Forms(t *testing.T) {
	r := Result{
		Mode: ModeProduce, Topic: "t", Records: 2000, Bytes: 2 << 20, Elapsed: 2 * time.Second,
		Latency: LatencySummary{Count: 2000, P50: time.Millisecond, P99: 2 * time.Millisecond, P999: 3 * time.Millisecond, Max: 4 * time.Millisecond},
	}
	s := r.String()
	for _, want := range []string{"produce t: 2000 records", "1000.0 records/s", "1.00 MB/s", "p99 2.000ms", "max 4.000ms"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Records       int64   `json:"records"`
		RecordsPerSec float64 `json:"records_per_sec"`
		Latency       struct {
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Records != 2000 || got.RecordsPerSec != 1000 || got.Latency.P99 != 2 {
		t.Errorf("JSON %s: want records 2000, records_per_sec 1000, p99 2", b)
	}
	if m := r.Metrics(); m["p99-ms"] != 2 || m["records/s"] != 1000 {
		t.Errorf("Metrics() = %v", m)
	}
}

// BenchmarkProduce compares brokers in one `go test -bench` run: each
// sub-benchmark runs the same Config against a different bootstrap, kfake
// always and $FJORD_TEST_BOOTSTRAP (e.g. a Fjord node) when set.
func BenchmarkProduce(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	targets := []struct {
		name    string
		brokers []string
	}{{"kfake", c.ListenAddrs()}}
	if addr := os.Getenv(envTestBootstrap); addr != "" {
		targets = append(targets, struct {
			name    string
			brokers []string
		}{"external", strings.Split(addr, ",")})
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			cfg := testConfig(tg.brokers, uniqueTopic("bench-"+tg.name))
			cfg.RecordSize = 1024
			cfg.Records = int64(b.N) * 1000
			res, err := Produce(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			for unit, v := range res.Metrics() {
				b.ReportMetric(v, unit)
			}
		})
	}
}
