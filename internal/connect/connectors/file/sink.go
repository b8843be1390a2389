package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/fjordstream/fjord/internal/connect"
)

// sinkConfig declares the sink's own key, as Kafka's
// FileStreamSinkConnector.CONFIG_DEF (topics is a common sink key).
func sinkConfig() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyFile, Type: connect.ConfigString, NullDefault: true, Importance: connect.High,
			Doc: "Destination filename. If not specified, the standard output will be used"},
	}
}

// SinkConnector is Kafka's FileStreamSinkConnector: its tasks append each
// record's value to one file (or stdout) as a line.
type SinkConnector struct {
	props map[string]string
}

// Version returns the connector's version.
func (c *SinkConnector) Version() string { return Version }

// Config declares file.
func (c *SinkConnector) Config() connect.ConfigDef { return sinkConfig() }

// Start checks the configuration and keeps it for the tasks.
func (c *SinkConnector) Start(_ connect.ConnectorContext, props map[string]string) error {
	if _, err := sinkConfig().Parse(props); err != nil {
		return fmt.Errorf("file sink connector: %w", err)
	}
	c.props = maps.Clone(props)
	return nil
}

// TaskConfigs returns maxTasks copies of the configuration, as Kafka's: the
// tasks all append to the same file, in no order across tasks (a line
// longer than a task's buffer may even be split by another task's write).
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, 0, max(maxTasks, 0))
	for range maxTasks {
		out = append(out, maps.Clone(c.props))
	}
	return out, nil
}

// Stop ends the connector; it holds no resources.
func (c *SinkConnector) Stop() error { return nil }

// NewTask returns an unstarted SinkTask.
func (c *SinkConnector) NewTask() connect.SinkTask { return NewSinkTask() }

// SinkTask writes each record's value, as Java's toString would show it,
// followed by a newline, Kafka's FileStreamSinkTask. Lines are buffered
// until the buffer fills or Flush; Flush also fsyncs the file, so the
// offsets the runtime commits after it only name lines on disk. Lines put
// after the last Flush may be written again after a restart (the runtime
// rewinds to the committed offsets): delivery is at least once, as Kafka's.
type SinkTask struct {
	filename string
	f        *os.File  // nil when writing to stdout
	stdout   io.Writer // where lines go when file is unset
	w        *bufio.Writer
	line     []byte // reused to format one value
	created  bool   // the task created the file: its folder is synced at the next Flush
	// fsync is (*os.File).Sync, a seam for tests to see that Flush syncs.
	fsync func(*os.File) error
}

// NewSinkTask returns an unstarted task.
func NewSinkTask() *SinkTask { return &SinkTask{stdout: os.Stdout, fsync: (*os.File).Sync} }

// Start opens the file for appending, creating it if needed.
func (t *SinkTask) Start(_ connect.SinkTaskContext, props map[string]string) error {
	p, err := sinkConfig().Parse(props)
	if err != nil {
		return fmt.Errorf("file sink task: %w", err)
	}
	t.filename = p.String(KeyFile)
	if t.filename == "" {
		if t.stdout == nil {
			t.stdout = os.Stdout
		}
		t.w = bufio.NewWriterSize(t.stdout, readChunk)
		return nil
	}
	// O_EXCL first tells whether this task created the file: then its
	// folder entry must be synced too, or a power cut could lose the
	// whole file even after its data was fsynced.
	f, err := os.OpenFile(t.filename, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o666)
	t.created = err == nil
	if errors.Is(err, fs.ErrExist) {
		if err := cutPartialLine(t.filename); err != nil {
			return fmt.Errorf("file sink: %s: %w", t.filename, err)
		}
		f, err = os.OpenFile(t.filename, os.O_WRONLY|os.O_APPEND, 0o666)
	}
	if err != nil {
		return fmt.Errorf("file sink: open %s: %w", t.filename, err)
	}
	t.f = f
	t.w = bufio.NewWriterSize(f, readChunk)
	return nil
}

// Open is a no-op: every partition goes to the same file.
func (t *SinkTask) Open([]connect.TopicPartition) error { return nil }

// Put writes the records' values, one line each.
func (t *SinkTask) Put(records []connect.SinkRecord) error {
	if t.w == nil {
		return errors.New("file sink: Put before Start")
	}
	for i := range records {
		t.line = appendJava(t.line[:0], records[i].ValueSchema, records[i].Value)
		t.line = append(t.line, '\n')
		if _, err := t.w.Write(t.line); err != nil {
			return fmt.Errorf("file sink: write to %s: %w", t.target(), err)
		}
	}
	return nil
}

// Flush writes the buffered lines and fsyncs the file (stdout is only
// flushed: a pipe or terminal cannot be synced).
func (t *SinkTask) Flush(map[connect.TopicPartition]int64) error {
	if t.w == nil {
		return nil
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("file sink: flush %s: %w", t.target(), err)
	}
	if t.f != nil {
		if t.fsync == nil {
			t.fsync = (*os.File).Sync
		}
		if err := t.fsync(t.f); err != nil {
			return fmt.Errorf("file sink: fsync %s: %w", t.filename, err)
		}
		if t.created {
			if err := syncDir(filepath.Dir(t.filename)); err != nil {
				return fmt.Errorf("file sink: fsync the folder of %s: %w", t.filename, err)
			}
			t.created = false
		}
	}
	return nil
}

// syncDir fsyncs a folder, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close is a no-op: the runtime flushed before revoking.
func (t *SinkTask) Close([]connect.TopicPartition) error { return nil }

// Stop writes the buffered lines and closes the file (as Kafka's close of
// its PrintStream; no fsync: only offsets committed after a Flush count).
func (t *SinkTask) Stop() error {
	if t.w == nil {
		return nil
	}
	err := t.w.Flush()
	if err != nil {
		err = fmt.Errorf("file sink: flush %s: %w", t.target(), err)
	}
	if t.f != nil {
		if cerr := t.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("file sink: close %s: %w", t.filename, cerr)
		}
		t.f = nil
	}
	t.w = nil
	return err
}

func (t *SinkTask) target() string {
	if t.filename == "" {
		return "stdout"
	}
	return t.filename
}

// cutPartialLine removes a last line without its newline, which only a
// worker killed mid-write leaves: that record's offset was never
// committed (a flush ends every line), so it is written again whole, and
// appending after the fragment would fuse the two into a line no record
// had. Kafka's FileStreamSink leaves the fragment.
func cutPartialLine(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	buf := make([]byte, 64<<10)
	end := st.Size()
	for pos := end; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if cut := pos + int64(i) + 1; cut < end {
				if err := f.Truncate(cut); err != nil {
					return err
				}
				return f.Sync()
			}
			return nil
		}
	}
	// No newline at all: the whole file is one fragment.
	if err := f.Truncate(0); err != nil {
		return err
	}
	return f.Sync()
}
