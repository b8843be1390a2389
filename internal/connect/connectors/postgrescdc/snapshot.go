package postgrescdc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/jackc/pgx/v5/pgconn"
)

// snapshotter reads every captured table inside the snapshot the slot
// exported, so the rows it emits and the changes the slot streams after
// its consistent point neither overlap nor leave a gap. It holds the
// catalog connection's transaction open until the last row is read.
type snapshotter struct {
	conn      *pgconn.PgConn
	tables    []*table
	next      int                  // index of the next table to open
	cur       *table               // table being read
	rr        *pgconn.ResultReader // its rows
	pending   *connect.SourceRecord
	lsn       int64 // the slot's consistent point
	db        string
	prefix    string
	partition map[string]any
	ts        time.Time
}

// beginSnapshot opens the transaction that imports the slot's exported
// snapshot; it must run before the replication connection's next command,
// which ends the export.
func beginSnapshot(ctx context.Context, conn *pgconn.PgConn, snapshotName string) error {
	if err := execSQL(ctx, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("begin snapshot transaction: %w", err)
	}
	if err := execSQL(ctx, conn, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(snapshotName, "'", "''")+"'"); err != nil {
		return fmt.Errorf("import snapshot %s: %w", snapshotName, err)
	}
	return nil
}

func newSnapshotter(conn *pgconn.PgConn, tables map[uint32]*table, lsn int64, s settings, partition map[string]any) *snapshotter {
	sn := &snapshotter{conn: conn, lsn: lsn, db: s.dbname, prefix: s.prefix, partition: partition, ts: time.Now()}
	for _, t := range tables {
		sn.tables = append(sn.tables, t)
	}
	slices.SortFunc(sn.tables, func(a, b *table) int { return strings.Compare(a.topic, b.topic) })
	return sn
}

// read returns up to max snapshot records; done once every table was
// read and the transaction ended. ctx must outlive the snapshot: the
// open result reader watches it.
func (sn *snapshotter) read(ctx context.Context, max int) (out []connect.SourceRecord, done bool, err error) {
	for len(out) < max {
		if sn.rr == nil {
			if sn.next == len(sn.tables) {
				if sn.pending != nil {
					// The last row carries the offset saying the
					// snapshot is complete.
					last := *sn.pending
					last.SourceOffset[OffsetLastSnapshot] = true
					last.Value.(*connect.Struct).Get("source").(*connect.Struct).Values[4] = "last"
					out, sn.pending = append(out, last), nil
				}
				if err := execSQL(ctx, sn.conn, "COMMIT"); err != nil {
					return out, false, fmt.Errorf("end snapshot transaction: %w", err)
				}
				return out, true, nil
			}
			sn.cur = sn.tables[sn.next]
			sn.next++
			cols := make([]string, len(sn.cur.cols))
			for i, c := range sn.cur.cols {
				cols[i] = quoteIdent(c.name)
			}
			sql := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(sn.cur.schema) + "." + quoteIdent(sn.cur.name)
			sn.rr = sn.conn.ExecParams(ctx, sql, nil, nil, nil, nil)
		}
		if !sn.rr.NextRow() {
			if _, err := sn.rr.Close(); err != nil {
				return out, false, fmt.Errorf("snapshot of %s.%s: %w", sn.cur.schema, sn.cur.name, err)
			}
			sn.rr = nil
			continue
		}
		row, err := sn.cur.row(sn.rr.Values(), nil)
		if err != nil {
			return out, false, fmt.Errorf("snapshot: %w", err)
		}
		rec := sn.cur.event("r", nil, row, sourceInfo{db: sn.db, prefix: sn.prefix, ts: sn.ts, snapshot: "true", lsn: sn.lsn},
			map[string]any{OffsetLSN: sn.lsn, OffsetSnapshot: true, OffsetLastSnapshot: false, OffsetTsUsec: sn.ts.UnixMicro()}, sn.partition)
		// One row is held back so the last can be marked as such.
		if sn.pending != nil {
			out = append(out, *sn.pending)
		}
		sn.pending = &rec
	}
	return out, false, nil
}

// close abandons an unfinished snapshot.
func (sn *snapshotter) close() {
	if sn.rr != nil {
		_, _ = sn.rr.Close()
		sn.rr = nil
	}
}
