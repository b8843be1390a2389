package rest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// DefaultListeners is Kafka Connect's default `listeners`.
const DefaultListeners = "http://:8083"

// Server timeouts: a slow or idle client cannot hold a connection or a
// goroutine for long. Writes get the request timeout and a margin, so a
// herder call that runs to its bound still gets its 500 answered.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

// ParseListeners parses a `listeners` value: comma-separated
// http://host:port URLs, an empty host meaning every interface. Only
// http is supported (https would need the worker's TLS keys).
func ParseListeners(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultListeners
	}
	var addrs []string
	for _, l := range strings.Split(s, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		u, err := url.Parse(l)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", l, err)
		}
		if !strings.EqualFold(u.Scheme, "http") {
			return nil, fmt.Errorf("listener %q: scheme %q is not supported (http only)", l, u.Scheme)
		}
		if u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("listener %q: want http://host:port", l)
		}
		addrs = append(addrs, net.JoinHostPort(u.Hostname(), u.Port()))
	}
	if len(addrs) == 0 {
		return nil, errors.New("listeners: no listener given")
	}
	return addrs, nil
}

// Server serves a handler on the worker's listeners.
type Server struct {
	srv   *http.Server
	lns   []net.Listener
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error
}

// NewServer listens on listeners (a `listeners` value) and serves h; the
// listeners are open when it returns, so a port 0 listener's address is
// known (Addrs). requestTimeout is the handler's herder bound (0: the
// default), used to size the write timeout.
func NewServer(h http.Handler, listeners string, requestTimeout time.Duration) (*Server, error) {
	addrs, err := ParseListeners(listeners)
	if err != nil {
		return nil, err
	}
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: requestTimeout + 10*time.Second, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range s.lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listening on %s: %w", a, err)
		}
		s.lns = append(s.lns, ln)
	}
	for _, ln := range s.lns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errMu.Lock()
				s.err = errors.Join(s.err, fmt.Errorf("serving %s: %w", ln.Addr(), err))
				s.errMu.Unlock()
			}
		}()
	}
	return s, nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// URL returns the first listener's base URL (a wildcard host as
// localhost), what a worker advertises when nothing else is configured.
func (s *Server) URL() string {
	host, port, _ := net.SplitHostPort(s.lns[0].Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Close stops accepting connections and waits for requests in flight
// until ctx is done, then closes what is left; it returns the first serve
// error, if any.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("shutting down the REST server: %w", err), s.srv.Close())
	}
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return errors.Join(err, s.err)
}

// buildCommit is the VCS revision the binary was built from, shortened
// to Kafka's 16 characters, or "unknown" (Kafka's word) when not stamped.
func buildCommit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value[:min(16, len(s.Value))]
			}
		}
	}
	return "unknown"
}
