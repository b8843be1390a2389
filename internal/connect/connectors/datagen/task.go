package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// batchSize is how many records a Poll returns when max.interval is 0:
// enough to amortize a Poll, few enough to keep a batch's memory small.
const batchSize = 1000

// idleWait is how long Poll waits before returning nothing once the task
// generated its share of iterations.
const idleWait = time.Second

// Task generates records, Confluent's DatagenTask. Poll runs on one
// goroutine; Stop may come from another and wakes a waiting Poll.
type Task struct {
	s         settings
	partition map[string]any
	gen       int64 // task.generation: how many times the task was (re)started
	count     int64 // records generated so far, over every generation
	data      rng   // draws the values; its state is in the offsets
	jitter    rng   // draws the waits; kept apart so waits never change the data
	idle      time.Duration

	stopOnce sync.Once
	stopped  chan struct{}
	timer    *time.Timer

	// Boxed header values, so that headers cost no allocation: the task
	// id and generation never change, and current.iteration of a record
	// is the offset's current.iteration of the previous one.
	hdrTaskID, hdrGen, nextCount any

	scratch []byte // where drawn strings are built, kept between batches
}

// NewTask returns an unstarted task.
func NewTask() *Task { return &Task{stopped: make(chan struct{}), idle: idleWait} }

// Start reads the configuration and the task's last committed offset,
// from which it continues.
func (t *Task) Start(ctx connect.SourceTaskContext, props map[string]string) error {
	s, err := parse(props)
	if err != nil {
		return fmt.Errorf("datagen task: %w", err)
	}
	if t.stopped == nil {
		t.stopped = make(chan struct{})
	}
	if t.idle <= 0 {
		t.idle = idleWait
	}
	t.s = s
	t.partition = map[string]any{TaskID: s.taskID}
	seed := uint64(s.seed)
	if !s.seeded {
		seed = uint64(time.Now().UnixNano())
	}
	// Each task advances the seed by its id, as Confluent's, so the
	// tasks of one connector generate different data.
	t.data = rng{state: seed}
	for range s.taskID {
		t.data.reseed()
	}
	if ctx != nil {
		off, err := ctx.Offset(t.partition)
		if err != nil {
			return fmt.Errorf("datagen task %d: read the stored offset: %w", s.taskID, err)
		}
		if off != nil {
			if err := t.restore(off); err != nil {
				return fmt.Errorf("datagen task %d: %w", s.taskID, err)
			}
		}
	}
	t.jitter = rng{state: t.data.state ^ 0x5DEECE66D}
	t.hdrTaskID, t.hdrGen, t.nextCount = s.taskID, t.gen, t.count
	return nil
}

// restore takes the generator state from an offset: it holds the next
// generation, the next record number and the random state to draw it.
func (t *Task) restore(off map[string]any) error {
	var vals [3]int64
	for i, k := range []string{FieldTaskGeneration, FieldCurrentIteration, FieldRandomSeed} {
		v, err := asInt64(off[k])
		if err != nil {
			return fmt.Errorf("offset %s (fields %v): %w", k, sortedKeys(off), err)
		}
		vals[i] = v
	}
	t.gen, t.count, t.data.state = vals[0], vals[1], uint64(vals[2])
	return nil
}

// asInt64 accepts the number types an offset store may hand back.
func asInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, fmt.Errorf("%v is not an exact integer", n)
		}
		return int64(n), nil
	case json.Number:
		return n.Int64()
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

// Poll returns the next records: one after a random wait up to
// max.interval, or a batch at once when max.interval is 0. Once the task's
// iterations are done it returns nil after waiting a while.
func (t *Task) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if t.isStopped() {
		return nil, nil
	}
	left := int64(math.MaxInt64)
	if t.s.iterations > 0 {
		left = t.s.iterations - t.count
	}
	if left <= 0 {
		t.sleep(ctx, t.idle)
		return nil, nil
	}
	n := int64(batchSize)
	if t.s.maxInterval > 0 {
		wait := time.Duration(t.jitter.float() * float64(t.s.maxInterval) * float64(time.Millisecond))
		if !t.sleep(ctx, wait) {
			return nil, nil
		}
		n = 1
	}
	return t.generate(int(min(n, left))), nil
}

// sleep waits d, cancellably; false when ctx ended or the task stopped.
func (t *Task) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if t.timer == nil {
		t.timer = time.NewTimer(d)
	} else {
		t.timer.Reset(d)
	}
	select {
	case <-t.timer.C:
		return true
	case <-ctx.Done():
	case <-t.stopped:
	}
	t.timer.Stop()
	return false
}

// generate builds n records. A batch's structs, field values and headers
// are three allocations shared by its records; a record's own are its
// offset map and the numbers boxed into it.
func (t *Task) generate(n int) []connect.SourceRecord {
	q := &t.s.quickstart
	nested, nestedVals := nestedStructs(q.fields)
	perStructs, perVals := 1+nested, len(q.fields)+nestedVals
	recs := make([]connect.SourceRecord, n)
	structs := make([]connect.Struct, n*perStructs)
	values := make([]any, n*perVals)
	headers := make([]connect.Header, 3*n)
	var si, vi int
	d := drawState{r: &t.data, scratch: t.scratch, alloc: func(s *connect.Schema) *connect.Struct {
		st := &structs[si]
		st.Schema, st.Values = s, values[vi:vi+len(s.Fields):vi+len(s.Fields)]
		si, vi = si+1, vi+len(s.Fields)
		return st
	}}
	defer func() { t.scratch = d.scratch }()
	for i := range recs {
		value := d.alloc(q.schema)
		d.count = t.count
		for f := range q.fields {
			value.Values[f] = q.fields[f].draw(&d)
		}
		// Reseed after each record, as Confluent's: the offset then
		// holds the state that draws the next one.
		t.data.reseed()
		next := any(t.count + 1)
		keySchema, key := connect.OptionalStringSchema, any(nil)
		if t.s.keyIndex >= 0 {
			key = keyString(value.Values[t.s.keyIndex])
			if !q.schema.Fields[t.s.keyIndex].Schema.Optional {
				keySchema = connect.StringSchema
			}
		}
		h := headers[3*i : 3*i+3 : 3*i+3]
		h[0] = connect.Header{Key: FieldTaskGeneration, Schema: connect.Int64Schema, Value: t.hdrGen}
		h[1] = connect.Header{Key: TaskID, Schema: connect.Int64Schema, Value: t.hdrTaskID}
		h[2] = connect.Header{Key: FieldCurrentIteration, Schema: connect.Int64Schema, Value: t.nextCount}
		recs[i] = connect.SourceRecord{
			Record: connect.Record{Topic: t.s.topic, Partition: connect.NoPartition,
				KeySchema: keySchema, Key: key,
				ValueSchema: q.schema, Value: value, Headers: h},
			SourcePartition: t.partition,
			SourceOffset: map[string]any{
				FieldTaskGeneration:   t.gen + 1,
				FieldCurrentIteration: next,
				FieldRandomSeed:       int64(t.data.state),
			},
		}
		t.count++
		t.nextCount = next
	}
	return recs
}

// keyString is the key as Confluent makes it, the key field's value as a
// string; a string field's boxed value is reused as it is.
func keyString(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return v
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func (t *Task) isStopped() bool {
	select {
	case <-t.stopped:
		return true
	default:
		return false
	}
}

// Stop wakes a waiting Poll; later Polls return nothing.
func (t *Task) Stop() error {
	if t.stopped != nil {
		t.stopOnce.Do(func() { close(t.stopped) })
	}
	return nil
}
