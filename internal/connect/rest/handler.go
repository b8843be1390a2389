// Package rest is Fjord Connect's REST API, compatible with Kafka
// Connect's: the same paths, JSON shapes, status codes and error bodies,
// so existing scripts and tools work unchanged. It holds the http.Handler
// over a connect.Herder, the Server that listens on the worker's
// `listeners`, the worker's logger levels (/admin/loggers) and a Client
// for the `fjord connect` CLI verbs.
//
// Invariants: every answer that is not a success carries Kafka's error
// body {"error_code", "message"} (unknown paths and wrong methods
// included); a request that reached a worker that is not the leader is
// forwarded at most two hops (Kafka's forward=true/false query flag), so
// workers never forward in a loop; every request body, outgoing call and
// herder call is bounded in size or time.
package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// Defaults for Options.
const (
	// DefaultVersion is what GET / reports: the Kafka Connect release
	// whose REST API Fjord Connect implements, marked as Fjord's so a
	// tool comparing versions sees 3.9 and a person sees Fjord.
	DefaultVersion = "3.9.0-fjord"
	// DefaultRequestTimeout bounds a herder call, Kafka's 90 s REST
	// request timeout.
	DefaultRequestTimeout = 90 * time.Second
	// DefaultForwardTimeout bounds a request forwarded to the leader.
	DefaultForwardTimeout = 30 * time.Second
	// DefaultMaxBodyBytes bounds a request body; connector
	// configurations are small, and the bound keeps a client from
	// holding a worker's memory.
	DefaultMaxBodyBytes = 4 << 20
)

// Options tune a Handler; zero values take the defaults.
type Options struct {
	// Version and Commit are GET /'s version and commit.
	Version string
	Commit  string
	// Loggers backs /admin/loggers; nil answers those paths 404.
	Loggers LogLevels
	// RequestTimeout bounds each herder call (500 "Request timed out"
	// past it, as Kafka answers).
	RequestTimeout time.Duration
	// ForwardTimeout bounds a request forwarded to the leader.
	ForwardTimeout time.Duration
	// MaxBodyBytes bounds a request body (413 past it).
	MaxBodyBytes int64
	// Transport sends forwarded requests; nil uses a default transport.
	Transport http.RoundTripper
	// Logger records answers of 500 (which a caller may not report);
	// nil discards.
	Logger *slog.Logger
	// TopicTrackingDisabled (topic.tracking.enable=false) answers the
	// topics endpoints 403; TopicResetDisabled
	// (topic.tracking.allow.reset=false) answers the reset 403.
	TopicTrackingDisabled, TopicResetDisabled bool
	// Metrics, when set, serves GET /metrics (Prometheus): Fjord's, as
	// Kafka Connect's metrics are JMX beans.
	Metrics http.Handler
}

// Handler is the REST API over a herder. It is safe for concurrent use.
type Handler struct {
	herder  connect.Herder
	opts    Options
	mux     *http.ServeMux
	forward *http.Client
}

// NewHandler returns the REST API over h.
func NewHandler(h connect.Herder, opts Options) *Handler {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Commit == "" {
		opts.Commit = buildCommit()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.ForwardTimeout <= 0 {
		opts.ForwardTimeout = DefaultForwardTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tr := opts.Transport
	if tr == nil {
		tr = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
			ResponseHeaderTimeout: opts.ForwardTimeout, TLSHandshakeTimeout: 10 * time.Second}
	}
	hd := &Handler{herder: h, opts: opts, mux: http.NewServeMux(),
		// Redirects are not followed: a leader answers, it does not
		// send the caller elsewhere.
		forward: &http.Client{Transport: tr, Timeout: opts.ForwardTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	hd.routes()
	return hd
}

// call is one request as an endpoint sees it: the body already read (so
// a forwarded request can send it again) and a context bounded by the
// request timeout.
type call struct {
	ctx      context.Context
	r        *http.Request
	body     []byte
	location string // the Location header of a 201
}

// endpoint answers a call with a status and a body (nil: no body).
type endpoint func(c *call) (int, any, error)

func (h *Handler) handle(pattern string, ep endpoint) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, ErrorMessage{ErrorCode: http.StatusRequestEntityTooLarge,
					Message: fmt.Sprintf("Request body is larger than %d bytes", tooBig.Limit)})
				return
			}
			writeError(w, badRequest("Cannot read request body: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.RequestTimeout)
		defer cancel()
		c := &call{ctx: ctx, r: r, body: body}
		status, out, err := ep(c)
		var nl *connect.NotLeaderError
		switch {
		case errors.As(err, &nl):
			h.forwardToLeader(w, c, nl.LeaderURL)
		case err != nil:
			if status, _ := errorStatus(err); status == http.StatusInternalServerError {
				h.opts.Logger.Error("connect REST request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		default:
			if c.location != "" {
				w.Header().Set("Location", c.location)
			}
			if out == nil {
				w.WriteHeader(status)
				return
			}
			writeJSON(w, status, out)
		}
	})
}

// ServeHTTP serves the API. Paths and methods the API does not have are
// answered with Kafka's error body (Jersey's "HTTP 404 Not Found" and
// "HTTP 405 Method Not Allowed" messages), not ServeMux's plain text.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	handler, pattern := h.mux.Handler(r)
	if pattern != "" {
		// Through the mux, not handler: only ServeHTTP sets the path
		// values ({name}) on the request.
		h.mux.ServeHTTP(w, r)
		return
	}
	// ServeMux knows whether the path exists with another method (405,
	// with Allow); run its answer into a recorder to learn which.
	rec := &statusRecorder{header: http.Header{}}
	handler.ServeHTTP(rec, r)
	status := rec.status
	if status >= 300 && status < 400 {
		// ServeMux's redirect to a cleaned path: let it answer.
		h.mux.ServeHTTP(w, r)
		return
	}
	if status != http.StatusMethodNotAllowed {
		status = http.StatusNotFound
	}
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	writeJSON(w, status, ErrorMessage{ErrorCode: status, Message: fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))})
}

// statusRecorder captures the status and headers ServeMux's own error
// handlers write, discarding their plain-text body.
type statusRecorder struct {
	header http.Header
	status int
}

// Header collects ServeMux's headers (Allow, for a 405).
func (s *statusRecorder) Header() http.Header { return s.header }

// Write drops the plain-text body; the JSON one replaces it.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}

// WriteHeader records the first status, as a ResponseWriter keeps it.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

func (h *Handler) routes() {
	h.handle("GET /{$}", h.root)

	h.handle("GET /connectors", h.listConnectors)
	h.handle("POST /connectors", h.createConnector)
	// Jersey answers the collection with a trailing slash too.
	h.handle("GET /connectors/{$}", h.listConnectors)
	h.handle("POST /connectors/{$}", h.createConnector)
	h.handle("GET /connector-plugins/{$}", h.listPlugins)
	h.handle("GET /admin/loggers/{$}", h.listLoggers)
	h.handle("GET /connectors/{name}", h.getConnector)
	h.handle("DELETE /connectors/{name}", h.deleteConnector)
	h.handle("GET /connectors/{name}/config", h.getConfig)
	h.handle("PUT /connectors/{name}/config", h.putConfig)
	h.handle("PATCH /connectors/{name}/config", h.patchConfig)
	h.handle("GET /connectors/{name}/status", h.status)
	h.handle("POST /connectors/{name}/restart", h.restart)
	h.handle("PUT /connectors/{name}/pause", h.targetState(http.StatusAccepted, h.herder.PauseConnector))
	h.handle("PUT /connectors/{name}/resume", h.targetState(http.StatusAccepted, h.herder.ResumeConnector))
	h.handle("PUT /connectors/{name}/stop", h.targetState(http.StatusNoContent, h.herder.StopConnector))
	h.handle("GET /connectors/{name}/tasks", h.tasks)
	h.handle("GET /connectors/{name}/tasks-config", h.tasksConfig)
	h.handle("GET /connectors/{name}/tasks/{task}/status", h.taskStatus)
	h.handle("POST /connectors/{name}/tasks/{task}/restart", h.restartTask)
	h.handle("GET /connectors/{name}/topics", h.topics)
	h.handle("PUT /connectors/{name}/topics/reset", h.resetTopics)
	h.handle("PUT /connectors/{name}/fence", h.fence)
	h.handle("GET /connectors/{name}/offsets", h.offsets)
	h.handle("PATCH /connectors/{name}/offsets", h.alterOffsets)
	h.handle("DELETE /connectors/{name}/offsets", h.resetOffsets)

	h.handle("GET /connector-plugins", h.listPlugins)
	h.handle("GET /connector-plugins/{plugin}/config", h.pluginConfig)
	h.handle("PUT /connector-plugins/{plugin}/config/validate", h.validate)

	if h.opts.Metrics != nil {
		h.mux.Handle("GET /metrics", h.opts.Metrics)
	}
	h.handle("GET /admin/loggers", h.listLoggers)
	h.handle("GET /admin/loggers/{logger}", h.getLogger)
	h.handle("PUT /admin/loggers/{logger}", h.setLogger)
}
