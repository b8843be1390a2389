// Package metrics is a node's observability surface: a Prometheus registry
// of its own (never the process-wide default one, so two nodes in one
// process never share or clash) and the HTTP listener that serves it at
// /metrics, with /healthz and /readyz for probes.
//
// Invariants: every metric a node exposes is registered on its Registry;
// /healthz answers 200 while the process serves HTTP at all; /readyz
// answers 200 only once the node says it is ready (its log recovery done,
// its metadata caught up, its Kafka listeners up), 503 with the reason
// before that and after it starts closing.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name: fjord_<component>_<name>_<unit>.
const Namespace = "fjord"

// NewRegistry returns a node's registry, with the Go runtime's and the
// process's collectors (CPU, memory, open files) already on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Tee registers every collector on each of its registerers: the metrics
// a node serves both at /metrics and at /metrics/node.
type Tee []prometheus.Registerer

// Register registers c on each registerer; on an error it unregisters c
// from those that took it and returns the error.
func (t Tee) Register(c prometheus.Collector) error {
	for i, r := range t {
		if err := r.Register(c); err != nil {
			for _, done := range t[:i] {
				done.Unregister(c)
			}
			return err
		}
	}
	return nil
}

// MustRegister registers cs on each registerer, panicking on an error as
// prometheus.Registry.MustRegister does.
func (t Tee) MustRegister(cs ...prometheus.Collector) {
	for _, r := range t {
		r.MustRegister(cs...)
	}
}

// Unregister unregisters c from each registerer; true if any had it.
func (t Tee) Unregister(c prometheus.Collector) bool {
	found := false
	for _, r := range t {
		found = r.Unregister(c) || found
	}
	return found
}

// Handler serves reg in Prometheus' format: at most 4 scrapes at once
// (more are answered 503), each bounded in time; encoding errors go to
// logger.
func Handler(reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{logger},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             writeTimeout - time.Second,
	})
}

// Readiness is what /readyz reports: nil when ready, else why not.
type Readiness func() error

// Server serves one HTTP listener: /metrics from the registry, /healthz
// and /readyz. It is safe for concurrent use.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
	done   chan struct{}
	once   sync.Once
	closed atomic.Bool
}

// Timeouts of the HTTP server: a scrape is small and quick; slow or idle
// clients must not hold connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second // a whole request, body included
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// NewServer returns a server for ln (Start serves it) exposing reg, and
// asking ready for /readyz. extra adds the node's other endpoints, by
// pattern (net/http's ServeMux patterns).
func NewServer(ln net.Listener, reg *prometheus.Registry, ready Readiness, logger *slog.Logger, extra map[string]http.Handler) *Server {
	s := &Server{ln: ln, logger: logger, done: make(chan struct{})}
	mux := http.NewServeMux()
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	mux.Handle("GET /metrics", Handler(reg, logger))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		err := errors.New("closing")
		if !s.closed.Load() {
			err = ready()
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
	return s
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Start serves on a goroutine the server owns; Close stops it.
func (s *Server) Start() {
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics listener stopped", "addr", s.ln.Addr().String(), "err", err)
		}
	}()
}

// Close makes /readyz fail, then stops the server, waiting up to ctx for
// requests in flight.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		if err = s.srv.Shutdown(ctx); err != nil {
			err = errors.Join(err, s.srv.Close())
		}
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	})
	return err
}

// slogPrinter lets promhttp report encoding errors to the node's log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("metrics: " + fmt.Sprint(v...)) }

// maxSettingBody bounds the body of a PUT that changes a setting.
const maxSettingBody = 64

// SettingHandler serves one runtime setting as text: GET answers its
// value, PUT sets it from the body (set refuses a bad value: 400 with the
// reason).
func SettingHandler(get func() string, set func(string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Header.Get("Origin") != "" {
			// A browser's request (a page the operator has open): a
			// setting changes only from tools such as curl.
			http.Error(w, "cross-origin requests are refused", http.StatusForbidden)
			return
		}
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut:
			body, err := io.ReadAll(io.LimitReader(r.Body, maxSettingBody+1))
			if err != nil || len(body) > maxSettingBody {
				http.Error(w, "the value is too long", http.StatusBadRequest)
				return
			}
			if err := set(strings.TrimSpace(string(body))); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		default:
			w.Header().Set("Allow", "GET, PUT")
			http.Error(w, "GET or PUT", http.StatusMethodNotAllowed)
			return
		}
		fmt.Fprintln(w, get())
	})
}
