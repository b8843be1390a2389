package partition

import "testing"

func TestDelayed_WakesOnlyMatchingKeyAndEvent(t *testing.T) {
	d := NewDelayed(2)
	a, b := ID{"t", 0}, ID{"t", 1}
	hw, err := d.Watch(HighWatermarkMoved, []ID{a, b})
	if err != nil {
		t.Fatal(err)
	}
	leo, err := d.Watch(LogEndMoved, []ID{a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Watch(LogEndMoved, []ID{a}); err == nil {
		t.Fatal("a third waiter was accepted by a registry of two")
	}
	pending := func(w *Waiter) bool {
		select {
		case <-w.C():
			return true
		default:
			return false
		}
	}
	d.Notify(ID{"other", 0}, HighWatermarkMoved|LogEndMoved)
	if pending(hw) || pending(leo) {
		t.Fatal("a change of another partition woke a waiter")
	}
	d.Notify(b, LogEndMoved)
	if pending(hw) || pending(leo) {
		t.Fatal("a log-end change of b woke a waiter not waiting for it")
	}
	d.Notify(b, HighWatermarkMoved)
	d.Notify(b, HighWatermarkMoved) // coalesced: one pending signal
	if !pending(hw) || pending(hw) || pending(leo) {
		t.Fatal("a high-watermark change of b must wake exactly the high-watermark waiter, once")
	}
	d.Notify(a, LogEndMoved)
	if !pending(leo) || pending(hw) {
		t.Fatal("a log-end change of a must wake the log-end waiter only")
	}
	d.Cancel(hw)
	d.Cancel(hw) // idempotent
	d.Cancel(leo)
	if d.Len() != 0 || len(d.byKey) != 0 {
		t.Fatalf("%d waiters, %d keys left after cancelling all", d.Len(), len(d.byKey))
	}
	d.Notify(a, HighWatermarkMoved|LogEndMoved)
	if pending(hw) || pending(leo) {
		t.Fatal("a cancelled waiter was woken")
	}
}
