package cli

import (
	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/bench"
)

func newBenchProduceCmd(g *globals) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Producer throughput and send->ack latency (kafka-producer-perf-test.sh)",
		Example: `  fjord bench produce --topic perf --records 1000000 --record-size 1024 --partitions 6
  fjord bench produce --duration 30s --throughput 50000 --acks 1 --compression lz4 --producers 4`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, g, &f, bench.Produce)
		}),
	}
	f.registerCommon(cmd)
	f.registerProducer(cmd)
	return cmd
}
