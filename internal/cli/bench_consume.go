package cli

import (
	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/bench"
)

func newBenchConsumeCmd(g *globals) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consumer throughput from the start of a topic (kafka-consumer-perf-test.sh)",
		Long: `Read the topic from its start and report throughput. Stops after --records,
after --duration, or when nothing arrived for --timeout (an error if fewer
than --records were read).`,
		Example: `  fjord bench consume --topic perf --records 1000000
  fjord bench consume --topic perf --duration 20s --group perf-readers`,
		Args: checkArgs(cobra.NoArgs),
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, g, &f, bench.Consume)
		}),
	}
	f.registerCommon(cmd)
	cmd.Flags().StringVar(&f.group, "group", "", "read as a member of this consumer group (default: assign all partitions)")
	return cmd
}
