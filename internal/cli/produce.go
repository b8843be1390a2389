package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/bench"
)

// defaultMaxLineBytes bounds one input line (Kafka's message.max.bytes is
// about 1 MiB, so a longer record would be refused anyway).
const defaultMaxLineBytes = 1 << 20

// produceJSON is `produce`'s JSON result.
type produceJSON struct {
	Topic    string `json:"topic"`
	Produced int64  `json:"produced"`
	Failed   int64  `json:"failed"`
}

// produceOpts are the `produce` flags.
type produceOpts struct {
	keySep       string
	headers      []string
	partition    int32
	acks         string
	compression  string
	maxLineBytes int
}

func newProduceCmd(g *globals) *cobra.Command {
	var o produceOpts
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read line by line from stdin (kafka-console-producer.sh)",
		Long: `Produce one record per line of standard input. With --key-separator each
line is KEY<sep>VALUE. Prints how many records were produced once input ends.`,
		Example: `  printf 'a:1\nb:2\n' | fjord produce orders --key-separator :
  fjord produce orders --header source=cli --acks 1 --compression zstd < lines.txt`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, g, args[0], o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.keySep, "key-separator", "", "split each line into key and value at the first SEP (parse.key)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	f.Int32Var(&o.partition, "partition", -1, "write every record to this partition (-1: the default partitioner)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgements: all, 1 or 0")
	f.StringVar(&o.compression, "compression", "none", "compression.type: none, gzip, snappy, lz4 or zstd")
	f.IntVar(&o.maxLineBytes, "max-line-bytes", defaultMaxLineBytes, "longest input line accepted")
	return cmd
}

func runProduce(cmd *cobra.Command, g *globals, topic string, o produceOpts) error {
	acks, err := bench.ParseAcks(o.acks)
	if err != nil {
		return usageErr(err)
	}
	codec, err := bench.ParseCompression(o.compression)
	if err != nil {
		return usageErr(err)
	}
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	if o.maxLineBytes <= 0 {
		return usagef("--max-line-bytes must be positive")
	}

	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
	}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	if g.timeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(g.timeout))
	}
	cl, err := g.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	// Check the topic first: the producer would otherwise retry an unknown
	// topic until its delivery timeout and report it less clearly.
	if err := checkTopic(cmd.Context(), g, cl, topic, o.partition); err != nil {
		return err
	}

	p := &lineProducer{cl: cl, topic: topic, partition: o.partition, headers: headers}
	readErr := p.readLines(cmd.Context(), cmd.InOrStdin(), o.keySep, o.maxLineBytes)
	fctx, cancel := g.opCtx(context.WithoutCancel(cmd.Context()))
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		p.fail(fmt.Errorf("flush: %w", err))
	}

	produced, failed, firstErr := p.counts()
	w := cmd.OutOrStdout()
	if g.json() {
		if err := writeJSON(w, produceJSON{Topic: topic, Produced: produced, Failed: failed}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "Produced %d record(s) to %q.\n", produced, topic)
		if failed > 0 {
			fmt.Fprintf(w, "%d record(s) failed.\n", failed)
		}
	}
	switch {
	case readErr != nil:
		return readErr
	case firstErr != nil:
		return opErr(fmt.Sprintf("produce to %q", topic), firstErr, "")
	}
	return nil
}

// checkTopic verifies the topic (and partition) exist.
func checkTopic(ctx context.Context, g *globals, cl *kgo.Client, topic string, partition int32) error {
	ctx, cancel := g.opCtx(ctx)
	defer cancel()
	return checkPartition(ctx, kadm.NewClient(cl), topic, partition)
}

// parseHeaders parses repeated --header key=value flags in the order given
// (a record may carry the same header key twice).
func parseHeaders(kvs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--header %q: want key=value", kv)
		}
		out = append(out, kgo.RecordHeader{Key: strings.TrimSpace(k), Value: []byte(v)})
	}
	return out, nil
}

// lineProducer turns input lines into records and counts the outcomes;
// promises run on the client's goroutines, hence the mutex.
type lineProducer struct {
	cl        *kgo.Client
	topic     string
	partition int32
	headers   []kgo.RecordHeader

	mu       sync.Mutex // guards the fields below
	produced int64
	failed   int64
	firstErr error
}

func (p *lineProducer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed++
	if p.firstErr == nil {
		p.firstErr = err
	}
}

func (p *lineProducer) counts() (produced, failed int64, firstErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.produced, p.failed, p.firstErr
}

// readLines produces one record per line until EOF, ctx's end, a bad line
// or a record failure (which makes the rest pointless). Produce blocks when
// the client's buffer is full, which bounds memory whatever the input size.
func (p *lineProducer) readLines(ctx context.Context, in io.Reader, keySep string, maxLine int) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, min(maxLine, 64<<10)), maxLine)
	sep := []byte(keySep)
	for line := 1; sc.Scan(); line++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, failed, _ := p.counts(); failed > 0 {
			return nil // the failure is reported by the caller
		}
		text := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		r := &kgo.Record{Topic: p.topic, Partition: p.partition, Headers: p.headers}
		if len(sep) > 0 {
			k, v, ok := bytes.Cut(text, sep)
			if !ok {
				return &cmdError{
					op:   fmt.Sprintf("line %d", line),
					err:  fmt.Errorf("no key separator %q", keySep),
					hint: "with --key-separator every line must be KEY" + keySep + "VALUE",
				}
			}
			r.Key = bytes.Clone(k)
			r.Value = bytes.Clone(v)
		} else {
			r.Value = bytes.Clone(text)
		}
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				p.fail(err)
				return
			}
			p.mu.Lock()
			p.produced++
			p.mu.Unlock()
		})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &cmdError{
				op:   "read stdin",
				err:  fmt.Errorf("a line is longer than %d bytes", maxLine),
				hint: "raise --max-line-bytes (the broker's message.max.bytes still applies)",
			}
		}
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}
