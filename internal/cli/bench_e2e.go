package cli

import (
	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/bench"
)

func newBenchE2ECmd(g *globals) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "End-to-end latency: produce time to consume time, at a fixed rate",
		Long: `Produce at --throughput while a consumer reads the same topic, and report
the latency from each record's send to its arrival at the consumer. Keep
--throughput below the cluster's capacity, or the figure measures queueing.
Fails if some acknowledged records are never read back within --timeout.`,
		Example: `  fjord bench e2e --topic lat --records 20000 --throughput 2000 --record-size 256`,
		Args:    checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, g, &f, bench.E2E)
		}),
	}
	f.registerCommon(cmd)
	f.registerProducer(cmd)
	return cmd
}
