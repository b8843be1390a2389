package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fjordstream/fjord/internal/connect"
)

// errSchema marks a table that cannot take the records as configured (it
// is missing and auto.create is off, a column is missing and auto.evolve
// is off, a required column cannot be added): retrying cannot help.
var errSchema = errors.New("postgres sink: table does not fit the records")

// errConfig marks a configuration pgx refuses: retrying cannot help.
var errConfig = errors.New("postgres sink: bad configuration")

// SinkTask writes records as rows. Put converts and buffers them (a bad
// record goes to ReportError at once); Flush writes the buffer in one
// transaction, in batch.size round trips, retrying transient errors
// max.retries times. A Flush that fails for good makes every later Put
// fail, so the task is reported FAILED instead of replaying forever.
type SinkTask struct {
	ctx    connect.SinkTaskContext
	s      *settings
	conn   *pgx.Conn
	buf    []*row
	failed error
	// tables caches the columns of each table seen (by its quoted
	// name); dropped whenever a transaction fails, as its DDL is undone.
	tables map[string]map[string]bool
	// sleep waits between retries; a seam for tests.
	sleep func(time.Duration)
}

// Start parses the configuration; the connection is opened by the first
// Flush that has rows, so a database down at start is retried there.
func (t *SinkTask) Start(ctx connect.SinkTaskContext, props map[string]string) error {
	s, err := parse(props)
	if err != nil {
		return fmt.Errorf("postgres sink task: %w", err)
	}
	t.ctx, t.s, t.tables = ctx, s, map[string]map[string]bool{}
	if t.sleep == nil {
		t.sleep = time.Sleep
	}
	return nil
}

// Open is a no-op: rows do not depend on the partitions held.
func (t *SinkTask) Open([]connect.TopicPartition) error { return nil }

// Put converts the records into rows and buffers them. A record that
// cannot be a row goes to ReportError (the dead-letter queue, or a task
// failure under errors.tolerance=none).
func (t *SinkTask) Put(records []connect.SinkRecord) error {
	if t.s == nil {
		return errors.New("postgres sink: Put before Start")
	}
	if t.failed != nil {
		return t.failed
	}
	for _, r := range records {
		rw, err := t.s.toRow(r)
		if err != nil {
			if rerr := t.report(r, err); rerr != nil {
				return rerr
			}
			continue
		}
		if rw != nil {
			t.buf = append(t.buf, rw)
		}
	}
	if len(t.buf) >= t.s.batchSize && t.ctx != nil {
		// A full batch is worth writing now: it also bounds the buffer.
		t.ctx.RequestCommit()
	}
	return nil
}

// report hands a bad record to the runtime's errant record reporter; the
// error it returns (tolerance none) fails the task.
func (t *SinkTask) report(r connect.SinkRecord, err error) error {
	if t.ctx == nil {
		return fmt.Errorf("postgres sink: %s/%d@%d: %w", r.Topic, r.Partition, r.KafkaOffset, err)
	}
	if rerr := t.ctx.ReportError(r, err); rerr != nil {
		return fmt.Errorf("postgres sink: %s/%d@%d: %w", r.Topic, r.Partition, r.KafkaOffset, rerr)
	}
	return nil
}

// Flush writes the buffered rows in one transaction and returns once it
// committed. The buffer is dropped whatever happens: after a failed Flush
// the runtime rewinds to the committed offsets and puts the records again.
// A transient error is retried max.retries times, then returned as a
// *connect.RetriableError; a record the database refuses (a data or
// constraint error) is found by writing row by row under savepoints and
// reported, the rest written.
func (t *SinkTask) Flush(map[connect.TopicPartition]int64) error {
	if t.failed != nil {
		return t.failed
	}
	rows := t.buf
	t.buf = nil
	if len(rows) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := t.write(rows, false)
		if err == nil {
			return nil
		}
		t.tables = map[string]map[string]bool{}
		switch {
		case badData(err):
			err = t.write(rows, true)
			if err == nil {
				return nil
			}
			if transient(err) {
				return &connect.RetriableError{Err: fmt.Errorf("postgres sink: write %d records row by row: %w", len(rows), err)}
			}
			t.failed = fmt.Errorf("postgres sink: write %d records row by row: %w", len(rows), err)
			return t.failed
		case !transient(err):
			t.failed = fmt.Errorf("postgres sink: write %d records: %w", len(rows), err)
			return t.failed
		case attempt >= t.s.maxRetries:
			return &connect.RetriableError{Err: fmt.Errorf("postgres sink: write %d records, %d attempts: %w", len(rows), attempt+1, err)}
		}
		t.closeConn()
		t.sleep(t.s.backoff)
	}
}

// write writes rows in one transaction: the tables' DDL first, then the
// rows in batch.size round trips, or, rowByRow, each row under a
// savepoint so that a refused row is reported and skipped.
func (t *SinkTask) write(rows []*row, rowByRow bool) (err error) {
	conn, err := t.connect()
	if err != nil {
		return err
	}
	var tx pgx.Tx
	if err := t.bounded(func(ctx context.Context) (err error) { tx, err = conn.Begin(ctx); return err }); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// A failed rollback leaves a broken connection: drop it.
			if rerr := t.bounded(func(ctx context.Context) error { return tx.Rollback(ctx) }); rerr != nil {
				t.closeConn()
			}
		}
	}()
	if err := t.ensureTables(tx, rows); err != nil {
		return err
	}
	if rowByRow {
		err = t.writeEach(tx, rows)
	} else {
		err = t.writeBatches(tx, rows)
	}
	if err != nil {
		return err
	}
	if err := t.bounded(func(ctx context.Context) error { return tx.Commit(ctx) }); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writeBatches sends the rows' statements batch.size at a time.
func (t *SinkTask) writeBatches(tx pgx.Tx, rows []*row) error {
	for chunk := range slices.Chunk(rows, t.s.batchSize) {
		b := &pgx.Batch{}
		for _, r := range chunk {
			b.Queue(t.s.writeSQL(r), r.vals...)
		}
		if err := t.bounded(func(ctx context.Context) error { return tx.SendBatch(ctx, b).Close() }); err != nil {
			return fmt.Errorf("write %d rows to %s: %w", len(chunk), chunk[0].table.Sanitize(), err)
		}
	}
	return nil
}

// writeEach writes row by row, each under a savepoint: a row the database
// refuses is rolled back alone and reported.
func (t *SinkTask) writeEach(tx pgx.Tx, rows []*row) error {
	for _, r := range rows {
		var err error
		if err = t.exec(tx, "SAVEPOINT fjord_row"); err != nil {
			return err
		}
		err = t.exec(tx, t.s.writeSQL(r), r.vals...)
		if err == nil {
			if err = t.exec(tx, "RELEASE SAVEPOINT fjord_row"); err != nil {
				return err
			}
			continue
		}
		if !badData(err) {
			return fmt.Errorf("write a row to %s: %w", r.table.Sanitize(), err)
		}
		if rerr := t.exec(tx, "ROLLBACK TO SAVEPOINT fjord_row"); rerr != nil {
			return rerr
		}
		if rerr := t.report(r.rec, fmt.Errorf("%w: %s: %w", errBadRecord, r.table.Sanitize(), err)); rerr != nil {
			return rerr
		}
	}
	return nil
}

func (t *SinkTask) exec(tx pgx.Tx, sql string, args ...any) error {
	return t.bounded(func(ctx context.Context) error { _, err := tx.Exec(ctx, sql, args...); return err })
}

// ensureTables creates the missing tables (auto.create) and adds the
// missing columns (auto.evolve) of the rows' tables, inside tx, so a
// failed write undoes its DDL too.
func (t *SinkTask) ensureTables(tx pgx.Tx, rows []*row) error {
	// Every table's columns, the union over its rows, in order seen.
	var order []*row
	union := map[string]*row{}
	for _, r := range rows {
		key := r.table.Sanitize()
		u, ok := union[key]
		if !ok {
			u = &row{table: r.table}
			union[key] = u
			order = append(order, u)
		}
		for _, c := range r.cols {
			if !slices.ContainsFunc(u.cols, func(x column) bool { return x.name == c.name }) {
				u.cols = append(u.cols, c)
			}
		}
	}
	for _, u := range order {
		if err := t.ensureTable(tx, u); err != nil {
			return err
		}
	}
	return nil
}

func (t *SinkTask) ensureTable(tx pgx.Tx, u *row) error {
	key := u.table.Sanitize()
	cols, ok := t.tables[key]
	if !ok {
		var err error
		if cols, err = t.columns(tx, u.table); err != nil {
			return err
		}
	}
	if len(cols) == 0 {
		if !t.s.autoCreate {
			return fmt.Errorf("%w: table %s does not exist and auto.create is false", errSchema, key)
		}
		q, err := createSQL(u)
		if err != nil {
			return fmt.Errorf("%w: create %s: %w", errSchema, key, err)
		}
		if err := t.exec(tx, q); err != nil {
			return fmt.Errorf("create table %s: %w", key, err)
		}
		cols = map[string]bool{}
		for _, c := range u.cols {
			cols[c.name] = true
		}
	}
	for _, c := range u.cols {
		if cols[c.name] {
			continue
		}
		if !t.s.autoEvolve {
			return fmt.Errorf("%w: table %s has no column %q and auto.evolve is false", errSchema, key, c.name)
		}
		q, err := addColumnSQL(u.table, c)
		if err != nil {
			return fmt.Errorf("%w: %w", errSchema, err)
		}
		if err := t.exec(tx, q); err != nil {
			return fmt.Errorf("add column %q to %s: %w", c.name, key, err)
		}
		cols[c.name] = true
	}
	t.tables[key] = cols
	return nil
}

// columns returns the names of a table's columns (none: no such table).
// to_regclass resolves the name as the INSERT will, search path included.
func (t *SinkTask) columns(tx pgx.Tx, table pgx.Identifier) (map[string]bool, error) {
	cols := map[string]bool{}
	err := t.bounded(func(ctx context.Context) error {
		rows, err := tx.Query(ctx, `SELECT attname::text FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, table.Sanitize())
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range names {
			cols[n] = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table.Sanitize(), err)
	}
	return cols, nil
}

// connect returns the open connection, opening one if needed.
func (t *SinkTask) connect() (*pgx.Conn, error) {
	if t.conn != nil && !t.conn.IsClosed() {
		return t.conn, nil
	}
	cfg, err := pgx.ParseConfig(t.s.url)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfig, KeyURL, err)
	}
	cfg.ConnectTimeout = t.s.timeout
	if t.s.userSet {
		cfg.User = t.s.user
	}
	if t.s.passwordSet {
		cfg.Password = t.s.password
	}
	var conn *pgx.Conn
	if err := t.bounded(func(ctx context.Context) (err error) { conn, err = pgx.ConnectConfig(ctx, cfg); return err }); err != nil {
		return nil, fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	t.conn = conn
	return conn, nil
}

// bounded runs f with a context of query.timeout.ms: no statement, connect
// or commit can hang a task.
func (t *SinkTask) bounded(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.s.timeout)
	defer cancel()
	return f(ctx)
}

func (t *SinkTask) closeConn() {
	if t.conn == nil {
		return
	}
	// Closing only says goodbye to the server: its error changes nothing.
	_ = t.bounded(func(ctx context.Context) error { return t.conn.Close(ctx) })
	t.conn = nil
}

// Close is a no-op: the runtime flushed before revoking.
func (t *SinkTask) Close([]connect.TopicPartition) error { return nil }

// Stop drops the buffer (its offsets were not committed) and closes the
// connection.
func (t *SinkTask) Stop() error {
	t.buf = nil
	if t.s != nil {
		t.closeConn()
	}
	return nil
}

// transient reports whether err may pass on a retry: the connection or
// network failed, or the server said so (connection exception, class 08;
// serialization failure; deadlock; too many connections, class 53; shut
// down; lock or statement timeout).
func transient(err error) bool {
	if errors.Is(err, errSchema) || errors.Is(err, errConfig) || errors.Is(err, errBadRecord) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"):
			return true
		}
		switch pgErr.Code {
		case "40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03":
			return true
		}
		return false
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "conn closed")
}

// badData reports whether err is about a row rather than the database: a
// data exception (class 22), an integrity violation (class 23), or a value
// pgx could not encode for its column (client side, no server error).
func badData(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	return !errors.Is(err, errSchema) && !errors.Is(err, errConfig) && !transient(err)
}
