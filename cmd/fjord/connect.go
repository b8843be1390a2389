package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/cluster"
	"github.com/fjordstream/fjord/internal/connect/rest"
	"github.com/fjordstream/fjord/internal/connect/standalone"
)

// envConnectURL names the environment variable giving the Connect REST
// API's URL to the client verbs.
const envConnectURL = "FJORD_CONNECT_URL"

// connectCommand is `fjord connect`: a standalone worker (what
// connect-standalone.sh runs) and client verbs over Kafka Connect's REST
// API, which work against any Kafka Connect worker.
func connectCommand() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Run a Kafka Connect worker, or manage connectors through a worker's REST API",
		Long: `fjord connect standalone runs a standalone Connect worker, as connect-standalone.sh does;
fjord connect distributed a distributed one, as connect-distributed.sh does. The other verbs talk to any Kafka Connect worker's REST API (Fjord's or Kafka's), at --url,
else $` + envConnectURL + `, else http://localhost:8083. See docs/connect.md.`,
	}
	cmd.PersistentFlags().StringVar(&url, "url", "", "the worker's REST API (default $"+envConnectURL+" or http://localhost:8083)")
	client := func() *rest.Client {
		u := url
		if u == "" {
			u = os.Getenv(envConnectURL)
		}
		if u == "" {
			u = "http://localhost:8083"
		}
		return rest.NewClient(strings.TrimRight(u, "/"), 100*time.Second)
	}
	cmd.AddCommand(connectStandaloneCommand(), connectDistributedCommand())
	for _, c := range connectClientCommands(client) {
		cmd.AddCommand(c)
	}
	return cmd
}

func connectStandaloneCommand() *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:   "standalone WORKER.properties [CONNECTOR.properties|CONNECTOR.json ...]",
		Short: "Run a standalone Connect worker (connect-standalone.sh)",
		Long: `Run a standalone Kafka Connect worker: worker.properties with Kafka's worker keys
(bootstrap.servers, key.converter, value.converter, offset.storage.file.filename, listeners, ...),
then connector configurations as .properties files or as JSON ({"name":..., "config":{...}} or a
plain config object). The REST API serves at listeners (default http://:8083). SIGINT or SIGTERM
stops the worker after its tasks stop and their offsets are flushed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			levels := rest.NewLevels(level)
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: levels.Var("root")}))
			worker, err := connect.ReadProperties(args[0])
			if err != nil {
				return err
			}
			var conns []map[string]string
			for _, a := range args[1:] {
				c, err := readConnectorFile(a)
				if err != nil {
					return err
				}
				conns = append(conns, c)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return standalone.Run(ctx, standalone.Config{Worker: worker, Connectors: conns, Logger: logger, Levels: levels,
				Ready: func(url string) {
					fmt.Fprintf(cmd.OutOrStdout(), "Fjord Connect standalone worker ready: rest=%s\n", strings.TrimPrefix(url, "http://"))
				}})
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func connectDistributedCommand() *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:   "distributed WORKER.properties",
		Short: "Run a distributed Connect worker (connect-distributed.sh)",
		Long: `Run a distributed Kafka Connect worker: worker.properties with Kafka's worker keys
(bootstrap.servers, group.id, config.storage.topic, offset.storage.topic, status.storage.topic,
converters, listeners, ...). Workers sharing group.id split connectors and tasks, keep their state
in the three topics (created compacted when missing), and forward REST writes to the group's leader.
Connectors are created through the REST API (fjord connect create). SIGINT or SIGTERM leaves the
group after the worker's tasks stop.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			levels := rest.NewLevels(level)
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: levels.Var("root")}))
			worker, err := connect.ReadProperties(args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return cluster.Run(ctx, cluster.Config{Worker: worker, Logger: logger, Levels: levels,
				Ready: func(url string) {
					fmt.Fprintf(cmd.OutOrStdout(), "Fjord Connect distributed worker ready: rest=%s\n", strings.TrimPrefix(url, "http://"))
				}})
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// readConnectorFile reads a connector configuration: a .properties file,
// or JSON (Kafka's POST /connectors body, or the config object alone).
func readConnectorFile(path string) (map[string]string, error) {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return parseConnectorJSON(b)
	}
	return connect.ReadProperties(path)
}

func parseConnectorJSON(b []byte) (map[string]string, error) {
	var body struct {
		Name   string         `json:"name"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(b, &body); err == nil && body.Config != nil {
		cfg := stringify(body.Config)
		if body.Name != "" {
			cfg[connect.KeyName] = body.Name
		}
		return cfg, nil
	}
	var flat map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		return nil, fmt.Errorf("connector JSON: %w", err)
	}
	return stringify(flat), nil
}

// stringify turns JSON values into config strings, as Kafka accepts
// numbers and booleans in connector configs.
func stringify(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}

func connectClientCommands(client func() *rest.Client) []*cobra.Command {
	byName := func(use, short string, fn func(ctx context.Context, c *rest.Client, name string, w io.Writer) error) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return fn(cmd.Context(), client(), args[0], cmd.OutOrStdout())
			}}
	}
	var expandStatus, expandInfo, includeTasks, onlyFailed, reset, allPlugins bool
	var alterFile string
	list := &cobra.Command{Use: "list", Short: "List connectors (GET /connectors)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expandStatus || expandInfo {
				out, err := client().ListExpanded(cmd.Context(), expandStatus, expandInfo)
				return printJSON(cmd.OutOrStdout(), out, err)
			}
			out, err := client().List(cmd.Context())
			return printJSON(cmd.OutOrStdout(), out, err)
		}}
	list.Flags().BoolVar(&expandStatus, "status", false, "with each connector's status (?expand=status)")
	list.Flags().BoolVar(&expandInfo, "info", false, "with each connector's configuration and tasks (?expand=info)")
	create := &cobra.Command{Use: "create FILE", Short: "Create (or update) a connector from a .properties or JSON file (PUT /connectors/{name}/config)",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := readConnectorFile(args[0])
			if err != nil {
				return err
			}
			name := cfg[connect.KeyName]
			if name == "" {
				return fmt.Errorf("%s: the configuration has no name", args[0])
			}
			info, _, err := client().PutConfig(cmd.Context(), name, cfg)
			return printJSON(cmd.OutOrStdout(), info, err)
		}}
	restart := byName("restart", "Restart a connector (POST /connectors/{name}/restart)", func(ctx context.Context, c *rest.Client, name string, w io.Writer) error {
		st, err := c.Restart(ctx, name, includeTasks, onlyFailed)
		if err != nil || st == nil {
			return err
		}
		return printJSON(w, st, nil)
	})
	restart.Flags().BoolVar(&includeTasks, "include-tasks", false, "restart the connector's tasks too")
	restart.Flags().BoolVar(&onlyFailed, "only-failed", false, "only what failed")
	offsets := byName("offsets", "Show a connector's offsets, or --reset or --alter them (stopped connectors)", func(ctx context.Context, c *rest.Client, name string, w io.Writer) error {
		switch {
		case reset:
			msg, err := c.ResetOffsets(ctx, name)
			return printJSON(w, map[string]string{"message": msg}, err)
		case alterFile != "":
			b, err := os.ReadFile(alterFile)
			if err != nil {
				return err
			}
			var offs connect.ConnectorOffsets
			if err := json.Unmarshal(b, &offs); err != nil {
				return fmt.Errorf("%s: %w", alterFile, err)
			}
			msg, err := c.AlterOffsets(ctx, name, offs)
			return printJSON(w, map[string]string{"message": msg}, err)
		}
		out, err := c.Offsets(ctx, name)
		return printJSON(w, out, err)
	})
	offsets.Flags().BoolVar(&reset, "reset", false, "reset the offsets (DELETE /connectors/{name}/offsets)")
	offsets.Flags().StringVar(&alterFile, "alter", "", `alter the offsets from a JSON file {"offsets":[...]} (PATCH)`)
	plugins := &cobra.Command{Use: "plugins", Short: "List connector plugins (GET /connector-plugins)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := client().Plugins(cmd.Context(), !allPlugins)
			return printJSON(cmd.OutOrStdout(), out, err)
		}}
	plugins.Flags().BoolVar(&allPlugins, "all", false, "converters, transforms and predicates too")
	return []*cobra.Command{list, create, restart, offsets, plugins,
		byName("get", "Show a connector (GET /connectors/{name})", func(ctx context.Context, c *rest.Client, name string, w io.Writer) error {
			out, err := c.Get(ctx, name)
			return printJSON(w, out, err)
		}),
		byName("status", "Show a connector's and its tasks' states", func(ctx context.Context, c *rest.Client, name string, w io.Writer) error {
			out, err := c.Status(ctx, name)
			return printJSON(w, out, err)
		}),
		byName("pause", "Pause a connector", func(ctx context.Context, c *rest.Client, name string, _ io.Writer) error { return c.Pause(ctx, name) }),
		byName("resume", "Resume a connector", func(ctx context.Context, c *rest.Client, name string, _ io.Writer) error { return c.Resume(ctx, name) }),
		byName("stop", "Stop a connector and its tasks (KIP-875)", func(ctx context.Context, c *rest.Client, name string, _ io.Writer) error { return c.Stop(ctx, name) }),
		byName("delete", "Delete a connector", func(ctx context.Context, c *rest.Client, name string, _ io.Writer) error { return c.Delete(ctx, name) }),
	}
}

// printJSON prints v indented, or returns err.
func printJSON(w io.Writer, v any, err error) error {
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
