package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxPollRecords bounds how many records one poll hands over, so the time
// stamped on a batch of records stays close to when each was read.
const maxPollRecords = 10000

// errIdle is what consumeLoop returns when no record arrived for the
// timeout; callers decide whether that is a failure.
var errIdle = errors.New("idle")

// Consume reads the topic from its start and measures throughput, as
// kafka-consumer-perf-test.sh does. It stops after Config.Records records,
// after Config.Duration, or when no record arrived for Config.Timeout; that
// last case is ErrNoProgress if Records were asked for and not all read, or
// if nothing was read at all. The topic must exist.
func Consume(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeConsume, Topic: cfg.Topic}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return res, err
	}
	if _, err := ensureTopic(ctx, cfg, false); err != nil {
		return res, err
	}
	opts := []kgo.Opt{
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if cfg.Group != "" {
		opts = append(opts, kgo.ConsumerGroup(cfg.Group))
	}
	cl, err := newClient(cfg, opts...)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	var m meter
	start := time.Now()
	stop := startProgress(cfg, &m, start)
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	err = consumeLoop(ctx, cl, cfg.Timeout, deadline, func(r *kgo.Record, now time.Time) bool {
		m.add(1, int64(len(r.Key)+len(r.Value)), now)
		return cfg.Records > 0 && m.records.Load() >= cfg.Records
	})
	stop()
	res.Records, res.Bytes, res.Elapsed = m.records.Load(), m.bytes.Load(), m.elapsedSince(start)
	if errors.Is(err, errIdle) {
		if (cfg.Records > 0 && res.Records < cfg.Records) || res.Records == 0 {
			return res, fmt.Errorf("consume %s: read %d records, then none for %s: %w", cfg.Topic, res.Records, cfg.Timeout, ErrNoProgress)
		}
		err = nil
	}
	return res, err
}

// consumeLoop polls cl and calls fn for each record until fn returns true,
// ctx ends (its error is returned), deadline passes (nil; zero means none),
// no record arrives for idle (errIdle), or a fetch fails with a
// non-retriable error (returned).
func consumeLoop(ctx context.Context, cl *kgo.Client, idle time.Duration, deadline time.Time, fn func(*kgo.Record, time.Time) bool) error {
	lastProgress := time.Now()
	for {
		pollUntil := lastProgress.Add(idle)
		if !deadline.IsZero() && deadline.Before(pollUntil) {
			pollUntil = deadline
		}
		pctx, cancel := context.WithDeadline(ctx, pollUntil)
		fetches := cl.PollRecords(pctx, maxPollRecords)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fetches.IsClientClosed() {
			return kgo.ErrClientClosed
		}
		var fatal error
		fetches.EachError(func(topic string, partition int32, err error) {
			if fatal != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || kerr.IsRetriable(err) {
				return
			}
			fatal = fmt.Errorf("fetch %s partition %d: %w", topic, partition, err)
		})
		if fatal != nil {
			return fatal
		}
		now := time.Now()
		done := false
		fetches.EachRecord(func(r *kgo.Record) {
			if !done && fn(r, now) {
				done = true
			}
		})
		if done {
			return nil
		}
		if fetches.NumRecords() > 0 {
			lastProgress = now
		}
		if !deadline.IsZero() && !now.Before(deadline) {
			return nil
		}
		if now.Sub(lastProgress) >= idle {
			return errIdle
		}
	}
}
