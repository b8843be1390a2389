package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// StampHeader is the record header E2E writes: an 8-byte run ID then the
// 8-byte send time in Unix nanoseconds, both big-endian. The consumer keeps
// only its own run's records, so other traffic on the topic does not skew
// counts, and measures with nanosecond send times rather than the
// millisecond record timestamp.
const StampHeader = "fjord-bench-stamp"

// E2E produces (at Config.Throughput, which should be below the broker's
// capacity) while one consumer reads the same topic, and measures the time
// from each record's send to its arrival at the consumer. The topic is
// created when missing. It ends once every acknowledged record has been read
// back; if some never arrive within Config.Timeout the error wraps
// ErrNoProgress and names how many are missing.
func E2E(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeE2E, Topic: cfg.Topic}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return res, err
	}
	parts, err := ensureTopic(ctx, cfg, true)
	if err != nil {
		return res, err
	}
	cl, err := newClient(cfg)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	// Start exactly at the current end of every partition: reading from
	// the start would wade through old data, and "latest" would race the
	// first produced records.
	if err := seekToEnd(ctx, cfg, cl, parts); err != nil {
		return res, err
	}

	runID := rand.Uint64()
	stamp := func(sent time.Time) []kgo.RecordHeader {
		v := make([]byte, 16)
		binary.BigEndian.PutUint64(v, runID)
		binary.BigEndian.PutUint64(v[8:], uint64(sent.UnixNano()))
		return []kgo.RecordHeader{{Key: StampHeader, Value: v}}
	}
	p := newProducers(cfg, NewHistogram(), stamp)
	hist := NewHistogram()
	var consumed meter
	var target atomic.Int64 // acknowledged count once producing ended; -1 before
	target.Store(-1)

	start := time.Now()
	stop := startProgress(cfg, &consumed, start)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	var wg sync.WaitGroup
	var cerr error // written by the consumer goroutine, read after wg.Wait
	wg.Go(func() {
		cerr = consumeLoop(cctx, cl, cfg.Timeout, time.Time{}, func(r *kgo.Record, now time.Time) bool {
			sent, ok := readStamp(r, runID)
			if !ok {
				return false
			}
			hist.Record(now.Sub(sent))
			consumed.add(1, int64(len(r.Key)+len(r.Value)), now)
			t := target.Load()
			return t >= 0 && consumed.records.Load() >= t
		})
	})

	perr := p.run(ctx, start)
	acked := p.acked.records.Load()
	target.Store(acked)
	// The consumer may have read the last record before target was set;
	// it would then wait idle, so stop it here. Either this check or the
	// consumer's own sees the final count, because each stores before it
	// loads.
	if perr != nil || consumed.records.Load() >= acked {
		ccancel()
	}
	wg.Wait()
	stop()

	res.Records, res.Bytes, res.Errors = consumed.records.Load(), consumed.bytes.Load(), p.errs.Load()
	res.Elapsed, res.Latency = consumed.elapsedSince(start), hist.Summary()
	switch {
	case perr != nil:
		return res, perr
	case ctx.Err() != nil:
		return res, ctx.Err()
	case errors.Is(cerr, errIdle):
		return res, fmt.Errorf("e2e %s: read back %d of %d acknowledged records, then none for %s: %w",
			cfg.Topic, res.Records, acked, cfg.Timeout, ErrNoProgress)
	case cerr != nil && !errors.Is(cerr, context.Canceled):
		return res, fmt.Errorf("e2e %s: consume: %w", cfg.Topic, cerr)
	}
	return res, nil
}

// seekToEnd points cl's consumer at the current log end offset of every
// partition.
func seekToEnd(ctx context.Context, cfg Config, cl *kgo.Client, parts []int32) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, cfg.Topic)
	if err != nil {
		return fmt.Errorf("e2e %s: list end offsets: %w", cfg.Topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("e2e %s: list end offsets: %w", cfg.Topic, err)
	}
	offsets := make(map[int32]kgo.Offset, len(parts))
	for _, p := range parts {
		o, ok := ends.Lookup(cfg.Topic, p)
		if !ok {
			return fmt.Errorf("e2e %s: no end offset for partition %d", cfg.Topic, p)
		}
		offsets[p] = kgo.NewOffset().At(o.Offset)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets})
	return nil
}

// readStamp returns the send time E2E stamped on r, if r carries this run's
// stamp.
func readStamp(r *kgo.Record, runID uint64) (time.Time, bool) {
	for _, h := range r.Headers {
		if h.Key != StampHeader || len(h.Value) != 16 {
			continue
		}
		if binary.BigEndian.Uint64(h.Value) != runID {
			return time.Time{}, false
		}
		return time.Unix(0, int64(binary.BigEndian.Uint64(h.Value[8:]))), true
	}
	return time.Time{}, false
}
