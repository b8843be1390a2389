package perf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// BenchmarkScrape measures one GET /metrics of a node hosting 1,000 and
// 10,000 partitions (one topic; every partition led by the node), with
// per-partition series on and off, and of /metrics/node (the node-wide
// series only): ns/op is one scrape, and the series and bytes of a
// scrape are reported.
func BenchmarkScrape(b *testing.B) {
	for _, tc := range []struct {
		parts  int32
		series bool
	}{{1000, true}, {10000, true}, {10000, false}} {
		parts := tc.parts
		n, err := fjord.NewNode(fjord.WithDataDir(b.TempDir()), fjord.WithConfig("http.listeners", "http://127.0.0.1:0"),
			fjord.WithConfig("metrics.partition.series.enable", fmt.Sprint(tc.series)))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := n.Start(ctx); err != nil {
			b.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RequestTimeoutOverhead(5*time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		adm.SetTimeoutMillis(int32((4 * time.Minute).Milliseconds())) // 10,000 partitions take a while to create
		start := time.Now()
		if _, err := adm.CreateTopic(ctx, parts, 1, nil, "many"); err != nil {
			_ = n.Close()
			b.Fatal(err)
		}
		b.Logf("created %d partitions in %s", parts, time.Since(start).Round(time.Millisecond))
		cl.Close()
		cancel()
		for _, path := range []string{"/metrics", "/metrics/node"} {
			if path == "/metrics/node" && !tc.series {
				continue // the same as /metrics then
			}
			scrape(b, "http://"+n.HTTPAddr()+path, fmt.Sprintf("partitions=%d/per-partition-series=%v/path=%s", parts, tc.series, path))
		}
		_ = n.Close()
	}
}

// scrape runs one sub-benchmark of GETs of url.
func scrape(b *testing.B, url, name string) {
	b.Run(name, func(b *testing.B) {
		var body []byte
		for i := 0; i < b.N; i++ {
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		series := 0
		for _, l := range strings.Split(string(body), "\n") {
			if l != "" && l[0] != '#' {
				series++
			}
		}
		b.ReportMetric(float64(len(body)), "bytes/scrape")
		b.ReportMetric(float64(series), "series")
	})
}
