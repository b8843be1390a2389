package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// idleWait is how long Poll waits when nothing is new (or the file does
// not exist yet) before returning no records, Kafka's one second.
const idleWait = time.Second

// readChunk is the least free space a read asks for: big enough that a
// batch of short lines is one system call, small enough to stay cheap for
// a file that grows a line at a time.
const readChunk = 64 << 10

// sourceConfig declares the source's keys, as Kafka's
// FileStreamSourceConnector.CONFIG_DEF.
func sourceConfig() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyFile, Type: connect.ConfigString, NullDefault: true, Importance: connect.High,
			Doc: "Source filename. If not specified, the standard input will be used"},
		{Name: KeyTopic, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High,
			Doc: "The topic to publish data to", Validator: func(v any) error {
				if strings.TrimSpace(v.(string)) == "" {
					return errors.New("String must be non-empty")
				}
				return nil
			}},
		{Name: KeyBatchSize, Type: connect.ConfigInt, Default: fmt.Sprint(DefaultBatchSize), Importance: connect.Low,
			Doc: "The maximum number of records the source task can read from the file each time it is polled"},
	}
}

// SourceConnector is Kafka's FileStreamSourceConnector: one task reading
// one file (or stdin) line by line.
type SourceConnector struct {
	props map[string]string
}

// Version returns the connector's version.
func (c *SourceConnector) Version() string { return Version }

// Config declares file, topic and batch.size.
func (c *SourceConnector) Config() connect.ConfigDef { return sourceConfig() }

// Start checks the configuration and keeps it for the task.
func (c *SourceConnector) Start(_ connect.ConnectorContext, props map[string]string) error {
	if _, err := sourceConfig().Parse(props); err != nil {
		return fmt.Errorf("file source connector: %w", err)
	}
	c.props = maps.Clone(props)
	return nil
}

// TaskConfigs returns one task configuration whatever maxTasks says: a
// file has one reader (Kafka's "only one input stream makes sense").
func (c *SourceConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	if maxTasks < 1 {
		return nil, nil
	}
	return []map[string]string{maps.Clone(c.props)}, nil
}

// Stop ends the connector; it holds no resources.
func (c *SourceConnector) Stop() error { return nil }

// NewTask returns an unstarted SourceTask.
func (c *SourceConnector) NewTask() connect.SourceTask { return NewSourceTask() }

// ExactlyOnceSupport implements connect.ExactlyOnceSourceConnector, as
// Kafka's FileStreamSourceConnector: a file is read again from the
// committed position, so each line is written exactly once; standard
// input cannot be read again.
func (c *SourceConnector) ExactlyOnceSupport(props map[string]string) connect.ExactlyOnceSupport {
	if strings.TrimSpace(props[KeyFile]) == "" {
		return connect.ExactlyOnceUnsupported
	}
	return connect.ExactlyOnceSupported
}

// SourceTask reads lines of a file (or stdin) into records, Kafka's
// FileStreamSourceTask. Poll never blocks on the file: a regular file read
// at its end returns at once, so Poll reads what is there and waits
// (cancellably) only when nothing is new.
type SourceTask struct {
	ctx       connect.SourceTaskContext
	filename  string // "": stdin
	topic     string
	batchSize int
	partition map[string]any
	idle      time.Duration

	stopOnce sync.Once
	stopped  chan struct{}

	// mu keeps Stop from closing f while Poll reads it.
	mu   sync.Mutex
	f    *os.File
	pos  int64  // byte offset of buf[start] in the file
	buf  []byte // read but not yet emitted: buf[start:]
	base int    // start of the unconsumed bytes in buf

	// stdin is read by a pump goroutine, since a read of a terminal or a
	// pipe blocks with no way to cancel it; chunks come through stdinCh.
	stdin    io.Reader
	stdinCh  chan chunk
	pending  *chunk
	stdinEOF bool
}

// chunk is one read of stdin: data, then the read's error (io.EOF at the
// end).
type chunk struct {
	data []byte
	err  error
}

// NewSourceTask returns an unstarted task.
func NewSourceTask() *SourceTask {
	return &SourceTask{stopped: make(chan struct{}), idle: idleWait, stdin: os.Stdin}
}

// Start reads the configuration; the file is opened by the first Poll so
// that a file created later is waited for, as Kafka does.
func (t *SourceTask) Start(ctx connect.SourceTaskContext, props map[string]string) error {
	p, err := sourceConfig().Parse(props)
	if err != nil {
		return fmt.Errorf("file source task: %w", err)
	}
	if t.stopped == nil {
		t.stopped = make(chan struct{})
	}
	if t.idle <= 0 {
		t.idle = idleWait
	}
	t.ctx = ctx
	t.filename = p.String(KeyFile)
	t.topic = p.String(KeyTopic)
	t.batchSize = max(1, int(p.Int(KeyBatchSize)))
	// Kafka's partition for stdin is {"filename": null}: kept so the
	// offsets endpoint shows the same thing.
	var name any
	if t.filename != "" {
		name = t.filename
	}
	t.partition = map[string]any{FieldFilename: name}
	return nil
}

// Poll returns the complete lines read since the last Poll (at most
// batch.size), or nil after waiting about a second when there are none, the
// file does not exist yet, or the task was stopped.
func (t *SourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	for attempt := 0; attempt < 2; attempt++ {
		recs, waitable, err := t.read()
		if err != nil || len(recs) > 0 || !waitable {
			return recs, err
		}
		if !t.wait(ctx) {
			return nil, nil
		}
	}
	return nil, nil
}

// read emits what is readable now without blocking; waitable is false
// when the task is stopped (the caller should return at once).
func (t *SourceTask) read() (recs []connect.SourceRecord, waitable bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isStopped() {
		return nil, false, nil
	}
	if t.filename == "" {
		t.startPump()
	} else if t.f == nil {
		ok, err := t.open()
		if err != nil || !ok {
			return nil, err == nil, err
		}
	}
	recs, err = t.readLines()
	return recs, true, err
}

// open opens the file and moves to the stored offset; false (and no error)
// when the file does not exist yet.
func (t *SourceTask) open() (bool, error) {
	f, err := os.Open(t.filename)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("file source: open %s: %w", t.filename, err)
	}
	off, err := t.ctx.Offset(t.partition)
	if err != nil {
		f.Close()
		return false, fmt.Errorf("file source: read the stored offset of %s: %w", t.filename, err)
	}
	pos, err := position(off)
	if err != nil {
		f.Close()
		return false, fmt.Errorf("file source: %s: %w", t.filename, err)
	}
	if pos > 0 {
		// Seeking past the end (the file was truncated) is allowed and
		// reads nothing until the file grows past pos, as Kafka's skip.
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			f.Close()
			return false, fmt.Errorf("file source: seek %s to %d: %w", t.filename, pos, err)
		}
	}
	t.f, t.pos, t.buf, t.base = f, pos, t.buf[:0], 0
	return true, nil
}

// position reads the stored offset's position, accepting the number types
// an offset store may hand back (JSON decoding gives float64 or
// json.Number).
func position(off map[string]any) (int64, error) {
	if off == nil {
		return 0, nil
	}
	var pos int64
	switch v := off[FieldPosition].(type) {
	case nil:
		return 0, nil
	case int64:
		pos = v
	case int:
		pos = int64(v)
	case int32:
		pos = int64(v)
	case float64:
		if v != math.Trunc(v) {
			return 0, fmt.Errorf("Offset position is the incorrect type: %v", v)
		}
		pos = int64(v)
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("Offset position is the incorrect type: %v", v)
		}
		pos = n
	default:
		return 0, fmt.Errorf("Offset position is the incorrect type: %T", v)
	}
	if pos < 0 {
		return 0, fmt.Errorf("Offset position must be non-negative: %d", pos)
	}
	return pos, nil
}

// readLines emits complete lines, reading more until batch.size lines are
// out or nothing more is readable now.
func (t *SourceTask) readLines() ([]connect.SourceRecord, error) {
	var out []connect.SourceRecord
	var now time.Time
	for {
		for len(out) < t.batchSize {
			line, adv, ok := nextLine(t.buf[t.base:])
			if !ok {
				break
			}
			t.base += adv
			t.pos += int64(adv)
			if now.IsZero() {
				now = time.Now()
			}
			out = append(out, t.record(line, now))
		}
		if len(out) >= t.batchSize {
			return out, nil
		}
		n, err := t.fill()
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

// record builds the record of one line; its offset is the position just
// after the line (null for stdin, as Kafka's).
func (t *SourceTask) record(line string, now time.Time) connect.SourceRecord {
	var pos any
	if t.filename != "" {
		pos = t.pos
	}
	return connect.SourceRecord{
		Record: connect.Record{Topic: t.topic, Partition: connect.NoPartition,
			ValueSchema: connect.StringSchema, Value: line, Timestamp: now},
		SourcePartition: t.partition,
		SourceOffset:    map[string]any{FieldPosition: pos},
	}
}

// nextLine finds the first line ending in b (\n, \r\n, or a lone \r, as
// Kafka's extractLine) and returns the line and how many bytes it took with
// its ending. A \r at the very end is not yet a line ending: a \n may
// follow.
func nextLine(b []byte) (string, int, bool) {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return "", 0, false
	}
	if b[i] == '\n' {
		return string(b[:i]), i + 1, true
	}
	if i+1 >= len(b) {
		return "", 0, false
	}
	if b[i+1] == '\n' {
		return string(b[:i]), i + 2, true
	}
	return string(b[:i]), i + 1, true
}

// fill appends what is readable now to buf, dropping the consumed bytes
// first; 0 when nothing is.
func (t *SourceTask) fill() (int, error) {
	if t.base > 0 {
		n := copy(t.buf, t.buf[t.base:])
		t.buf, t.base = t.buf[:n], 0
	}
	if cap(t.buf)-len(t.buf) < readChunk {
		t.buf = append(make([]byte, 0, 2*cap(t.buf)+readChunk), t.buf...)
	}
	if t.filename == "" {
		return t.fillStdin(), nil
	}
	free := t.buf[len(t.buf):cap(t.buf)]
	n, err := t.f.Read(free)
	t.buf = t.buf[:len(t.buf)+n]
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("file source: read %s: %w", t.filename, err)
	}
	return n, nil
}

// fillStdin takes the chunks the pump has read, without waiting.
func (t *SourceTask) fillStdin() int {
	n := 0
	for {
		var c chunk
		switch {
		case t.pending != nil:
			c, t.pending = *t.pending, nil
		case t.stdinEOF:
			return n
		default:
			select {
			case c = <-t.stdinCh:
			default:
				return n
			}
		}
		t.buf = append(t.buf, c.data...)
		n += len(c.data)
		if c.err != nil {
			// EOF or a broken stdin: nothing more will come, as
			// Kafka's reader at its end; lines already read are still
			// emitted.
			t.stdinEOF = true
		}
		if len(t.buf)-t.base >= readChunk {
			return n
		}
	}
}

// startPump starts the goroutine reading stdin, once. It ends at EOF, on a
// read error, or when the task stops while it waits to hand a chunk over;
// a read of stdin in progress cannot be interrupted, so after Stop the
// goroutine may stay parked in it until stdin yields or closes.
func (t *SourceTask) startPump() {
	if t.stdinCh != nil {
		return
	}
	t.stdinCh = make(chan chunk)
	go func(r io.Reader, out chan<- chunk, stopped <-chan struct{}) {
		for {
			b := make([]byte, readChunk)
			n, err := r.Read(b)
			if n == 0 && err == nil {
				continue
			}
			select {
			case out <- chunk{data: b[:n], err: err}:
			case <-stopped:
				return
			}
			if err != nil {
				return
			}
		}
	}(t.stdin, t.stdinCh, t.stopped)
}

// wait sleeps until the idle time passes, stdin has data, ctx ends or the
// task stops; false when the caller should return at once.
func (t *SourceTask) wait(ctx context.Context) bool {
	timer := time.NewTimer(t.idle)
	defer timer.Stop()
	var in <-chan chunk
	if t.filename == "" && !t.stdinEOF && t.pending == nil {
		in = t.stdinCh
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.stopped:
		return false
	case <-timer.C:
		return false
	case c := <-in:
		t.pending = &c
		return true
	}
}

func (t *SourceTask) isStopped() bool {
	select {
	case <-t.stopped:
		return true
	default:
		return false
	}
}

// Stop wakes a waiting Poll and closes the file (not stdin, which is the
// process's).
func (t *SourceTask) Stop() error {
	if t.stopped == nil {
		return nil
	}
	t.stopOnce.Do(func() { close(t.stopped) })
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	if err != nil {
		return fmt.Errorf("file source: close %s: %w", t.filename, err)
	}
	return nil
}
