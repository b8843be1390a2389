package hostile

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// Codecs as the batch attributes number them.
const (
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// bombBatch returns a batch of one record whose value is claimed zero
// bytes, compressed with codec: a small request that inflates to claimed.
func bombBatch(t testing.TB, codec int16, claimed int64) []byte {
	t.Helper()
	prefix, suffix := recordOf(claimed)
	src := io.MultiReader(bytes.NewReader(prefix), io.LimitReader(zeros{}, claimed), bytes.NewReader(suffix))
	var out bytes.Buffer
	var w io.WriteCloser
	var err error
	switch codec {
	case codecGzip:
		w, err = gzip.NewWriterLevel(&out, gzip.BestCompression)
	case codecLZ4:
		w = lz4.NewWriter(&out)
	case codecZstd:
		w, err = zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	case codecSnappy:
		raw, rerr := io.ReadAll(src) // snappy inflates 21x at most: claimed stays small
		if rerr != nil {
			t.Fatal(rerr)
		}
		return batch(codec, s2.EncodeSnappy(nil, raw), 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(struct{ io.Writer }{w}, src); err != nil { // plain writes: lz4.Writer.ReadFrom leaves it unclosable
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return batch(codec, out.Bytes(), 1)
}

// Settings of the bomb test's broker, and the bound docs/architecture.md
// (Memory) gives for them.
const (
	bombBudget     = 64 << 20 // queued.max.request.bytes
	bombMaxRequest = 10 << 20 // socket.request.max.bytes
	bombConns      = 48
	perConnection  = 23 << 17 // 2.3 MiB: buffers, a kept frame and response, stacks, decoded entries
)

// requestMemoryBound is the formula of docs/architecture.md: twice the
// requests' budget (budget less the decompression share) and the one
// request over it (Produce requests' decoded entries are counted after
// admission), the decompression share twice (charged, and decoders kept
// for reuse), and each connection's own buffers.
func requestMemoryBound(budget, maxRequest int64, conns int) int64 {
	share := max(budget/4, 16<<20)
	frames := max(budget-share, budget/2)
	return 2*(frames+max(maxRequest, 192<<20)) + 2*share + int64(conns)*perConnection
}

// Compression bombs from many connections at once are refused with
// CORRUPT_MESSAGE (a batch may inflate to 64 MiB at most; the snappy one
// is the largest a snappy batch can be, and valid) while a healthy
// client is served, and the broker's peak RSS stays under the documented
// bound: twice the request memory (Go's collector lets the heap grow to
// twice what is live) over the RSS before the bombs.
func TestHostile_CompressionBombsFromManyConnections(t *testing.T) {
	p := fjordtest.StartProcess(t, fjordtest.BuildBinary(t), t.TempDir(),
		"queued.max.request.bytes=67108864", "socket.request.max.bytes=10485760")
	addr := p.Addr()
	createTopics(t, addr, "bombs", "healthy")
	healthy(t, addr, "healthy")

	bombs := map[int16][]byte{
		codecZstd: bombBatch(t, codecZstd, 1<<30),
		codecGzip: bombBatch(t, codecGzip, 512<<20),
		codecLZ4:  bombBatch(t, codecLZ4, 200<<20),
		// Snappy inflates 21x at most, so a batch under message.max.bytes
		// cannot pass the 64 MiB bound: this one is a valid 7 MiB record,
		// accepted, whose inflating is charged whole to the 16 MiB share
		// (one validation may charge half of it).
		codecSnappy: bombBatch(t, codecSnappy, 7<<20),
	}
	for c, b := range bombs {
		t.Logf("codec %d bomb: %d bytes", c, len(b))
	}
	base, _ := rss(t, p.PID())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var healthyRounds atomic.Int64
	healthyDone := make(chan struct{})
	go func() {
		defer close(healthyDone)
		for ctx.Err() == nil {
			healthy(t, addr, "healthy")
			healthyRounds.Add(1)
		}
	}()

	const rounds = 4
	var wg sync.WaitGroup
	var refused atomic.Int64
	codecs := []int16{codecZstd, codecGzip, codecLZ4, codecSnappy}
	for i := range bombConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			for r := range rounds {
				codec := codecs[(i+r)%len(codecs)]
				code, err := c.produceCode(7, "bombs", bombs[codec], int32(r))
				if err != nil {
					t.Errorf("connection %d, codec %d: %v", i, codec, err)
					return
				}
				want := kerr.CorruptMessage.Code
				if codec == codecSnappy {
					want = 0
				}
				if code != want {
					t.Errorf("connection %d, codec %d bomb: error code %d, want %d", i, codec, code, want)
				}
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	cancel()
	<-healthyDone
	_, peak := rss(t, p.PID())
	bound := requestMemoryBound(bombBudget, bombMaxRequest, bombConns+4)
	t.Logf("%d bombs refused from %d connections; healthy rounds %d; RSS before %d MiB, peak %d MiB, bound %d MiB over the RSS before (2 x %d MiB)",
		refused.Load(), bombConns, healthyRounds.Load(), base>>20, peak>>20, (2*bound)>>20, bound>>20)
	if peak-base > 2*bound {
		t.Fatalf("peak RSS %d MiB is %d MiB over the RSS before the bombs, bound %d MiB", peak>>20, (peak-base)>>20, (2*bound)>>20)
	}
	healthy(t, addr, "healthy")
}

// createTopics creates one-partition topics.
func createTopics(t testing.TB, addr string, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Error(); err != nil {
		t.Fatal(err)
	}
}
