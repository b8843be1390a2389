package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxPollRecords bounds the records taken per poll, and so the output
// buffered before a flush.
const maxPollRecords = 1000

// consumeOpts are the `consume` flags.
type consumeOpts struct {
	fromBeginning bool
	offset        string
	partition     int32
	fromTimestamp string
	maxMessages   int64
	group         string
	format        string
}

func newConsumeCmd(g *globals) *cobra.Command {
	var o consumeOpts
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic (kafka-console-consumer.sh)",
		Long: `Print records from a topic, by default from its end (new records only).
Exits after --max-messages records, or when no record arrived for --timeout
(0 waits forever; Ctrl-C stops). With --output json each record is one JSON
object per line; otherwise --format renders it:
` + formatVerbs,
		Example: `  fjord consume orders --from-beginning -n 10
  fjord consume orders --partition 0 --offset 42 --format '%p@%o %k=%v\n'
  fjord consume orders --from-timestamp 2024-05-01T00:00:00Z -o json
  fjord consume orders --group audit --from-beginning`,
		Args: checkArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, g, args[0], o)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset (with --group: when it has no committed offset)")
	f.StringVar(&o.offset, "offset", "", "start offset: N (needs --partition), earliest or latest")
	f.Int32Var(&o.partition, "partition", -1, "read only this partition (-1: all)")
	f.StringVar(&o.fromTimestamp, "from-timestamp", "", "start at the first record at or after this time: unix ms or RFC3339")
	f.Int64VarP(&o.maxMessages, "max-messages", "n", 0, "exit after this many records (0: no limit)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing what was printed")
	f.StringVarP(&o.format, "format", "f", defaultFormat, "output template (kcat -f style), see above")
	return cmd
}

// startOffset turns the mutually exclusive start flags into an offset.
func (o consumeOpts) startOffset(jsonOut, formatSet bool) (kgo.Offset, error) {
	set := 0
	for _, b := range []bool{o.fromBeginning, o.offset != "", o.fromTimestamp != ""} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		return kgo.Offset{}, usagef("give only one of --from-beginning, --offset, --from-timestamp")
	case o.maxMessages < 0:
		return kgo.Offset{}, usagef("--max-messages must not be negative")
	case o.group != "" && o.partition >= 0:
		return kgo.Offset{}, usagef("--partition cannot be used with --group: the group assigns partitions")
	case jsonOut && formatSet:
		return kgo.Offset{}, usagef("--format cannot be used with --output json")
	}
	switch {
	case o.fromBeginning:
		return kgo.NewOffset().AtStart(), nil
	case o.offset != "":
		switch strings.ToLower(o.offset) {
		case "earliest", "beginning":
			return kgo.NewOffset().AtStart(), nil
		case "latest", "end":
			return kgo.NewOffset().AtEnd(), nil
		}
		n, err := strconv.ParseInt(o.offset, 10, 64)
		if err != nil || n < 0 {
			return kgo.Offset{}, usagef("--offset %q: want a non-negative number, earliest or latest", o.offset)
		}
		if o.partition < 0 || o.group != "" {
			return kgo.Offset{}, usagef("--offset %d needs --partition (and no --group), as kafka-console-consumer.sh", n)
		}
		return kgo.NewOffset().At(n), nil
	case o.fromTimestamp != "":
		ms, err := parseTimestamp(o.fromTimestamp)
		if err != nil {
			return kgo.Offset{}, usageErr(err)
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	}
	return kgo.NewOffset().AtEnd(), nil
}

// parseTimestamp accepts unix milliseconds or an RFC3339 time.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("--from-timestamp %d is negative", ms)
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("--from-timestamp %q: want unix milliseconds or RFC3339 (2006-01-02T15:04:05Z)", s)
	}
	return t.UnixMilli(), nil
}

func runConsume(cmd *cobra.Command, g *globals, topic string, o consumeOpts) error {
	start, err := o.startOffset(g.json(), cmd.Flags().Changed("format"))
	if err != nil {
		return err
	}
	format, err := parseFormat(o.format)
	if err != nil {
		return usageErr(err)
	}
	var opts []kgo.Opt
	if o.partition >= 0 {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {o.partition: start}}))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))
	}
	if o.group != "" {
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.AutoCommitMarks())
	}
	cl, err := g.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close() // leaves the group

	if err := checkTopic(cmd.Context(), g, cl, topic, o.partition); err != nil {
		return err
	}
	c := &consumer{cl: cl, out: cmd.OutOrStdout(), json: g.json(), format: format, group: o.group != "", idle: g.timeout, max: o.maxMessages}
	err = c.run(cmd.Context())
	if c.group {
		// Commit what was printed, even after Ctrl-C, within --timeout.
		cctx, cancel := g.opCtx(context.WithoutCancel(cmd.Context()))
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = opErr(fmt.Sprintf("commit offsets of group %q", o.group), cerr, "")
		}
		cancel()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", c.printed)
	if err != nil {
		return opErr(fmt.Sprintf("consume %q", topic), err, "")
	}
	return nil
}

// consumer polls and prints records until its limit, idleness or ctx's end.
type consumer struct {
	cl      *kgo.Client
	out     io.Writer
	json    bool
	format  recordFormat
	group   bool          // mark printed records for commit
	idle    time.Duration // 0: wait forever
	max     int64         // 0: no limit
	printed int64
	buf     []byte
}

// run returns nil when it stops for the limit, idleness or ctx's end (Ctrl-C
// is a normal way to stop a console consumer); other errors are returned.
func (c *consumer) run(ctx context.Context) error {
	lastProgress := time.Now()
	for c.max == 0 || c.printed < c.max {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.idle > 0 {
			pctx, cancel = context.WithDeadline(ctx, lastProgress.Add(c.idle))
		}
		n := maxPollRecords
		if c.max > 0 {
			n = int(min(c.max-c.printed, maxPollRecords))
		}
		fetches := c.cl.PollRecords(pctx, n)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		if err := fatalFetchErr(fetches); err != nil {
			return err
		}
		if err := c.print(fetches); err != nil {
			return err
		}
		now := time.Now()
		if fetches.NumRecords() > 0 {
			lastProgress = now
		} else if c.idle > 0 && now.Sub(lastProgress) >= c.idle {
			return nil
		}
	}
	return nil
}

// fatalFetchErr returns the first fetch error that retrying will not cure.
func fatalFetchErr(fetches kgo.Fetches) error {
	var fatal error
	fetches.EachError(func(topic string, partition int32, err error) {
		if fatal != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || kerr.IsRetriable(err) {
			return
		}
		fatal = fmt.Errorf("fetch partition %d: %w", partition, err)
	})
	return fatal
}

// print writes the fetched records in one write and marks them for commit.
func (c *consumer) print(fetches kgo.Fetches) error {
	c.buf = c.buf[:0]
	var err error
	fetches.EachRecord(func(r *kgo.Record) {
		if err != nil {
			return
		}
		if c.json {
			c.buf, err = appendRecordJSON(c.buf, r)
		} else {
			c.buf = c.format.appendRecord(c.buf, r)
		}
	})
	if err != nil {
		return err
	}
	if _, err := c.out.Write(c.buf); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if c.group {
		c.cl.MarkCommitRecords(fetches.Records()...)
	}
	c.printed += int64(fetches.NumRecords())
	return nil
}
