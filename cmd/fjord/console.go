package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/cli"
	"github.com/fjordstream/fjord/internal/console"
)

// consoleCommand is `fjord console`: the web console over any
// Kafka-compatible cluster, through the Kafka API.
func consoleCommand() *cobra.Command {
	var bootstrap, listen, connectURL string
	var allowedHosts, metricsURLs []string
	var metricsPort int
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console: the cluster, topics and consumer groups, through the Kafka API",
		Long: `Serve Fjord's web console on --listen (default 127.0.0.1:8080): the cluster's brokers and
partition health, the topics (search, partitions, leaders, replicas, ISR, offsets, sizes,
configs) and the consumer groups (state, members, lag per partition). It talks to the cluster
at --bootstrap-server (else $` + cli.EnvBootstrapServer + `, else localhost:9092) through the Kafka API only,
so it works with any Kafka-compatible cluster. See docs/console.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bootstrap == "" {
				bootstrap = strings.TrimSpace(os.Getenv(cli.EnvBootstrapServer))
			}
			if bootstrap == "" {
				bootstrap = "localhost:9092"
			}
			if connectURL == "" {
				connectURL = os.Getenv(envConnectURL)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			// Pages ask for fresh metadata: a topic just created shows at once.
			cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.MetadataMinAge(250*time.Millisecond))
			if err != nil {
				return cli.UsageError(fmt.Errorf("--bootstrap-server: %w", err))
			}
			defer cl.Close()
			if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
				allowedHosts = append(allowedHosts, h)
			}
			c, err := console.New(console.Config{Client: cl, Seeds: strings.Split(bootstrap, ","), ConnectURL: connectURL,
				AllowedHosts: allowedHosts, MetricsURLs: metricsURLs, MetricsPort: metricsPort, Logger: logger})
			if err != nil {
				return err
			}
			defer c.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
				WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			fmt.Fprintf(cmd.OutOrStdout(), "Fjord console: http://%s (cluster %s); Ctrl-C stops it.\n", ln.Addr(), bootstrap)
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&bootstrap, "bootstrap-server", "b", "", "the cluster (default $"+cli.EnvBootstrapServer+" or localhost:9092)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "host:port the console serves on")
	cmd.Flags().StringArrayVar(&allowedHosts, "allowed-host", nil, "a host name the console answers to, besides localhost and --listen's host (repeatable): the name in the browser's address bar")
	cmd.Flags().StringArrayVar(&metricsURLs, "metrics-url", nil, "a node's Prometheus endpoint (http.listeners; host:port or a URL) for the per-broker figures and charts (repeatable; default: every broker's host at --metrics-port)")
	cmd.Flags().IntVar(&metricsPort, "metrics-port", 9644, "without --metrics-url, the port of every broker's metrics (http.listeners' default); 0: no per-broker figures")
	cmd.Flags().StringVar(&connectURL, "connect-url", "", "a Kafka Connect worker's REST API, for the Connect pages (default $"+envConnectURL+"; none: no Connect pages)")
	return cmd
}
