// Package cli is the `fjord` command-line client: topic and consumer-group administration,
// produce, consume, cluster inspection and benchmarks, in Kafka's tool
// vocabulary (kafka-topics.sh, kafka-console-producer/consumer.sh,
// kafka-broker-api-versions.sh, the perf-test scripts).
//
// It reaches brokers only through franz-go's kgo and kadm, so it works
// against any Kafka-compatible broker, not just Fjord. cmd/fjord builds the
// tree with NewRoot (adding the `server` command) and runs it with Execute.
//
// Invariants: NewRoot builds a fresh tree with no package-level state, so
// several trees can run at once (tests do); results go to the command's
// stdout as tables or, with --output json, JSON; diagnostics go to stderr
// and name the Kafka error (e.g. TOPIC_ALREADY_EXISTS) with a hint; every
// broker call is bounded by --timeout; exit codes are ExitOK, ExitError or
// ExitUsage.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes returned by Execute.
const (
	// ExitOK means the command succeeded.
	ExitOK = 0
	// ExitError means the command ran and failed: a Kafka error, an
	// unreachable broker, a timeout.
	ExitError = 1
	// ExitUsage means the command line itself was wrong (unknown flag,
	// missing argument, contradictory options).
	ExitUsage = 2
)

// EnvBootstrapServer names the environment variable that supplies
// --bootstrap-server when the flag is not given.
const EnvBootstrapServer = "FJORD_BOOTSTRAP_SERVER"

const (
	defaultBootstrap = "localhost:9092"
	defaultTimeout   = 30 * time.Second
	outputTable      = "table"
	outputJSON       = "json"
)

// globals holds the persistent flags shared by every command of one tree.
type globals struct {
	bootstrap string
	output    string
	timeout   time.Duration
}

// NewRoot builds the `fjord` command tree. extra commands (cmd/fjord passes
// `server`) are added at the top level next to topic, produce, consume,
// cluster and bench.
func NewRoot(extra ...*cobra.Command) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "fjord",
		Short: "Fjord: a Kafka-compatible broker and its command-line client",
		Long: `fjord talks to any Kafka-compatible cluster (Fjord or Kafka itself):
manage topics, produce and consume records, inspect the cluster, benchmark.

The broker address comes from --bootstrap-server, else $` + EnvBootstrapServer + `,
else ` + defaultBootstrap + `.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.resolve(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.bootstrap, "bootstrap-server", "b", defaultBootstrap,
		"comma-separated broker addresses (host:port); also $"+EnvBootstrapServer)
	pf.StringVarP(&g.output, "output", "o", outputTable, "output format: table or json")
	pf.DurationVar(&g.timeout, "timeout", defaultTimeout,
		"bound on each broker operation; for consume, how long to wait idle before exiting (0: no bound)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })

	root.AddCommand(
		newTopicCmd(g),
		newProduceCmd(g),
		newConsumeCmd(g),
		newConsumerGroupCmd(g),
		newTransactionCmd(g),
		newClusterCmd(g),
		newStorageCmd(g),
		newBenchCmd(g),
	)
	root.AddCommand(extra...)
	return root
}

// newGroupCmd is a noun that only holds verbs: alone it prints its help, and
// an unknown verb is a usage error (cobra would otherwise print help and
// succeed).
func newGroupCmd(use, short string, aliases ...string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Aliases: aliases,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
}

// resolve applies the environment fallback and validates the globals.
func (g *globals) resolve(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("bootstrap-server") {
		if env := strings.TrimSpace(os.Getenv(EnvBootstrapServer)); env != "" {
			g.bootstrap = env
		}
	}
	if len(g.brokers()) == 0 {
		return usageErr(errors.New("--bootstrap-server is empty"))
	}
	switch g.output {
	case outputTable, outputJSON:
	default:
		return usageErr(fmt.Errorf("--output %q: want table or json", g.output))
	}
	if g.timeout < 0 {
		return usageErr(fmt.Errorf("--timeout %s is negative", g.timeout))
	}
	return nil
}

// brokers splits --bootstrap-server into addresses.
func (g *globals) brokers() []string {
	var out []string
	for _, b := range strings.Split(g.bootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (g *globals) json() bool { return g.output == outputJSON }

// opCtx bounds one broker operation by --timeout (0: only by ctx).
func (g *globals) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, g.timeout)
}

// Execute runs root with args, writing to stdout and stderr, and returns the
// process exit code. SIGINT and SIGTERM cancel the running command (consume
// and bench then print what they have); a second signal kills the process.
// Standard input is root's (root.SetIn), os.Stdin by default.
func Execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default so a second one kills a
	// command stuck in a read that cannot see the context (a terminal).
	defer context.AfterFunc(ctx, stop)()
	return ExecuteContext(ctx, root, args, stdout, stderr)
}

// ExecuteContext is Execute with the caller's context instead of signal
// handling, for tests and embedding.
func ExecuteContext(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	jsonOut := false
	if f := root.PersistentFlags().Lookup("output"); f != nil {
		jsonOut = f.Value.String() == outputJSON
	}
	if ue, ok := errors.AsType[*usageError](err); ok {
		renderError(stderr, ue.err, jsonOut)
		if cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ExitUsage
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		// cobra reports unknown subcommands without a typed error.
		renderError(stderr, err, jsonOut)
		return ExitUsage
	}
	renderError(stderr, err, jsonOut)
	return ExitError
}
