package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// meter counts records and bytes from any goroutine and remembers when the
// last one arrived, which is where a run's Elapsed ends.
type meter struct {
	records atomic.Int64
	bytes   atomic.Int64
	lastNs  atomic.Int64 // UnixNano of the latest add
}

func (m *meter) add(records, bytes int64, now time.Time) {
	m.records.Add(records)
	m.bytes.Add(bytes)
	ns := now.UnixNano()
	for {
		cur := m.lastNs.Load()
		if ns <= cur || m.lastNs.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// elapsedSince returns the time from start to the last add, or 0 if nothing
// was added.
func (m *meter) elapsedSince(start time.Time) time.Duration {
	ns := m.lastNs.Load()
	if ns == 0 {
		return 0
	}
	return time.Unix(0, ns).Sub(start)
}

// startProgress runs cfg.Progress every cfg.ProgressInterval, reporting m,
// until the returned stop function is called; stop waits for the goroutine to
// end, so no callback runs after it returns.
func startProgress(cfg Config, m *meter, start time.Time) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(cfg.ProgressInterval)
		defer t.Stop()
		var lastRecords, lastBytes int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				records, bytes := m.records.Load(), m.bytes.Load()
				secs := now.Sub(last).Seconds()
				p := Progress{Elapsed: now.Sub(start), Records: records, Bytes: bytes}
				if secs > 0 {
					p.RecordsPerSec = float64(records-lastRecords) / secs
					p.MBPerSec = float64(bytes-lastBytes) / bytesPerMB / secs
				}
				cfg.Progress(p)
				lastRecords, lastBytes, last = records, bytes, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// sleepCtx waits d or until done closes, reporting whether the full wait
// elapsed.
func sleepCtx(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
