package perf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// BenchmarkConsole measures the web console's pages on a node hosting
// 10,000 partitions (100 topics of 100) and 20 groups with committed
// offsets, the console served by the node: ns/op is one page, rendered
// and read. The sampler runs meanwhile, as it does in use.
func BenchmarkConsole(b *testing.B) {
	const topics, parts, groups = 100, 100, 20
	n, err := fjord.NewNode(fjord.WithDataDir(b.TempDir()), fjord.WithConfig("http.listeners", "http://127.0.0.1:0"),
		fjord.WithConfig("http.console.enable", "true"))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RequestTimeoutOverhead(5*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32((4 * time.Minute).Milliseconds()))
	start := time.Now()
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("topic-%03d", i)
	}
	if _, err := adm.CreateTopics(ctx, parts, 1, nil, names...); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d partitions in %s", topics*parts, time.Since(start).Round(time.Millisecond))
	for g := range groups {
		offs := kadm.Offsets{}
		for p := range int32(parts) {
			offs.AddOffset(names[g], p, 0, -1)
		}
		if _, err := adm.CommitOffsets(ctx, fmt.Sprintf("group-%02d", g), offs); err != nil {
			b.Fatal(err)
		}
	}
	base := "http://" + n.HTTPAddr()
	for _, page := range []string{"/", "/topics", "/topics?q=topic-05", "/topics/topic-042", "/groups", "/groups/group-07"} {
		b.Run("page="+page, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				resp, err := http.Get(base + page)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %s", page, resp.StatusCode, body)
				}
				b.SetBytes(int64(len(body)))
			}
		})
	}
}
