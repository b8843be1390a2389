package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// stage names where in a record's processing an error happened, Kafka
// Connect's Stage (the __connect.errors.stage header).
type stage string

// Kafka Connect's stage names.
const (
	stageKeyConverter    stage = "KEY_CONVERTER"
	stageValueConverter  stage = "VALUE_CONVERTER"
	stageHeaderConverter stage = "HEADER_CONVERTER"
	stageTransformation  stage = "TRANSFORMATION"
	stageTaskPut         stage = "TASK_PUT"
	stageKafkaProduce    stage = "KAFKA_PRODUCE"
)

// retryDelayMin is the first retry's delay, Kafka's RETRIES_DELAY_MIN_MS.
const retryDelayMin = 300 * time.Millisecond

// errorConfig is a connector's errors.* keys.
type errorConfig struct {
	tolerateAll   bool
	retryTimeout  time.Duration // <0: retry forever
	retryDelayMax time.Duration
	logEnable     bool
	logMessages   bool
	dlqTopic      string
	dlqRF         int16
	dlqHeaders    bool
}

func parseErrorConfig(p *connect.Props) errorConfig {
	c := errorConfig{
		tolerateAll:   strings.EqualFold(p.String(connect.KeyErrorsTolerance), "all"),
		retryTimeout:  time.Duration(p.Int(connect.KeyErrorsRetryMs)) * time.Millisecond,
		retryDelayMax: time.Duration(p.Int(connect.KeyErrorsRetryDelay)) * time.Millisecond,
		logEnable:     p.Bool(connect.KeyErrorsLog),
		logMessages:   p.Bool(connect.KeyErrorsLogMsgs),
		dlqTopic:      p.String(connect.KeyDLQTopic),
		dlqRF:         int16(p.Int(connect.KeyDLQRF)),
		dlqHeaders:    p.Bool(connect.KeyDLQHeaders),
	}
	if c.retryDelayMax <= 0 {
		c.retryDelayMax = retryDelayMin
	}
	return c
}

// errorContext is what the error handler knows of the record being
// processed: the consumed Kafka record (sinks) or the source record
// (sources), and the failure once there is one.
type errorContext struct {
	consumed *kgo.Record
	source   *connect.SourceRecord
	stage    stage
	class    string
	err      error
}

// retryOperator runs each stage of a record's processing with Kafka
// Connect's RetryWithToleranceOperator rules: a RetriableError is retried
// with exponential backoff until errors.retry.timeout; a final failure is
// reported (log, dead-letter queue), then skipped under
// errors.tolerance=all or fails the task under none.
type retryOperator struct {
	cfg       errorConfig
	log       *slog.Logger
	task      connect.TaskID
	ctx       context.Context // the task's: ends a backoff when it stops
	reporters []func(*errorContext)
}

// errToleranceExceeded is the error a task fails with under
// errors.tolerance=none, Kafka's message.
var errToleranceExceeded = errors.New("Tolerance exceeded in error handler")

// execute runs fn. ok is false when it failed for good: err is nil when
// the failure was tolerated (skip the record), the task's fatal error
// otherwise.
func (o *retryOperator) execute(ec *errorContext, st stage, class string, fn func() error) (ok bool, err error) {
	start := time.Now() // errors.retry.timeout counts from the first attempt, as Kafka's
	delay := retryDelayMin
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil {
			return true, nil
		}
		var re *connect.RetriableError
		if !errors.As(err, &re) || !o.canRetry(start, delay) {
			break
		}
		o.log.Debug("retrying a failed operation", "task", taskName(o.task), "stage", st, "class", class, "attempt", attempt, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-o.ctx.Done():
			t.Stop()
			return false, fmt.Errorf("stage %s (%s): %w (task stopping during retries)", st, class, err)
		case <-t.C:
		}
		delay = min(delay*2, o.cfg.retryDelayMax)
	}
	ec.stage, ec.class, ec.err = st, class, err
	o.report(ec)
	if o.cfg.tolerateAll {
		return false, nil
	}
	return false, fmt.Errorf("%w: stage %s (%s): %w", errToleranceExceeded, st, class, err)
}

// canRetry says whether another attempt fits in errors.retry.timeout.
func (o *retryOperator) canRetry(start time.Time, delay time.Duration) bool {
	if o.cfg.retryTimeout < 0 {
		return true
	}
	return o.cfg.retryTimeout > 0 && time.Since(start)+delay <= o.cfg.retryTimeout
}

// report logs the failure (errors.log.enable) and hands it to the
// reporters (the dead-letter queue).
func (o *retryOperator) report(ec *errorContext) {
	if o.cfg.logEnable {
		attrs := []any{"task", taskName(o.task), "stage", ec.stage, "class", ec.class, "err", ec.err}
		if ec.consumed != nil {
			attrs = append(attrs, "topic", ec.consumed.Topic, "partition", ec.consumed.Partition, "offset", ec.consumed.Offset)
			if o.cfg.logMessages {
				attrs = append(attrs, "key", string(ec.consumed.Key), "value", string(ec.consumed.Value))
			}
		}
		if ec.source != nil && o.cfg.logMessages {
			attrs = append(attrs, "record", fmt.Sprintf("%+v", *ec.source))
		}
		o.log.Error("Error encountered in task", attrs...)
	}
	for _, r := range o.reporters {
		r(ec)
	}
}

// Headers a dead-letter record carries with
// errors.deadletterqueue.context.headers.enable, Kafka's names.
const (
	headerPrefix        = "__connect.errors."
	HeaderTopic         = headerPrefix + "topic"
	HeaderPartition     = headerPrefix + "partition"
	HeaderOffset        = headerPrefix + "offset"
	HeaderConnector     = headerPrefix + "connector.name"
	HeaderTaskID        = headerPrefix + "task.id"
	HeaderStage         = headerPrefix + "stage"
	HeaderClass         = headerPrefix + "class.name"
	HeaderExceptionType = headerPrefix + "exception.class.name"
	HeaderExceptionMsg  = headerPrefix + "exception.message"
	HeaderStacktrace    = headerPrefix + "exception.stacktrace"
)

// dlqTimeout bounds a dead-letter record's write.
const dlqTimeout = 30 * time.Second

// dlqReporter writes failed consumed records, their bytes unchanged, to
// errors.deadletterqueue.topic.name. Writes are asynchronous; wait
// flushes them and returns the first failure, which the sink checks
// before committing offsets past a dead-lettered record.
type dlqReporter struct {
	client  *kgo.Client
	topic   string
	headers bool
	task    connect.TaskID

	mu      sync.Mutex
	failure error
}

func (d *dlqReporter) report(ec *errorContext) {
	if ec.consumed == nil {
		return
	}
	c := ec.consumed
	r := &kgo.Record{Topic: d.topic, Key: c.Key, Value: c.Value, Headers: append([]kgo.RecordHeader(nil), c.Headers...)}
	if d.headers {
		add := func(k, v string) { r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
		add(HeaderTopic, c.Topic)
		add(HeaderPartition, strconv.Itoa(int(c.Partition)))
		add(HeaderOffset, strconv.FormatInt(c.Offset, 10))
		add(HeaderConnector, d.task.Connector)
		add(HeaderTaskID, strconv.Itoa(d.task.Task))
		add(HeaderStage, string(ec.stage))
		add(HeaderClass, ec.class)
		add(HeaderExceptionType, fmt.Sprintf("%T", ec.err))
		add(HeaderExceptionMsg, ec.err.Error())
		add(HeaderStacktrace, errorTrace(ec.err))
	}
	// The task's context is not used: a record reported while stopping
	// must still reach the queue before the final commit. The timeout
	// bounds a Produce blocked on a full buffer and the record's life.
	ctx, cancel := context.WithTimeout(context.Background(), dlqTimeout)
	d.client.Produce(ctx, r, func(_ *kgo.Record, err error) {
		cancel()
		if err != nil {
			d.mu.Lock()
			if d.failure == nil {
				d.failure = fmt.Errorf("dead-letter queue %s: %w", d.topic, err)
			}
			d.mu.Unlock()
		}
	})
}

// wait flushes the queued dead-letter records.
func (d *dlqReporter) wait(ctx context.Context) error {
	if err := d.client.Flush(ctx); err != nil {
		return fmt.Errorf("dead-letter queue %s: flush: %w", d.topic, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failure
}

// errorTrace is Go's stand-in for a Java stack trace: the error chain,
// one "type: message" line per wrapped error.
func errorTrace(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		if b.Len() > 0 {
			b.WriteString("\nCaused by: ")
		}
		fmt.Fprintf(&b, "%T: %s", e, e.Error())
	}
	return b.String()
}

// taskName is Kafka's "<connector>-<task>" name of a task.
func taskName(id connect.TaskID) string { return id.Connector + "-" + strconv.Itoa(id.Task) }
