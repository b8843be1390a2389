package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// streamBuffer is how many decoded records wait for Poll: enough to keep
// a batch ready, few enough that a huge transaction does not fill memory
// (the streamer waits, still sending keepalives, when it is full).
const streamBuffer = 4096

// resumePoint is where a restarted task continues: transactions whose
// commit LSN is below lsn were stored whole, and the first events records
// of the transaction committed at lsn were stored.
type resumePoint struct {
	lsn    pglogrepl.LSN
	events int64
}

// streamer owns the replication connection: one goroutine receives and
// decodes pgoutput messages into records for Poll and sends the standby
// status updates that confirm the LSN Commit stored (confirmed), so the
// connection is never used from two goroutines.
type streamer struct {
	conn      *pgconn.PgConn
	s         settings
	tables    map[uint32]*table // captured tables by relation OID
	rels      map[uint32]*table // relations as the stream described them
	partition map[string]any
	resume    resumePoint
	confirmed *atomic.Uint64
	log       *slog.Logger

	out  chan connect.SourceRecord
	done chan struct{} // closed when the goroutine ended; err says why
	err  error

	// The transaction being decoded.
	txLSN  pglogrepl.LSN
	txID   int64
	txTime time.Time
	txSeq  int64
}

// startStream starts replication from the slot's confirmed position and
// the goroutine reading it; it ends when ctx does.
func startStream(ctx context.Context, conn *pgconn.PgConn, s settings, tables map[uint32]*table, partition map[string]any,
	resume resumePoint, confirmed *atomic.Uint64, log *slog.Logger) (*streamer, error) {
	sctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	for {
		// Start at 0: the server begins at the slot's confirmed_flush_lsn,
		// which is at or before resume.lsn; what was stored is skipped
		// here.
		err := pglogrepl.StartReplication(sctx, conn, s.slot, 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names '" + s.publication + "'"}})
		if err == nil {
			break
		}
		// The walsender of a task just stopped may hold the slot a
		// moment longer (object_in_use): wait for it, within sctx.
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" || sctx.Err() != nil {
			return nil, fmt.Errorf("start replication from slot %s: %w", s.slot, err)
		}
		select {
		case <-sctx.Done():
			return nil, fmt.Errorf("start replication from slot %s: %w", s.slot, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	st := &streamer{conn: conn, s: s, tables: tables, rels: map[uint32]*table{}, partition: partition, resume: resume,
		confirmed: confirmed, log: log, out: make(chan connect.SourceRecord, streamBuffer), done: make(chan struct{})}
	go st.run(ctx)
	return st, nil
}

func (st *streamer) run(ctx context.Context) {
	defer close(st.done)
	err := st.loop(ctx)
	if ctx.Err() != nil {
		err = nil // stopped
	}
	st.err = err
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = st.conn.Close(cctx)
}

// sendStatus confirms the stored LSN; the server keeps WAL from it on.
func (st *streamer) sendStatus() error {
	lsn := pglogrepl.LSN(st.confirmed.Load())
	if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), st.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: lsn}); err != nil {
		return fmt.Errorf("send standby status update: %w", err)
	}
	return nil
}

func (st *streamer) loop(ctx context.Context) error {
	next := time.Now().Add(st.s.statusInterval)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !time.Now().Before(next) {
			if err := st.sendStatus(); err != nil {
				return err
			}
			next = time.Now().Add(st.s.statusInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, next)
		msg, err := st.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("receive from slot %s: %w", st.s.slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication stream: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse keepalive: %w", err)
				}
				if ka.ReplyRequested {
					next = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse XLogData: %w", err)
				}
				if err := st.handle(ctx, x.WALData, &next); err != nil {
					return err
				}
			}
		}
	}
}

// handle decodes one pgoutput message and queues its records.
func (st *streamer) handle(ctx context.Context, data []byte, next *time.Time) error {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return fmt.Errorf("parse pgoutput message: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		st.relation(m)
	case *pglogrepl.BeginMessage:
		st.txLSN, st.txID, st.txTime, st.txSeq = m.FinalLSN, int64(m.Xid), m.CommitTime, 0
	case *pglogrepl.CommitMessage:
		// Nothing to emit: each record's offset already names the
		// transaction, and the slot is confirmed from stored offsets.
	case *pglogrepl.InsertMessage:
		return st.change(ctx, next, m.RelationID, "c", nil, 0, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return st.change(ctx, next, m.RelationID, "u", m.OldTuple, m.OldTupleType, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return st.change(ctx, next, m.RelationID, "d", m.OldTuple, m.OldTupleType, nil)
	}
	// Truncate, Type, Origin and logical messages are not captured, as
	// Debezium skips truncates by default.
	return nil
}

// relation records how the stream describes a relation; the key is the
// primary key the catalog named at start, else the replica identity.
func (st *streamer) relation(m *pglogrepl.RelationMessage) {
	known := st.tables[m.RelationID]
	if known == nil && !st.s.includes(m.Namespace, m.RelationName) {
		st.rels[m.RelationID] = nil
		return
	}
	pk := map[string]bool{}
	if known != nil {
		for _, c := range known.cols {
			pk[c.name] = c.key
		}
	}
	cols := make([]column, len(m.Columns))
	for i, c := range m.Columns {
		key := c.Flags&1 != 0
		if known != nil {
			key = pk[c.Name]
		}
		cols[i] = column{name: c.Name, oid: c.DataType, typmod: c.TypeModifier, key: key}
	}
	st.rels[m.RelationID] = newTable(st.s.prefix, m.Namespace, m.RelationName, cols)
}

// tuple returns a tuple's text values and which are unchanged TOAST.
func tuple(td *pglogrepl.TupleData) ([][]byte, []bool) {
	if td == nil {
		return nil, nil
	}
	vals, toast := make([][]byte, len(td.Columns)), make([]bool, len(td.Columns))
	for i, c := range td.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			vals[i] = c.Data
		case pglogrepl.TupleDataTypeToast:
			toast[i] = true
		}
	}
	return vals, toast
}

// change emits one change event (and a delete's tombstone) unless the
// resume point says it was stored already.
func (st *streamer) change(ctx context.Context, next *time.Time, rel uint32, op string, old *pglogrepl.TupleData, oldType uint8, newT *pglogrepl.TupleData) error {
	t, ok := st.rels[rel]
	if !ok {
		return fmt.Errorf("change of relation %d before its Relation message", rel)
	}
	if t == nil {
		return nil // not captured
	}
	var before, after *connect.Struct
	var err error
	if old != nil {
		// 'O' is the whole old row (REPLICA IDENTITY FULL); 'K' only its
		// key columns, the others null.
		vals, toast := tuple(old)
		if before, err = t.row(vals, toast); err != nil {
			return err
		}
	}
	if newT != nil {
		vals, toast := tuple(newT)
		if after, err = t.row(vals, toast); err != nil {
			return err
		}
	}
	si := sourceInfo{db: st.s.dbname, prefix: st.s.prefix, ts: st.txTime, txID: st.txID, lsn: int64(st.txLSN)}
	rec := t.event(op, before, after, si, st.offset(), st.partition)
	if err := st.emit(ctx, next, rec); err != nil {
		return err
	}
	if op == "d" && st.s.tombstones {
		return st.emit(ctx, next, tombstone(rec, st.offset()))
	}
	return nil
}

// offset numbers the next record of the transaction and returns its
// offset; skipped records are numbered too, so numbers match across
// restarts.
func (st *streamer) offset() map[string]any {
	st.txSeq++
	return map[string]any{OffsetLSN: int64(st.txLSN), OffsetTxID: st.txID, OffsetTsUsec: st.txTime.UnixMicro(), OffsetEvent: st.txSeq}
}

// emit queues a record for Poll, skipping those before the resume point;
// while Poll is behind it keeps the status updates going.
func (st *streamer) emit(ctx context.Context, next *time.Time, rec connect.SourceRecord) error {
	seq := rec.SourceOffset[OffsetEvent].(int64)
	if st.txLSN < st.resume.lsn || (st.txLSN == st.resume.lsn && seq <= st.resume.events) {
		return nil
	}
	for {
		wait := time.Until(*next)
		if wait <= 0 {
			if err := st.sendStatus(); err != nil {
				return err
			}
			*next = time.Now().Add(st.s.statusInterval)
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case st.out <- rec:
			timer.Stop()
			return nil
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// errStreamEnded is returned by Poll after the stream ended without an
// error (it does not, unless stopped).
var errStreamEnded = errors.New("replication stream ended")
