package log

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// BenchmarkClean measures the cleaner's throughput (segment bytes read per
// second) compacting a log of 16 x 1 KiB-record batches over 1,000 keys,
// about 32 MiB in 1 MiB segments, where each key was written 32 times.
func BenchmarkClean(b *testing.B) {
	value := make([]byte, 1024)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := compactConfig()
		cfg.SegmentBytes = 1 << 20
		e := newEnv(b, cfg)
		l := e.open()
		recs := make([]kv, 16)
		for n := 0; n < 2000; n++ {
			for j := range recs {
				recs[j] = kv{key: []byte(fmt.Sprintf("key-%04d", (n*16+j)%1000)), value: value}
			}
			if _, err := l.Append(keyedBatch(recs, e.clock.Now().UnixMilli(), record.BuildOptions{}), 0, -1); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		stats, err := l.Clean(context.Background(), CleanOptions{Now: e.clock.Now(), HighWatermark: l.LogEndOffset()})
		b.StopTimer()
		if err != nil || !stats.Cleaned {
			b.Fatalf("clean: %+v %v", stats, err)
		}
		b.SetBytes(stats.BytesRead)
		b.ReportMetric(float64(stats.RecordsKept), "records-kept")
		_ = l.Close()
	}
}

// BenchmarkAppendWhileCleaning measures what a running clean costs a
// producer: append throughput of 1 KiB batches (one record) to a log
// while a goroutine compacts another log of the same filesystem over and
// over, against no clean at all. The cleaned log holds 32 MiB of 1 KiB
// records under unique keys, so every clean maps and rewrites all of it
// (the cleaner's worst case: 64 MiB read and 32 MiB written, fsynced, per
// clean); its cleaner checkpoint is reset before each clean. Cleaner
// variants: "default" is log.cleaner.io.max.bytes.per.second's default
// (Double.MAX_VALUE: no limit, as in Kafka), "throttled" is 8 MiB/s.
// "sync" waits for each append's fsync (flush.messages=1 / acks=all in
// durable mode), "nosync" does not. Reports clean-MB/s, the cleaner's
// throughput during the run.
func BenchmarkAppendWhileCleaning(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, mode := range []struct {
			name string
			rate float64 // bytes per second; 0: no cleaner
		}{
			{"none", 0},
			{"default", math.MaxFloat64},
			{"throttled", 8 << 20},
		} {
			name := "nosync/cleaner=" + mode.name
			if fsync {
				name = "sync/cleaner=" + mode.name
			}
			b.Run(name, func(b *testing.B) { benchAppendWhileCleaning(b, fsync, mode.rate) })
		}
	}
}

func benchAppendWhileCleaning(b *testing.B, fsync bool, rate float64) {
	e := newEnv(b, DefaultConfig())
	l := e.open()
	defer l.Close()
	batch := keyedBatch([]kv{{[]byte("key"), make([]byte, 1024)}}, 1, record.BuildOptions{})

	var (
		wg      sync.WaitGroup
		cleaned atomic.Int64
		thr     *Throttle
	)
	ctx, cancel := context.WithCancel(context.Background())
	if rate > 0 {
		dl := dirtyLog(b, 32<<20)
		defer dl.Close()
		thr = NewThrottle(rate)
		wg.Go(func() {
			for ctx.Err() == nil {
				dl.mu.Lock()
				dl.firstDirty = 0 // clean everything again
				dl.mu.Unlock()
				st, err := dl.Clean(ctx, CleanOptions{Now: time.Now(), HighWatermark: math.MaxInt64, Throttle: thr})
				if err != nil && ctx.Err() == nil {
					b.Errorf("clean: %v", err)
					return
				}
				if st.Cleaned {
					cleaned.Add(1)
				}
			}
		})
	}
	b.SetBytes(int64(len(batch)))
	// No ReportAllocs: it would count the cleaner goroutine's allocations too.
	start := time.Now()
	before := thr.Consumed()
	for b.Loop() {
		info, err := l.Append(batch, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if fsync {
			if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	moved := thr.Consumed() - before
	cancel()
	wg.Wait()
	if rate > 0 {
		b.ReportMetric(float64(moved)/elapsed.Seconds()/1e6, "clean-MB/s")
		b.ReportMetric(float64(cleaned.Load()), "cleans")
	}
}

// dirtyLog builds a compacted log of size bytes of 1 KiB records under
// unique keys, in 1 MiB segments, the last segment rolled.
func dirtyLog(b *testing.B, size int) *Log {
	cfg := DefaultConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 1 << 20
	e := newEnv(b, cfg)
	l := e.open()
	value := make([]byte, 1024)
	recs := make([]kv, 16)
	for n := 0; n*16*len(value) < size; n++ {
		for j := range recs {
			recs[j] = kv{key: []byte(fmt.Sprintf("key-%08d", n*16+j)), value: value}
		}
		if _, err := l.Append(keyedBatch(recs, e.clock.Now().UnixMilli(), record.BuildOptions{}), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	return l
}
