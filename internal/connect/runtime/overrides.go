package runtime

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// ClientOverrides turns a worker's `producer.` or `consumer.` keys (Kafka
// Connect's worker-level client settings), or a connector's
// `producer.override.` or `consumer.override.` keys (KIP-458; prefix
// includes the dot), into franz-go options, for the Kafka producer and
// consumer settings kgo has a counterpart of. It returns the keys it does not know, which the caller
// logs: a setting silently dropped would surprise a Kafka operator.
func ClientOverrides(props map[string]string, prefix string) ([]kgo.Opt, []string, error) {
	var opts []kgo.Opt
	var unknown []string
	ms := func(v string) (time.Duration, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a non-negative number of milliseconds")
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	num := func(v string) (int32, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a non-negative number")
		}
		return int32(n), nil
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, full := range keys {
		k, v := strings.TrimPrefix(full, prefix), props[full]
		var err error
		var d time.Duration
		var n int32
		switch k {
		case "session.timeout.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.SessionTimeout(d))
			}
		case "heartbeat.interval.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.HeartbeatInterval(d))
			}
		case "rebalance.timeout.ms", "max.poll.interval.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.RebalanceTimeout(d))
			}
		case "fetch.max.wait.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.FetchMaxWait(d))
			}
		case "fetch.min.bytes":
			if n, err = num(v); err == nil {
				opts = append(opts, kgo.FetchMinBytes(n))
			}
		case "fetch.max.bytes":
			if n, err = num(v); err == nil {
				opts = append(opts, kgo.FetchMaxBytes(n))
			}
		case "max.partition.fetch.bytes":
			if n, err = num(v); err == nil {
				opts = append(opts, kgo.FetchMaxPartitionBytes(n))
			}
		case "linger.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.ProducerLinger(d))
			}
		case "batch.size", "max.request.size":
			if n, err = num(v); err == nil {
				opts = append(opts, kgo.ProducerBatchMaxBytes(n))
			}
		case "delivery.timeout.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.RecordDeliveryTimeout(d))
			}
		case "compression.type":
			var c kgo.CompressionCodec
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "none":
				c = kgo.NoCompression()
			case "gzip":
				c = kgo.GzipCompression()
			case "snappy":
				c = kgo.SnappyCompression()
			case "lz4":
				c = kgo.Lz4Compression()
			case "zstd":
				c = kgo.ZstdCompression()
			default:
				err = fmt.Errorf("want none, gzip, snappy, lz4 or zstd")
			}
			if err == nil {
				opts = append(opts, kgo.ProducerBatchCompression(c))
			}
		case "transaction.timeout.ms":
			if d, err = ms(v); err == nil {
				opts = append(opts, kgo.TransactionTimeout(d))
			}
		case "client.id":
			opts = append(opts, kgo.ClientID(v))
		case "acks":
			// Anything but all needs the idempotent producer off, as in
			// Kafka 3.x (kgo refuses the mix).
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				err = fmt.Errorf("want all, -1, 1 or 0")
			}
		case "enable.idempotence":
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
			case "false":
				opts = append(opts, kgo.DisableIdempotentWrite())
			default:
				err = fmt.Errorf("want true or false")
			}
		case "auto.offset.reset":
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "earliest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			case "latest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
			default:
				// none is refused: kgo would start a new group at the
				// earliest offset where Kafka's consumer fails.
				err = fmt.Errorf("want earliest or latest (none is not supported)")
			}
		default:
			unknown = append(unknown, full)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s=%q: %w", full, v, err)
		}
	}
	return opts, unknown, nil
}

// connectorOverrides is the options of a connector's client overrides
// under prefix (KIP-458). The policy is checked again here, as Kafka's
// Worker does at task start: the configuration may have been accepted by
// another worker. Keys kgo has no counterpart of are logged.
func connectorOverrides(log *slog.Logger, policy connect.ClientOverridePolicy, conn map[string]string, prefix string) ([]kgo.Opt, error) {
	for k := range conn {
		if key, ok := strings.CutPrefix(k, prefix); ok && !policy.Allows(key) {
			return nil, fmt.Errorf("connector client override %s: not allowed by this worker's %s=%s", k, connect.WorkerClientOverridePolicy, policy)
		}
	}
	opts, unknown, err := ClientOverrides(conn, prefix)
	if err != nil {
		return nil, fmt.Errorf("connector client override: %w", err)
	}
	for _, k := range unknown {
		log.Warn("connector setting not applied: Fjord's clients have no counterpart of it", "key", k)
	}
	return opts, nil
}

// WorkerClientOverrides reads a worker's producer.* and consumer.* keys;
// the ones kgo has no counterpart of are logged, not silently dropped.
func WorkerClientOverrides(worker map[string]string, logger *slog.Logger) (producer, consumer []kgo.Opt, err error) {
	producer, unknownP, err := ClientOverrides(worker, "producer.")
	if err != nil {
		return nil, nil, err
	}
	consumer, unknownC, err := ClientOverrides(worker, "consumer.")
	if err != nil {
		return nil, nil, err
	}
	for _, k := range append(unknownP, unknownC...) {
		logger.Warn("worker setting not applied: Fjord's clients have no counterpart of it", "key", k)
	}
	return producer, consumer, nil
}
