package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// A marker built and parsed back is the same; its batch is a
// transactional control batch of the producer with no sequence.
func TestMarker_RoundTrip(t *testing.T) {
	for _, m := range []Marker{{Commit: true, CoordinatorEpoch: 7}, {Commit: false, CoordinatorEpoch: -1}} {
		b := BuildMarker(m, 42, 3, 1_700_000_000_000)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("header %+v", h)
		}
		got, err := ParseMarker(b)
		if err != nil || got != m {
			t.Fatalf("parsed %+v %v, want %+v", got, err, m)
		}
		_, recs, err := Records(b)
		if err != nil {
			t.Fatal(err)
		}
		// Kafka's bytes: key version 0 and type (1 commit, 0 abort);
		// value version 0 and the coordinator epoch.
		wantKey, wantValue := []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0}
		if m.Commit {
			wantKey[3] = 1
		}
		binary.BigEndian.PutUint32(wantValue[2:], uint32(m.CoordinatorEpoch))
		if !bytes.Equal(recs[0].Key, wantKey) || !bytes.Equal(recs[0].Value, wantValue) {
			t.Fatalf("key %x value %x, want %x %x", recs[0].Key, recs[0].Value, wantKey, wantValue)
		}
	}
	data := Build([]Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}, BuildOptions{Transactional: true})
	if _, err := ParseMarker(data); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("a data batch parsed as a marker: %v", err)
	}
	leaderChange := Build([]Record{{Key: []byte{0, 0, 0, 2}, Value: []byte{0, 0, 0, 0, 0, 0}}}, BuildOptions{Control: true, Transactional: true})
	if _, err := ParseMarker(leaderChange); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("a leader-change control record parsed as a marker: %v", err)
	}
}

// ParseMarker takes any bytes without panicking; a marker it accepts,
// built again, parses the same.
func FuzzParseMarker(f *testing.F) {
	f.Add(BuildMarker(Marker{Commit: true, CoordinatorEpoch: 1}, 1, 0, 0))
	f.Add(BuildMarker(Marker{}, 9, 9, 9))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMarker(b)
		if err != nil {
			return
		}
		if again, err := ParseMarker(BuildMarker(m, 1, 1, 0)); err != nil || again != m {
			t.Fatalf("%+v built again parses as %+v %v", m, again, err)
		}
	})
}
