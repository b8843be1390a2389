package rest

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/fjordstream/fjord/internal/connect"
)

// StartingHandler lets the REST server listen (its port is the worker's
// ID) before the herder exists; until Set, it answers 503, as a Kafka
// worker still starting does.
type StartingHandler struct {
	h atomic.Pointer[http.Handler]
}

// Set installs the handler that serves from now on.
func (s *StartingHandler) Set(h http.Handler) { s.h.Store(&h) }

// ServeHTTP implements http.Handler.
func (s *StartingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error_code":503,"message":"The worker is starting"}`))
}

// AdvertisedID is the worker's host:port as other workers and statuses
// name it: the server's address, with rest.advertised.host.name and
// rest.advertised.port in its place when set.
func AdvertisedID(props *connect.Props, srv *Server) string {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL(), "http://"))
	if h := props.String(connect.WorkerRestAdvertisedHost); h != "" {
		host = h
	}
	if p := props.Int(connect.WorkerRestAdvertisedPort); p > 0 {
		port = strconv.FormatInt(p, 10)
	}
	return net.JoinHostPort(host, port)
}
