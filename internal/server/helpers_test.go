package server_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// startNode runs an embedded broker for one test, with its data in a test
// folder so the test can restart it on the same data.
func startNode(t *testing.T, dir string, kv ...string) *fjord.Node {
	t.Helper()
	opts := []fjord.Option{fjord.WithDataDir(dir)}
	if testing.Verbose() {
		opts = append(opts, fjord.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, fjord.WithConfig(kv[i], kv[i+1]))
	}
	n, err := fjord.NewNode(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
