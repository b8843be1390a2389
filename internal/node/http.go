package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/console"
	"github.com/fjordstream/fjord/internal/metrics"
	"github.com/fjordstream/fjord/internal/server"
)

// httpCloseTimeout bounds how long Close waits for scrapes in flight.
const httpCloseTimeout = 5 * time.Second

// startHTTP opens the http.listeners (a port taken fails the start, as a
// Kafka listener's would) and serves /metrics, /healthz and /readyz on
// them from the beginning of Start: /readyz says why the node is not
// ready while it recovers its logs and catches up with the metadata.
func (n *Node) startHTTP() error {
	n.requestLog.Store(n.cfg.Broker.RequestLog)
	extra := map[string]http.Handler{
		"/admin/request-log": metrics.SettingHandler(func() string {
			if n.requestLog.Load() {
				return "on"
			}
			return "off"
		}, func(v string) error {
			switch strings.ToLower(v) {
			case "on", "true":
				n.requestLog.Store(true)
			case "off", "false":
				n.requestLog.Store(false)
			default:
				return fmt.Errorf("want on or off, not %q", v)
			}
			n.logger.Info("request log switched", "on", n.requestLog.Load())
			return nil
		}),
	}
	extra["GET /metrics/node"] = metrics.Handler(n.nodeRegistry, n.logger)
	if n.cfg.Broker.HTTPConsole {
		extra["/"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nc := n.console.Load()
			if nc == nil {
				http.Error(w, "the console starts once the node is ready (see /readyz)", http.StatusServiceUnavailable)
				return
			}
			nc.c.ServeHTTP(w, r)
		})
	}
	if lv := n.cfg.LogLevel; lv != nil {
		extra["/admin/log-level"] = metrics.SettingHandler(func() string { return strings.ToLower(lv.Level().String()) }, func(v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("want debug, info, warn or error: %w", err)
			}
			lv.Set(l)
			n.logger.Warn("log level changed", "level", strings.ToLower(l.String()))
			return nil
		})
	}
	for _, addr := range n.cfg.Broker.HTTPListeners {
		ln, err := server.Listen(addr)
		if err != nil {
			n.closeHTTP()
			return fmt.Errorf("http.listeners: %w", err)
		}
		s := metrics.NewServer(ln, n.registry, n.readiness, n.logger, extra)
		s.Start()
		n.httpSrvs = append(n.httpSrvs, s)
		addrs := make([]net.Addr, len(n.httpSrvs))
		for i, hs := range n.httpSrvs {
			addrs[i] = hs.Addr()
		}
		n.httpAddrs.Store(&addrs)
		n.logger.Info("serving metrics and health checks", "url", "http://"+ln.Addr().String())
	}
	return nil
}

// nodeConsole is the web console a node serves (http.console.enable),
// with the client it reaches the node through.
type nodeConsole struct {
	c  *console.Console
	cl *kgo.Client
}

// startConsole makes the console, over this node's first Kafka listener,
// once the node serves it.
func (n *Node) startConsole() {
	if !n.cfg.Broker.HTTPConsole || len(n.cfg.Broker.HTTPListeners) == 0 || len(n.srvs) == 0 {
		return
	}
	addr := n.Addr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		n.logger.Warn("the web console could not start", "err", err)
		return
	}
	var hosts []string
	for _, a := range n.cfg.Broker.HTTPListeners {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			hosts = append(hosts, h)
		}
	}
	// The other nodes' metrics are read at their brokers' hosts and this
	// node's HTTP port (a cluster's nodes share their configuration);
	// each node names itself in fjord_node_info, so a wrong guess is
	// skipped, not misread.
	port := 0
	if addrs := n.HTTPAddrs(); len(addrs) > 0 {
		if tcp, ok := addrs[0].(*net.TCPAddr); ok {
			port = tcp.Port
		}
	}
	c, err := console.New(console.Config{Client: cl, Seeds: []string{addr}, AllowedHosts: hosts, MetricsPort: port, Logger: n.logger})
	if err != nil {
		cl.Close()
		n.logger.Warn("the web console could not start", "err", err)
		return
	}
	n.console.Store(&nodeConsole{c: c, cl: cl})
}

// readiness is /readyz's answer: ready once Start finished, until the
// log directory fails or Close begins.
func (n *Node) readiness() error {
	switch {
	case n.closing.Load():
		return errors.New("shutting down")
	case !n.ready.Load():
		return errors.New("starting: recovering the logs, catching up with the metadata, opening the listeners")
	}
	select {
	case <-n.failed:
		return fmt.Errorf("the log directory failed: %w", n.Err())
	default:
	}
	return nil
}

// closeHTTP stops the HTTP listeners.
func (n *Node) closeHTTP() error {
	ctx, cancel := context.WithTimeout(context.Background(), httpCloseTimeout)
	defer cancel()
	var err error
	for _, s := range n.httpSrvs {
		err = errors.Join(err, s.Close(ctx))
	}
	n.httpSrvs = nil
	return err
}

// HTTPAddrs returns the bound addresses of the http.listeners, in order
// (none before Start binds them). Safe to call at any time.
func (n *Node) HTTPAddrs() []net.Addr {
	if p := n.httpAddrs.Load(); p != nil {
		return *p
	}
	return nil
}
