package log

import (
	"context"
	"fmt"
	"testing"

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
