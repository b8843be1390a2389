package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/bench"
)

// unboundedWait stands for "no bound" where the bench library needs a
// number.
const unboundedWait = 24 * time.Hour

// benchFlags are the flags the bench verbs share; each verb registers the
// ones it uses.
type benchFlags struct {
	topic         string
	records       int64
	duration      time.Duration
	recordSize    int
	partitions    int32
	rf            int16
	acks          string
	idempotent    bool
	compression   string
	batchMaxBytes int32
	linger        time.Duration
	throughput    int64
	producers     int
	group         string
}

func newBenchCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("bench", "Measure throughput and latency against any Kafka-compatible cluster")
	cmd.Long = `Benchmarks in the manner of Kafka's perf tools: produce
(kafka-producer-perf-test.sh), consume (kafka-consumer-perf-test.sh) and e2e
(produce-to-consume latency at a fixed rate). A progress line goes to stderr
every second and a summary to stdout (JSON with --output json).`
	cmd.AddCommand(newBenchProduceCmd(g), newBenchConsumeCmd(g), newBenchE2ECmd(g))
	return cmd
}

// registerCommon adds the flags every bench verb has.
func (f *benchFlags) registerCommon(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.topic, "topic", "fjord-bench", "topic to use")
	fs.Int64Var(&f.records, "records", 0, "stop after this many records (this or --duration is required)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long")
}

// registerProducer adds the producing flags (produce and e2e).
func (f *benchFlags) registerProducer(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&f.recordSize, "record-size", 1024, "value size in bytes")
	fs.Int32Var(&f.partitions, "partitions", 0, "partitions when creating a missing topic (0: broker default)")
	fs.Int16Var(&f.rf, "replication-factor", 0, "replication factor when creating a missing topic (0: broker default)")
	fs.StringVar(&f.acks, "acks", "all", "acks: all, 1 or 0")
	fs.BoolVar(&f.idempotent, "idempotent", true, "idempotent producer (turned off by --acks 1 or 0 unless set)")
	fs.StringVar(&f.compression, "compression", "none", "compression.type: none, gzip, snappy, lz4 or zstd")
	fs.Int32Var(&f.batchMaxBytes, "batch-max-bytes", 0, "largest batch per partition (batch.size; 0: client default, 1 MB)")
	fs.DurationVar(&f.linger, "linger", 10*time.Millisecond, "how long a batch waits to fill (linger.ms)")
	fs.Int64Var(&f.throughput, "throughput", -1, "target records/s across producers (-1: unlimited)")
	fs.IntVar(&f.producers, "producers", 1, "independent producer clients")
}

// config builds the bench.Config from the flags and globals.
func (f *benchFlags) config(cmd *cobra.Command, g *globals, progress func(bench.Progress)) (bench.Config, error) {
	if f.records == 0 && f.duration == 0 {
		return bench.Config{}, usagef("give --records N or --duration D")
	}
	cfg := bench.DefaultConfig()
	cfg.Brokers = g.brokers()
	cfg.Topic = f.topic
	cfg.Records = f.records
	cfg.Duration = f.duration
	cfg.Group = f.group
	cfg.Timeout = g.timeout
	if cfg.Timeout == 0 {
		cfg.Timeout = unboundedWait // --timeout 0 means no bound; bench would read 0 as its 30s default
	}
	cfg.Progress = progress
	if cmd.Flags().Lookup("record-size") != nil {
		cfg.RecordSize = f.recordSize
		cfg.Partitions = f.partitions
		cfg.ReplicationFactor = f.rf
		cfg.Acks = f.acks
		cfg.Idempotent = f.idempotent
		if acks, err := bench.ParseAcks(f.acks); err == nil && !cmd.Flags().Changed("idempotent") {
			cfg.Idempotent = acks == kgo.AllISRAcks()
		}
		cfg.Compression = f.compression
		cfg.BatchMaxBytes = f.batchMaxBytes
		cfg.Linger = f.linger
		cfg.Throughput = f.throughput
		cfg.Producers = f.producers
	}
	return cfg, nil
}

// runBench runs fn with progress lines on stderr and prints the summary;
// Ctrl-C ends the run early and still prints what was measured.
func runBench(cmd *cobra.Command, g *globals, f *benchFlags, fn func(context.Context, bench.Config) (bench.Result, error)) error {
	stderr := cmd.ErrOrStderr()
	cfg, err := f.config(cmd, g, func(p bench.Progress) { fmt.Fprintln(stderr, p) })
	if err != nil {
		return err
	}
	res, err := fn(cmd.Context(), cfg)
	if errors.Is(err, bench.ErrInvalidConfig) {
		return usageErr(err)
	}
	if res.Records > 0 || err == nil || errors.Is(err, context.Canceled) {
		w := cmd.OutOrStdout()
		if g.json() {
			if werr := writeJSON(w, res); werr != nil {
				return werr
			}
		} else {
			fmt.Fprintln(w, res)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return opErr(fmt.Sprintf("bench %s", cmd.Name()), err, "")
	}
	return nil
}
