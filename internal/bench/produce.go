package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// flushGrace is added to Config.Timeout when flushing: every record already
// has its own delivery timeout of Config.Timeout, so a flush longer than
// that plus a little slack means the client is stuck.
const flushGrace = 5 * time.Second

// Produce writes records as fast as Config allows (or at Config.Throughput)
// and measures send->ack latency, as kafka-producer-perf-test.sh does. The
// topic is created when missing. It stops at the first failed record, since a
// run with failures measures the failure rather than the broker; the partial
// Result comes back with the error. If ctx is canceled the partial Result
// comes back with ctx's error.
func Produce(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeProduce, Topic: cfg.Topic}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return res, err
	}
	if _, err := ensureTopic(ctx, cfg, true); err != nil {
		return res, err
	}
	p := newProducers(cfg, NewHistogram(), nil)
	start := time.Now()
	stop := startProgress(cfg, &p.acked, start)
	err = p.run(ctx, start)
	stop()
	return p.result(ModeProduce, start), err
}

// producers drives Config.Producers clients that share one stop condition,
// one latency histogram and one meter of acknowledged records.
type producers struct {
	cfg     Config
	hist    *Histogram // send->ack latency
	acked   meter
	claimed atomic.Int64 // records handed out, against cfg.Records
	errs    atomic.Int64
	value   []byte                                  // shared payload; the client only reads it
	stamp   func(sent time.Time) []kgo.RecordHeader // nil, or e2e's per-record header

	mu       sync.Mutex // guards firstErr
	firstErr error
	cancel   context.CancelCauseFunc // set by run; ends the run on first failure
}

func newProducers(cfg Config, hist *Histogram, stamp func(time.Time) []kgo.RecordHeader) *producers {
	return &producers{cfg: cfg, hist: hist, value: payload(cfg.RecordSize), stamp: stamp}
}

// payload returns n random upper-case letters: like Kafka's perf test, so
// compression codecs see text rather than incompressible noise. The seed is
// fixed so runs are comparable.
func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + r.IntN(26))
	}
	return b
}

func producerOpts(cfg Config) []kgo.Opt {
	acks, _ := ParseAcks(cfg.Acks)                // validated by withDefaults
	codec, _ := ParseCompression(cfg.Compression) // validated by withDefaults
	opts := []kgo.Opt{
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.MaxBufferedBytes(max(maxBufferedBytes, 2*cfg.RecordSize+1<<20)),
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if cfg.BatchMaxBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes))
	}
	if cfg.Linger >= 0 {
		opts = append(opts, kgo.ProducerLinger(cfg.Linger))
	}
	return opts
}

// fail records a failed record; the first failure ends the run.
func (p *producers) fail(err error) {
	p.errs.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr == nil {
		p.firstErr = err
		p.cancel(err)
	}
}

// run starts the producer clients, waits until they have handed out every
// record (or the duration passed, or a record failed), flushes and closes
// them. It returns ctx's error if ctx ended, else the first record failure.
func (p *producers) run(ctx context.Context, start time.Time) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel

	clients := make([]*kgo.Client, 0, p.cfg.Producers)
	for range p.cfg.Producers {
		cl, err := newClient(p.cfg, producerOpts(p.cfg)...)
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return err
		}
		clients = append(clients, cl)
	}
	rate := float64(p.cfg.Throughput) / float64(p.cfg.Producers)
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			defer cl.Close() // fails whatever Flush left, so every promise has run when Close returns
			p.loop(runCtx, cl, rate, start)
			fctx, fcancel := context.WithTimeout(runCtx, p.cfg.Timeout+flushGrace)
			defer fcancel()
			if err := cl.Flush(fctx); err != nil && runCtx.Err() == nil {
				p.fail(fmt.Errorf("flush: %w: %w", ErrNoProgress, err))
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr != nil {
		return fmt.Errorf("produce to %s: %w", p.cfg.Topic, p.firstErr)
	}
	return nil
}

// loop hands records to one client until the stop condition. With a rate it
// paces record i to start+i/rate, so bursts after a stall catch up rather
// than being dropped, the same schedule Kafka's ThroughputThrottler keeps.
func (p *producers) loop(ctx context.Context, cl *kgo.Client, rate float64, start time.Time) {
	for i := int64(0); ; i++ {
		if ctx.Err() != nil {
			return
		}
		if p.cfg.Records > 0 && p.claimed.Add(1) > p.cfg.Records {
			return
		}
		now := time.Now()
		if p.cfg.Duration > 0 && now.Sub(start) >= p.cfg.Duration {
			return
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
			if wait := due.Sub(now); wait > 0 {
				if !sleepCtx(ctx.Done(), wait) {
					return
				}
			}
		}
		r := &kgo.Record{Topic: p.cfg.Topic, Value: p.value}
		sent := time.Now()
		if p.stamp != nil {
			r.Headers = p.stamp(sent)
		}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
					p.fail(err)
				} else {
					p.errs.Add(1)
				}
				return
			}
			now := time.Now()
			p.hist.Record(now.Sub(sent))
			p.acked.add(1, int64(len(r.Key)+len(r.Value)), now)
		})
	}
}

// result summarizes what was acknowledged since start.
func (p *producers) result(mode Mode, start time.Time) Result {
	return Result{
		Mode:    mode,
		Topic:   p.cfg.Topic,
		Records: p.acked.records.Load(),
		Bytes:   p.acked.bytes.Load(),
		Errors:  p.errs.Load(),
		Elapsed: p.acked.elapsedSince(start),
		Latency: p.hist.Summary(),
	}
}
