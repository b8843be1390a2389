package record

import (
	"encoding/binary"
	"fmt"
)

// Control records are Kafka's EndTransactionMarker: one record in a
// control batch (attributes control and transactional, the producer's ID
// and epoch, no sequence) whose key is version int16 (0) and type int16
// (0 abort, 1 commit), and whose value is version int16 (0) and the
// transaction coordinator's epoch int32. Other control types (KRaft's
// leader change and snapshot records) never appear in a partition's log.

// ControlType is a control record's type.
type ControlType int16

// The transaction markers' control types.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// Marker is a transaction marker: the end of a producer's transaction on
// a partition.
type Marker struct {
	Commit bool
	// CoordinatorEpoch is the epoch of the transaction coordinator that
	// wrote it: a marker from an older coordinator is refused.
	CoordinatorEpoch int32
}

// BuildMarker encodes m as a control batch of producerID at epoch,
// stamped timestamp (Unix ms), at base offset 0 (the log assigns it).
func BuildMarker(m Marker, producerID int64, epoch int16, timestamp int64) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(make([]byte, 0, 4), 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(make([]byte, 0, 6), 0), uint32(m.CoordinatorEpoch))
	return Build([]Record{{Key: key, Value: value}}, BuildOptions{BaseTimestamp: timestamp, Transactional: true, Control: true,
		ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1})
}

// ParseMarker decodes the transaction marker of a control batch (one
// whole, uncompressed batch). Anything else, or a control record of
// another type, is ErrInvalidRecord.
func ParseMarker(batch []byte) (Marker, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return Marker{}, err
	}
	if !h.IsControl() || !h.IsTransactional() || h.Compression() != CodecNone {
		// Kafka never compresses a control batch: nothing to inflate.
		return Marker{}, fmt.Errorf("%w: not an uncompressed transactional control batch (control %v, transactional %v, %s)",
			ErrInvalidRecord, h.IsControl(), h.IsTransactional(), h.Compression())
	}
	_, recs, err := Records(batch)
	if err != nil {
		return Marker{}, err
	}
	if len(recs) != 1 {
		return Marker{}, fmt.Errorf("%w: a control batch of %d records", ErrInvalidRecord, len(recs))
	}
	k, v := recs[0].Key, recs[0].Value
	if len(k) < 4 || len(v) < 6 {
		return Marker{}, fmt.Errorf("%w: control record key of %d bytes, value of %d", ErrInvalidRecord, len(k), len(v))
	}
	// Newer versions are read as version 0 (their fields come first), as
	// Kafka reads them; only a negative one is refused.
	if kv, vv := int16(binary.BigEndian.Uint16(k)), int16(binary.BigEndian.Uint16(v)); kv < 0 || vv < 0 {
		return Marker{}, fmt.Errorf("%w: control record key version %d, value version %d", ErrInvalidRecord, kv, vv)
	}
	switch typ := ControlType(binary.BigEndian.Uint16(k[2:])); typ {
	case ControlAbort, ControlCommit:
		return Marker{Commit: typ == ControlCommit, CoordinatorEpoch: int32(binary.BigEndian.Uint32(v[2:]))}, nil
	default:
		return Marker{}, fmt.Errorf("%w: control record type %d is not a transaction marker", ErrInvalidRecord, typ)
	}
}
