package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/node"
)

// serverCommand is `fjord server`: a standalone node (broker and controller
// roles) configured by a Kafka-style properties file and overrides.
func serverCommand() *cobra.Command {
	var (
		configFile string
		overrides  []string
		dataDir    string
		logLevel   string
		logFormat  string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Fjord broker (standalone: broker and controller in one process)",
		Long: `Run a Fjord node. With no flags it listens on localhost:9092 and keeps its data in ./fjord-data.

Configuration uses Kafka's keys (see docs/config.md): --config reads a server.properties file,
--override key=value (repeatable) wins over the file, --data-dir is short for --override log.dirs=DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			props := map[string]string{}
			if configFile != "" {
				f, err := os.Open(configFile)
				if err != nil {
					return fmt.Errorf("config: %w", err)
				}
				props, err = config.ParseProperties(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("config %s: %w", configFile, err)
				}
			}
			for _, o := range overrides {
				k, v, ok := strings.Cut(o, "=")
				if !ok {
					return fmt.Errorf("--override %q: want key=value", o)
				}
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if dataDir != "" {
				props["log.dirs"] = dataDir
			}
			return runServer(cmd, props, logLevel, logFormat)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "server.properties file with Kafka-style keys")
	cmd.Flags().StringArrayVar(&overrides, "override", nil, "key=value overriding the config file (repeatable)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data folder (log.dirs); default ./fjord-data")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (changeable while running: PUT /admin/log-level on http.listeners)")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text (logfmt) or json")
	return cmd
}

func runServer(cmd *cobra.Command, props map[string]string, logLevel, logFormat string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	levelVar := &slog.LevelVar{}
	levelVar.Set(level)
	opts := &slog.HandlerOptions{Level: levelVar}
	var handler slog.Handler
	switch strings.ToLower(logFormat) {
	case "text":
		handler = slog.NewTextHandler(cmd.ErrOrStderr(), opts)
	case "json":
		handler = slog.NewJSONHandler(cmd.ErrOrStderr(), opts)
	default:
		return fmt.Errorf("--log-format %q: want text or json", logFormat)
	}
	logger := slog.New(handler)
	b, warnings, err := config.LoadBroker(props)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	n, err := node.New(node.Config{Broker: b, Props: props, Logger: logger, LogLevel: levelVar})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Fjord broker ready: bootstrap=%s data=%s\n", n.Addr(), n.DataDir())
	fmt.Fprintf(cmd.OutOrStdout(), "Connect any Kafka client to %s (e.g. kcat -b %s -L); Ctrl-C stops the broker.\n", n.Addr(), n.Addr())
	if err := waitStop(ctx, n); err != nil {
		// The node stopped serving on its own (its log directory
		// failed): close what is left and exit 1, as Kafka halts.
		logger.Error("stopping: the broker can no longer serve", "err", err)
		if cerr := n.Close(); cerr != nil {
			logger.Warn("closing after the failure", "err", cerr)
		}
		return err
	}
	logger.Info("shutting down")
	if err := n.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}

// failing is the part of a node that says it stopped on its own.
type failing interface {
	Failed() <-chan struct{}
	Err() error
}

// waitStop blocks until ctx ends (SIGINT, SIGTERM: a clean stop, nil) or
// the node fails on its own, and returns that failure: the decision that
// makes `fjord server` exit with status 1. Library code never exits the
// process; this command does.
func waitStop(ctx context.Context, n failing) error {
	select {
	case <-ctx.Done():
		return nil
	case <-n.Failed():
		return n.Err()
	}
}
