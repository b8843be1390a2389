package console

import (
	"context"
	"time"
)

// Token exposes a console's anti-forgery token to the external tests
// (package console_test, which start real nodes: package fjord imports
// this one through internal/node).
func Token(c *Console) string { return c.token }

// SampleOnce runs one round of the console's samplers (the cluster's end
// offsets and lag, and the nodes' metrics when configured), for the
// benchmarks.
func SampleOnce(ctx context.Context, c *Console) error {
	if c.nodes != nil {
		c.nodes.sample(ctx, c.adm, time.Now())
	}
	return c.history.sample(ctx, c.adm, time.Now())
}
