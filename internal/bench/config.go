package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Sentinel errors for callers to branch on with errors.Is.
var (
	// ErrInvalidConfig reports a Config that cannot run (no topic, no stop
	// condition, contradictory settings).
	ErrInvalidConfig = errors.New("invalid bench config")
	// ErrNoProgress reports a run that saw no record for Config.Timeout
	// while it still expected some; the partial Result is returned with it.
	ErrNoProgress = errors.New("no progress")
)

// Limits that keep a mistyped flag from exhausting memory.
const (
	// MaxRecordSize is the largest RecordSize accepted (Kafka's own
	// message.max.bytes default is about 1 MiB).
	MaxRecordSize = 64 << 20
	// MaxProducers bounds Config.Producers; each producer is a client with
	// its own connections and buffers.
	MaxProducers = 256
	// maxBufferedBytes bounds each producer client's unacknowledged bytes.
	maxBufferedBytes = 64 << 20
)

// Config describes one bench run. Start from DefaultConfig: the zero value
// has no brokers, no topic and no stop condition.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// Topic is the topic to write and read.
	Topic string
	// Records stops the run after this many records (all producers
	// together); 0 means run for Duration instead.
	Records int64
	// Duration stops producing after this long when Records is 0; when
	// both are set, whichever comes first ends the run.
	Duration time.Duration
	// RecordSize is the value size in bytes; 0 means 1024.
	RecordSize int
	// Partitions is the partition count used when the topic is missing and
	// is created; 0 or less uses the broker default (num.partitions).
	Partitions int32
	// ReplicationFactor is used when the topic is created; 0 or less uses
	// the broker default (default.replication.factor).
	ReplicationFactor int16
	// Acks is "all" (or "-1"), "1" or "0"; empty means "all".
	Acks string
	// Idempotent enables the idempotent producer (enable.idempotence);
	// it requires Acks "all".
	Idempotent bool
	// Compression is none, gzip, snappy, lz4 or zstd; empty means none.
	Compression string
	// BatchMaxBytes caps one partition's batch (batch.size); 0 keeps the
	// client default.
	BatchMaxBytes int32
	// Linger is how long a partition's batch waits to fill (linger.ms);
	// negative keeps the client default.
	Linger time.Duration
	// Throughput is the target records per second across all producers;
	// 0 or less is unlimited. E2E latency is only meaningful below the
	// broker's capacity, so set it there.
	Throughput int64
	// Producers is how many independent producer clients share the load;
	// 0 means 1.
	Producers int
	// Group, for Consume, joins this consumer group instead of reading
	// the partitions directly.
	Group string
	// Timeout bounds every wait: record delivery, a consumer poll with no
	// new record, topic creation. 0 means 30s.
	Timeout time.Duration
	// ProgressInterval is how often Progress is called; 0 means 1s.
	ProgressInterval time.Duration
	// Progress, if set, is called every ProgressInterval from a goroutine
	// the run owns; it must not block for long.
	Progress func(Progress)
	// ClientOpts are appended to every client's options (e.g. a custom
	// dialer or SASL); they win over the ones the bench sets.
	ClientOpts []kgo.Opt
}

// DefaultConfig returns the defaults that kafka-producer-perf-test users
// expect: 1 KiB records, acks=all, idempotence on, one producer, no limit.
func DefaultConfig() Config {
	return Config{
		Brokers:     []string{"localhost:9092"},
		RecordSize:  1024,
		Acks:        "all",
		Idempotent:  true,
		Compression: "none",
		Linger:      -1,
		Producers:   1,
		Timeout:     30 * time.Second,
	}
}

// Progress is one periodic report of a running bench.
type Progress struct {
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Records and Bytes are totals so far.
	Records int64
	Bytes   int64
	// RecordsPerSec and MBPerSec are rates over the last interval; MB is
	// 2^20 bytes, as Kafka's perf tools count it.
	RecordsPerSec float64
	MBPerSec      float64
}

// String renders the progress as one line, as the perf tools print it.
func (p Progress) String() string {
	return fmt.Sprintf("%8.1fs %12d records %12.1f records/s %9.2f MB/s",
		p.Elapsed.Seconds(), p.Records, p.RecordsPerSec, p.MBPerSec)
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Topic == "" {
		return c, fmt.Errorf("%w: no topic", ErrInvalidConfig)
	}
	if len(c.Brokers) == 0 {
		return c, fmt.Errorf("%w: no brokers", ErrInvalidConfig)
	}
	if c.Records < 0 || c.Duration < 0 {
		return c, fmt.Errorf("%w: records and duration must not be negative", ErrInvalidConfig)
	}
	if c.Records == 0 && c.Duration == 0 {
		return c, fmt.Errorf("%w: set records or duration", ErrInvalidConfig)
	}
	if c.RecordSize < 0 || c.RecordSize > MaxRecordSize {
		return c, fmt.Errorf("%w: record size %d outside 0..%d", ErrInvalidConfig, c.RecordSize, MaxRecordSize)
	}
	if c.RecordSize == 0 {
		c.RecordSize = 1024
	}
	if c.Producers < 0 || c.Producers > MaxProducers {
		return c, fmt.Errorf("%w: producers %d outside 1..%d", ErrInvalidConfig, c.Producers, MaxProducers)
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.BatchMaxBytes < 0 {
		return c, fmt.Errorf("%w: batch max bytes %d is negative", ErrInvalidConfig, c.BatchMaxBytes)
	}
	acks, err := ParseAcks(c.Acks)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.Idempotent && acks != kgo.AllISRAcks() {
		return c, fmt.Errorf("%w: the idempotent producer requires acks=all (got acks=%s)", ErrInvalidConfig, c.Acks)
	}
	if _, err := ParseCompression(c.Compression); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// ParseAcks maps Kafka's acks spellings ("all", "-1", "1", "0"; empty means
// all) to the client's setting.
func ParseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want all, 1 or 0", s)
}

// ParseCompression maps Kafka's compression.type names (none, gzip, snappy,
// lz4, zstd; empty means none) to the client's codec.
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "uncompressed":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", s)
}
