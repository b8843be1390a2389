package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// watchFlags is --watch and --watch-interval: re-run a describe until
// interrupted, as `watch kafka-consumer-groups.sh --describe` would.
type watchFlags struct {
	on       bool
	interval time.Duration
}

func (w *watchFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&w.on, "watch", "w", false, "describe again every --watch-interval until interrupted (Ctrl-C); with --output json, one JSON document per round")
	cmd.Flags().DurationVar(&w.interval, "watch-interval", 2*time.Second, "time between two rounds of --watch")
}

// run runs once, or, with --watch, every interval until ctx ends (a
// signal), each round headed by its time in table output. A round's
// failure is printed and the watch goes on: what is watched is often a
// cluster in trouble.
func (w *watchFlags) run(ctx context.Context, cmd *cobra.Command, g *globals, once func() error) error {
	if !w.on {
		return once()
	}
	if w.interval <= 0 {
		return usagef("--watch-interval %s: want more than 0", w.interval)
	}
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if !g.json() {
			fmt.Fprintf(cmd.OutOrStdout(), "--- %s (every %s; Ctrl-C stops) ---\n", time.Now().Format("15:04:05"), w.interval)
		}
		if err := once(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			renderError(cmd.ErrOrStderr(), err, g.json())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
