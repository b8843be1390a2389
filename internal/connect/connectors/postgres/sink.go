package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
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

// errFenced marks a Flush whose offsets row was not what the task last
// read or wrote: another task (a zombie after a rebalance) or a commit
// whose outcome was lost moved it. The transaction is rolled back and the
// task rewinds to what the table holds now.
var errFenced = errors.New("postgres sink: the offsets table moved under the task")

// SinkTask writes records as rows. Put converts and buffers them (a bad
// record goes to ReportError at once); Flush writes the buffer in one
// transaction, in batch.size round trips, retrying transient errors
// max.retries times. A Flush that fails for good makes every later Put
// fail, so the task is reported FAILED instead of replaying forever.
//
// With offsets.table.name set, the task also tracks, per partition, the
// next offset past every record it was handed (a row or not), and Flush
// writes it to the offsets table in the rows' transaction; Open rewinds
// to the table's offsets.
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

	// The offsets table's state, by consumed (original) partition.
	// stored is what the table holds, as last read (Open) or committed;
	// known the partitions whose row was read (present or absent), whose
	// writes are fenced on it. pending is the next offset past every
	// record handed over since the last commit, low the first of them:
	// kept apart from stored so that a failed Flush drops only them and
	// rewinds to stored (or low, when the table has no row).
	stored, pending, low map[connect.TopicPartition]int64
	known                map[connect.TopicPartition]bool
	// offsetsReady: the offsets table is known to exist.
	offsetsReady bool
}

// Start parses the configuration; the connection is opened by the first
// Flush that has rows, so a database down at start is retried there.
func (t *SinkTask) Start(ctx connect.SinkTaskContext, props map[string]string) error {
	s, err := parse(props)
	if err != nil {
		return fmt.Errorf("postgres sink task: %w", err)
	}
	t.ctx, t.s, t.tables = ctx, s, map[string]map[string]bool{}
	t.stored, t.pending, t.low = map[connect.TopicPartition]int64{}, map[connect.TopicPartition]int64{}, map[connect.TopicPartition]int64{}
	t.known, t.offsetsReady = map[connect.TopicPartition]bool{}, false
	if t.sleep == nil {
		t.sleep = time.Sleep
	}
	return nil
}

// Open reads the offsets table (offsets.table.name; without it Open is a
// no-op) for the partitions and rewinds those it has a row of to the
// row's offset through the context: PostgreSQL's offsets win over the
// consumer group's. A database that cannot be reached is retried
// max.retries times, retry.backoff.ms apart, then Open fails, which fails
// the task: reading on from the consumer group's offsets instead could
// write records twice.
func (t *SinkTask) Open(partitions []connect.TopicPartition) error {
	if t.s == nil || t.s.offsetsTable == nil || len(partitions) == 0 {
		return nil
	}
	t.forget(partitions)
	var found map[connect.TopicPartition]int64
	for attempt := 0; ; attempt++ {
		var err error
		if found, err = t.readOffsets(partitions); err == nil {
			break
		}
		if !transient(err) || attempt >= t.s.maxRetries {
			return fmt.Errorf("postgres sink: read the offsets of %d partitions from %s, %d attempts: %w", len(partitions), t.s.offsetsTable.Sanitize(), attempt+1, err)
		}
		t.closeConn()
		t.sleep(t.s.backoff)
	}
	for _, tp := range partitions {
		t.known[tp] = true
	}
	maps.Copy(t.stored, found)
	if len(found) > 0 && t.ctx != nil {
		t.ctx.Offset(maps.Clone(found))
	}
	return nil
}

// forget drops what the task knows of partitions: whoever holds them next
// reads the table again.
func (t *SinkTask) forget(partitions []connect.TopicPartition) {
	for _, tp := range partitions {
		delete(t.stored, tp)
		delete(t.known, tp)
		delete(t.pending, tp)
		delete(t.low, tp)
	}
}

// origin is where a record was consumed, as the runtime commits and
// rewinds it: before any transform renamed its topic (KIP-793).
func origin(r connect.SinkRecord) (connect.TopicPartition, int64) {
	if r.OriginalTopic == "" { // made by hand, not by the runtime
		return connect.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.KafkaOffset
	}
	return connect.TopicPartition{Topic: r.OriginalTopic, Partition: r.OriginalPartition}, r.OriginalOffset
}

// track records that a record was handed over: once the next Flush
// commits, it is done, whether it made a row or not.
func (t *SinkTask) track(tp connect.TopicPartition, offset int64) {
	if o, ok := t.pending[tp]; !ok || offset+1 > o {
		t.pending[tp] = offset + 1
	}
	if l, ok := t.low[tp]; !ok || offset < l {
		t.low[tp] = offset
	}
}

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
		if t.s.offsetsTable != nil {
			tp, off := origin(r)
			if o, ok := t.stored[tp]; ok && off < o {
				// Already in PostgreSQL: a replay the rewind has not
				// prevented yet (records fetched before it applied).
				continue
			}
			t.track(tp, off)
		}
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
//
// With offsets.table.name, the transaction also writes the next offset of
// every partition that advanced, from the records put and from offsets
// (the runtime's, which count records a transform dropped too), even with
// no rows; a failed Flush drops those pending offsets and rewinds the
// partitions to the table's.
func (t *SinkTask) Flush(offsets map[connect.TopicPartition]int64) error {
	if t.failed != nil {
		return t.failed
	}
	rows := t.buf
	t.buf = nil
	done := t.advanced(offsets)
	if len(rows) == 0 && len(done) == 0 {
		return nil
	}
	err := t.writeRetrying(rows, done)
	if t.s.offsetsTable == nil {
		return err
	}
	if err == nil {
		for tp, o := range done {
			t.stored[tp], t.known[tp] = o, true
		}
		clear(t.pending)
		clear(t.low)
		return nil
	}
	if errors.Is(err, errFenced) {
		if rerr := t.reload(done); rerr != nil {
			t.failed = fmt.Errorf("postgres sink: %w; reading the offsets again: %w", err, rerr)
			return t.failed
		}
	}
	t.rewind()
	return err
}

// advanced returns the pending offsets the table lacks, the runtime's
// offsets merged in first (nil without offsets.table.name).
func (t *SinkTask) advanced(offsets map[connect.TopicPartition]int64) map[connect.TopicPartition]int64 {
	if t.s.offsetsTable == nil {
		return nil
	}
	for tp, o := range offsets {
		if p, ok := t.pending[tp]; !ok || o > p {
			t.pending[tp] = o
		}
	}
	done := map[connect.TopicPartition]int64{}
	for tp, o := range t.pending {
		if s, ok := t.stored[tp]; !ok || o > s {
			done[tp] = o
		}
	}
	return done
}

// rewind drops the pending offsets of a failed Flush and asks the runtime
// to read their partitions again from what the table holds (or, without a
// row, from the first record handed over since): the runtime's own rewind
// goes to the consumer group's offsets, which may be behind the table.
func (t *SinkTask) rewind() {
	back := map[connect.TopicPartition]int64{}
	for tp := range t.pending {
		if o, ok := t.stored[tp]; ok {
			back[tp] = o
		} else if l, ok := t.low[tp]; ok {
			back[tp] = l
		}
	}
	clear(t.pending)
	clear(t.low)
	if len(back) > 0 && t.ctx != nil {
		t.ctx.Offset(back)
	}
}

// reload reads again the fenced partitions' rows after errFenced.
func (t *SinkTask) reload(done map[connect.TopicPartition]int64) error {
	var tps []connect.TopicPartition
	for tp := range done {
		if t.known[tp] {
			tps = append(tps, tp)
		}
	}
	found, err := t.readOffsets(tps)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		delete(t.stored, tp)
	}
	maps.Copy(t.stored, found)
	return nil
}

// writeRetrying writes rows and offsets, retrying transient errors.
func (t *SinkTask) writeRetrying(rows []*row, done map[connect.TopicPartition]int64) error {
	for attempt := 0; ; attempt++ {
		err := t.write(rows, done, false)
		if err == nil {
			return nil
		}
		t.tables = map[string]map[string]bool{}
		switch {
		case errors.Is(err, errFenced):
			return err
		case badData(err):
			err = t.write(rows, done, true)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, errFenced):
				return err
			case transient(err):
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

// write writes rows in one transaction: the offsets first (done, with
// offsets.table.name: its row locks order competing tasks, and a fenced
// write fails before the rows are sent), the tables' DDL, then the rows
// in batch.size round trips, or, rowByRow, each row under a savepoint so
// that a refused row is reported and skipped.
func (t *SinkTask) write(rows []*row, done map[connect.TopicPartition]int64, rowByRow bool) (err error) {
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
	if len(done) > 0 {
		if err := t.writeOffsets(tx, done); err != nil {
			return err
		}
	}
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
	if len(done) > 0 {
		t.offsetsReady = true
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

// The offsets table's columns: the connector's name, then the consumed
// partition and the next offset to read of it.
const offsetsColumns = "connector, topic, kafka_partition, next_offset"

// createOffsetsSQL creates the offsets table unless it exists.
func (s *settings) createOffsetsSQL() string {
	return "CREATE TABLE IF NOT EXISTS " + s.offsetsTable.Sanitize() + ` (connector text NOT NULL, topic text NOT NULL,
		kafka_partition integer NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (connector, topic, kafka_partition))`
}

// ensureOffsetsTable creates the offsets table once per task (in tx, or
// on its own when tx is nil). Two tasks creating it at once may collide
// on the catalog's unique indexes: the loser finds it made.
func (t *SinkTask) ensureOffsetsTable(conn *pgx.Conn, tx pgx.Tx) error {
	if t.offsetsReady {
		return nil
	}
	var err error
	if tx != nil {
		err = t.exec(tx, t.s.createOffsetsSQL())
	} else {
		err = t.bounded(func(ctx context.Context) error { _, err := conn.Exec(ctx, t.s.createOffsetsSQL()); return err })
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07") {
			err = nil
		}
		t.offsetsReady = err == nil
	}
	if err != nil {
		return fmt.Errorf("create the offsets table %s: %w", t.s.offsetsTable.Sanitize(), err)
	}
	return nil
}

// writeOffsets upserts the next offsets of done, in tx. A partition whose
// row the task read is fenced: its row must still hold what the task
// last read or wrote (or still be missing), else errFenced.
func (t *SinkTask) writeOffsets(tx pgx.Tx, done map[connect.TopicPartition]int64) error {
	if err := t.ensureOffsetsTable(nil, tx); err != nil {
		return err
	}
	tps := slices.SortedFunc(maps.Keys(done), func(a, b connect.TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	insert := "INSERT INTO " + t.s.offsetsTable.Sanitize() + " AS o (" + offsetsColumns + ") VALUES ($1, $2, $3, $4) ON CONFLICT (connector, topic, kafka_partition) "
	b := &pgx.Batch{}
	for _, tp := range tps {
		args := []any{t.s.connector, tp.Topic, tp.Partition, done[tp]}
		stored, ok := t.stored[tp]
		switch {
		case !t.known[tp]: // never read (no Open): nothing to fence on
			b.Queue(insert+"DO UPDATE SET next_offset = EXCLUDED.next_offset", args...)
		case ok:
			b.Queue(insert+"DO UPDATE SET next_offset = EXCLUDED.next_offset WHERE o.next_offset = $5", append(args, stored)...)
		default:
			b.Queue(insert+"DO NOTHING", args...)
		}
	}
	var fenced []connect.TopicPartition
	err := t.bounded(func(ctx context.Context) error {
		br := tx.SendBatch(ctx, b)
		for _, tp := range tps {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() != 1 {
				fenced = append(fenced, tp)
			}
		}
		return br.Close()
	})
	if err != nil {
		return fmt.Errorf("write the offsets of %d partitions to %s: %w", len(tps), t.s.offsetsTable.Sanitize(), err)
	}
	if len(fenced) > 0 {
		return fmt.Errorf("%w: %s holds other offsets of %v than the task last read or wrote", errFenced, t.s.offsetsTable.Sanitize(), fenced)
	}
	return nil
}

// readOffsets returns the table's next offsets of the partitions it has a
// row of (this connector's), creating the table if missing.
func (t *SinkTask) readOffsets(partitions []connect.TopicPartition) (map[connect.TopicPartition]int64, error) {
	conn, err := t.connect()
	if err != nil {
		return nil, err
	}
	if err := t.ensureOffsetsTable(conn, nil); err != nil {
		return nil, err
	}
	want := map[connect.TopicPartition]bool{}
	var topics []string
	for _, tp := range partitions {
		want[tp] = true
		if !slices.Contains(topics, tp.Topic) {
			topics = append(topics, tp.Topic)
		}
	}
	found := map[connect.TopicPartition]int64{}
	err = t.bounded(func(ctx context.Context) error {
		rows, err := conn.Query(ctx, "SELECT topic, kafka_partition, next_offset FROM "+t.s.offsetsTable.Sanitize()+
			" WHERE connector = $1 AND topic = ANY($2)", t.s.connector, topics)
		if err != nil {
			return err
		}
		var topic string
		var part int32
		var next int64
		_, err = pgx.ForEachRow(rows, []any{&topic, &part, &next}, func() error {
			if tp := (connect.TopicPartition{Topic: topic, Partition: part}); want[tp] {
				found[tp] = next
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.s.offsetsTable.Sanitize(), err)
	}
	return found, nil
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

// Close forgets the partitions' offsets (the runtime flushed before
// revoking): whoever gets them next reads the table.
func (t *SinkTask) Close(partitions []connect.TopicPartition) error {
	if t.s != nil {
		t.forget(partitions)
	}
	return nil
}

// Stop drops the buffer (its offsets were not committed) and closes the
// connection.
func (t *SinkTask) Stop() error {
	t.buf = nil
	clear(t.pending)
	clear(t.low)
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
	if errors.Is(err, errSchema) || errors.Is(err, errConfig) || errors.Is(err, errBadRecord) || errors.Is(err, errFenced) {
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
	return !errors.Is(err, errSchema) && !errors.Is(err, errConfig) && !errors.Is(err, errFenced) && !transient(err)
}
