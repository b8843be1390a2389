package postgrescdc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// connectTimeout bounds connecting and each catalog statement.
const connectTimeout = 30 * time.Second

// dial opens a connection: a replication one (replication=database) for
// the slot, or a plain one for the catalog and the snapshot. Both use ISO
// dates in UTC, the text forms decode expects.
func dial(ctx context.Context, s settings, replication bool) (*pgconn.PgConn, error) {
	q := func(v string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'" }
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s connect_timeout=%d", q(s.host), s.port, q(s.user), q(s.dbname), s.sslmode, int(connectTimeout.Seconds()))
	if s.password != "" {
		dsn += " password=" + q(s.password)
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection settings: %w", err)
	}
	cfg.RuntimeParams["DateStyle"] = "ISO, MDY"
	cfg.RuntimeParams["TimeZone"] = "UTC"
	cfg.RuntimeParams["extra_float_digits"] = "3"
	cfg.RuntimeParams["application_name"] = "fjord-connect-postgrescdc"
	if replication {
		cfg.RuntimeParams["replication"] = "database"
		// A cancel request would end a walsender's stream: a timed-out
		// receive (the keepalive loop's tick) must only set a deadline.
		cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", s.host, s.port, s.dbname, err)
	}
	return conn, nil
}

// query runs a parameterized statement and returns its rows as text (nil
// for NULL).
func query(ctx context.Context, conn *pgconn.PgConn, sql string, args ...string) ([][][]byte, error) {
	qctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := conn.ExecParams(qctx, sql, params, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Rows, nil
}

// execSQL runs statements without parameters.
func execSQL(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	qctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	_, err := conn.Exec(qctx, sql).ReadAll()
	return err
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// columnsSQL lists a table's columns as pgoutput sends them (no dropped
// or generated ones), each marked when part of the primary key.
const columnsSQL = `SELECT a.attname, a.atttypid::int8, a.atttypmod,
	EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey))
FROM pg_attribute a
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum`

// loadTables finds the captured tables and their columns, by relation
// OID (how pgoutput names a relation).
func loadTables(ctx context.Context, conn *pgconn.PgConn, s settings) (map[uint32]*table, error) {
	rows, err := query(ctx, conn, `SELECT c.oid::int8, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables := map[uint32]*table{}
	for _, r := range rows {
		nsp, name := string(r[1]), string(r[2])
		if !s.includes(nsp, name) {
			continue
		}
		oid, err := strconv.ParseUint(string(r[0]), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("table %s.%s: bad oid: %w", nsp, name, err)
		}
		crows, err := query(ctx, conn, columnsSQL, string(r[0]))
		if err != nil {
			return nil, fmt.Errorf("columns of %s.%s: %w", nsp, name, err)
		}
		var cols []column
		for _, c := range crows {
			typ, _ := strconv.ParseUint(string(c[1]), 10, 32)
			mod, _ := strconv.ParseInt(string(c[2]), 10, 32)
			cols = append(cols, column{name: string(c[0]), oid: uint32(typ), typmod: int32(mod), key: string(c[3]) == "t"})
		}
		tables[uint32(oid)] = newTable(s.prefix, nsp, name, cols)
	}
	return tables, nil
}

// ensurePublication creates the publication for the captured tables (for
// all tables when table.include.list is empty) unless it exists; an
// existing one is used as it is, as Debezium does.
func ensurePublication(ctx context.Context, conn *pgconn.PgConn, s settings, tables map[uint32]*table) error {
	rows, err := query(ctx, conn, `SELECT 1 FROM pg_publication WHERE pubname = $1`, s.publication)
	if err != nil {
		return fmt.Errorf("look up publication %s: %w", s.publication, err)
	}
	if len(rows) > 0 {
		return nil
	}
	sql := "CREATE PUBLICATION " + quoteIdent(s.publication) + " FOR ALL TABLES"
	if len(s.include) > 0 {
		if len(tables) == 0 {
			return fmt.Errorf("no table matches %s", KeyTableInclude)
		}
		var names []string
		for _, t := range tables {
			names = append(names, quoteIdent(t.schema)+"."+quoteIdent(t.name))
		}
		sql = "CREATE PUBLICATION " + quoteIdent(s.publication) + " FOR TABLE " + strings.Join(names, ", ")
	}
	if err := execSQL(ctx, conn, sql); err != nil {
		return fmt.Errorf("create publication %s: %w", s.publication, err)
	}
	return nil
}

// slotExists reports whether the replication slot exists.
func slotExists(ctx context.Context, conn *pgconn.PgConn, slot string) (bool, error) {
	rows, err := query(ctx, conn, `SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, slot)
	if err != nil {
		return false, fmt.Errorf("look up replication slot %s: %w", slot, err)
	}
	return len(rows) > 0, nil
}
