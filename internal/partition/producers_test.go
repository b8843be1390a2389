package partition

import (
	"reflect"
	"testing"
	"time"
)

func TestPartition_ActiveProducers(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, nil)
	if got := p.ActiveProducers(); len(got) != 0 {
		t.Fatalf("new partition lists producers %+v", got)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	appendAt := func(b []byte, at time.Time) {
		t.Helper()
		if _, err := p.Append(b, at); err != nil {
			t.Fatal(err)
		}
	}
	appendAt(idemBatch(9, 1, 0, 3), t0)
	appendAt(idemBatch(7, 0, 0, 2), t0.Add(time.Second))
	appendAt(idemBatch(7, 0, 2, 4), t0.Add(2*time.Second))
	appendAt(batch(2, t0.UnixMilli()), t0.Add(3*time.Second)) // no producer ID: not listed
	appendAt(idemBatch(9, 2, 0, 1), t0.Add(4*time.Second))    // epoch bump restarts the sequence

	want := []ProducerState{
		{ProducerID: 7, Epoch: 0, LastSequence: 5, LastTimestamp: t0.Add(2 * time.Second).UnixMilli(), CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
		{ProducerID: 9, Epoch: 2, LastSequence: 0, LastTimestamp: t0.Add(4 * time.Second).UnixMilli(), CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
	}
	got := p.ActiveProducers()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("active producers\n got %+v\nwant %+v", got, want)
	}
	got[0].Epoch = 99 // a copy: the partition's state is untouched
	if again := p.ActiveProducers(); !reflect.DeepEqual(again, want) {
		t.Fatalf("changing the snapshot changed the partition: %+v", again)
	}

	// The same state is listed after a restart (from the snapshot).
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openAt(t, dir, nil).ActiveProducers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening\n got %+v\nwant %+v", got, want)
	}
}
