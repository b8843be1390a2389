package perf

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkOffsetCommit measures synchronous offset commits per second from
// one client (simple commits, generation -1, one partition each), each
// acknowledged only once durable in __consumer_offsets. Run it with e.g.
// -benchtime 2000x; ns/op is the commit latency, commits/s its inverse.
func BenchmarkOffsetCommit(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			topic := fmt.Sprintf("commit-%d", topicSeq.Add(1))
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
				b.Fatal(err)
			}
			// Warm up: find the coordinator once.
			if _, err := adm.CommitOffsets(ctx, "bench-group", kadm.Offsets{topic: {0: {At: 0}}}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				resp, err := adm.CommitOffsets(ctx, "bench-group", kadm.Offsets{topic: {0: {At: int64(i)}}})
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
		})
	}
}
