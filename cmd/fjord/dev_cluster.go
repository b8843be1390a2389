package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord"
	"github.com/fjordstream/fjord/internal/cli"
	"github.com/fjordstream/fjord/internal/config"
)

// devStartTimeout bounds forming the quorum and registering every broker;
// a cold start of nine nodes on two busy cores takes a few seconds.
const devStartTimeout = 2 * time.Minute

// devCommand is the `dev` noun: helpers for running Fjord locally.
func devCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local development helpers: a multi-node cluster in one process",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cli.UsageError(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(devClusterCommand())
	return cmd
}

// devClusterConfig is what `fjord dev cluster` was asked for.
type devClusterConfig struct {
	nodes    int
	racks    []string // node i gets racks[i%len(racks)]; none: no broker.rack
	dataDir  string   // parent of node-1..node-N, kept; "": temporary
	basePort int      // 0: free ports
	logLevel string
}

func devClusterCommand() *cobra.Command {
	var c devClusterConfig
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local cluster of N nodes in the foreground; Ctrl-C stops them all",
		Long: `Run a local Fjord cluster in this process: N nodes, each a broker and a voter of the
metadata quorum (combined mode), on loopback ports, each with its own data folder.
It prints each node's client port, controller port and data folder and the bootstrap
string, then serves until Ctrl-C (SIGINT) or SIGTERM, when it stops every node.

Ports are free ones chosen at start unless --base-port P is given: node i (1 to N) then
serves clients on P+i-1 and the quorum on P+N+i-1. --racks a,b,c sets broker.rack per node
(round-robin when fewer racks than nodes). The data lives in a temporary folder removed on
exit, unless --data-dir DIR is given: DIR/node-1 ... DIR/node-N are then kept, and a
second run on the same DIR (with the same --nodes) finds the cluster again.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cli.UsageError(fmt.Errorf("unexpected argument %q", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.validate(); err != nil {
				return cli.UsageError(err)
			}
			return runDevCluster(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c)
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.nodes, "nodes", 3, "number of nodes (1 to 9)")
	f.StringSliceVar(&c.racks, "racks", nil, "comma-separated broker.rack values, one per node (round-robin)")
	f.StringVar(&c.dataDir, "data-dir", "", "parent folder of the nodes' data folders, kept on exit (default: a temporary folder, removed)")
	f.IntVar(&c.basePort, "base-port", 0, "first client port; node i serves clients on base+i-1, the quorum on base+N+i-1 (default: free ports)")
	f.StringVar(&c.logLevel, "log-level", "warn", "broker logs to stderr: debug, info, warn or error")
	return cmd
}

func (c *devClusterConfig) validate() error {
	if c.nodes < 1 || c.nodes > 9 {
		return fmt.Errorf("--nodes %d: 1 to 9 are supported", c.nodes)
	}
	for i, r := range c.racks {
		if c.racks[i] = strings.TrimSpace(r); c.racks[i] == "" {
			return fmt.Errorf("--racks %q: an empty rack name", strings.Join(c.racks, ","))
		}
	}
	if c.basePort < 0 || c.basePort > 0 && c.basePort+2*c.nodes-1 > 65535 {
		return fmt.Errorf("--base-port %d: the cluster needs ports %d to %d", c.basePort, c.basePort, c.basePort+2*c.nodes-1)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}

// rack returns node i's broker.rack, "" for none.
func (c *devClusterConfig) rack(i int) string {
	if len(c.racks) == 0 {
		return ""
	}
	return c.racks[i%len(c.racks)]
}

// runDevCluster starts the cluster, prints where it is, serves until ctx
// ends (the CLI cancels it on SIGINT and SIGTERM) and stops every node.
func runDevCluster(ctx context.Context, out, errOut io.Writer, c devClusterConfig) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel)) // validated
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	opts := []fjord.Option{fjord.WithLogger(logger), fjord.WithBasePort(c.basePort)}
	if c.dataDir != "" {
		abs, err := filepath.Abs(c.dataDir)
		if err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		c.dataDir = abs
		opts = append(opts, fjord.WithDataDir(abs))
	}
	if len(c.racks) > 0 {
		opts = append(opts, fjord.WithNodeConfig(func(i int) map[string]string {
			return map[string]string{"broker.rack": c.rack(i)}
		}))
	}
	cl, err := fjord.NewCluster(c.nodes, opts...)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, devStartTimeout)
	defer cancel()
	fmt.Fprintf(out, "Starting a Fjord cluster of %d node(s)...\n", c.nodes)
	if err := cl.Start(startCtx); err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted while starting; every node is stopped")
		}
		return fmt.Errorf("start: %w", err)
	}
	printDevCluster(out, cl, c)
	<-ctx.Done()
	fmt.Fprintf(out, "Stopping %d node(s)...\n", c.nodes)
	if err := cl.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintln(out, "Stopped cleanly.")
	return nil
}

// printDevCluster prints the nodes and the bootstrap line. The line with
// "bootstrap=" is the same contract as `fjord server`'s ready line:
// scripts and tests wait for it.
func printDevCluster(out io.Writer, cl *fjord.Cluster, c devClusterConfig) {
	addrs, ctrl, dirs := cl.Addrs(), cl.ControllerAddrs(), cl.DataDirs()
	where := filepath.Dir(dirs[0]) + " (temporary: removed on exit)"
	if c.dataDir != "" {
		where = c.dataDir + " (kept on exit)"
	}
	fmt.Fprintf(out, "Cluster ID: %s\n", orDash(clusterIDOf(dirs[0])))
	fmt.Fprintf(out, "Data:       %s\n\n", where)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCLIENT\tCONTROLLER\tRACK\tDATA")
	for i := range addrs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, addrs[i], ctrl[i], orDash(c.rack(i)), dirs[i])
	}
	_ = tw.Flush() // out is the terminal or a pipe; nothing to do on failure
	bootstrap := strings.Join(addrs, ",")
	fmt.Fprintf(out, "\nFjord cluster ready: bootstrap=%s\n", bootstrap)
	fmt.Fprintf(out, "Try: fjord -b %s cluster info; Ctrl-C stops every node.\n", bootstrap)
}

// clusterIDOf reads the cluster ID a node wrote into its meta.properties
// at start, "" if it cannot be read.
func clusterIDOf(dir string) string {
	f, err := os.Open(filepath.Join(dir, "meta.properties"))
	if err != nil {
		return ""
	}
	defer f.Close()
	props, err := config.ParseProperties(f)
	if err != nil {
		return ""
	}
	return props["cluster.id"]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
