package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// forwardParam is Kafka's query flag for forwarded requests. A user's
// request has none; the first hop sends forward=true (the leader may
// forward once more if leadership moved meanwhile), the second
// forward=false, and a worker that is not the leader for a forward=false
// request gives up with 409: at most two hops, never a loop.
const forwardParam = "forward"

// forwardToLeader sends the request on to the leader and relays its
// answer: status, content type, location and body.
func (h *Handler) forwardToLeader(w http.ResponseWriter, c *call, leaderURL string) {
	next := ""
	switch v := c.r.URL.Query().Get(forwardParam); {
	case v == "":
		next = "true"
	case strings.EqualFold(v, "true"):
		next = "false"
	default:
		writeError(w, &httpError{status: http.StatusConflict, msg: msgTwoHops})
		return
	}
	if leaderURL == "" {
		writeError(w, &httpError{status: http.StatusConflict, msg: msgNoLeader})
		return
	}
	target, err := forwardURL(leaderURL, c.r.URL, next)
	if err != nil {
		writeError(w, err)
		return
	}
	// The forward has its own bound; the caller's context still cancels
	// it when the caller goes away.
	ctx, cancel := context.WithTimeout(c.r.Context(), h.opts.ForwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.r.Method, target, bytes.NewReader(c.body))
	if err != nil {
		writeError(w, fmt.Errorf("IO Error trying to forward REST request: %w", err))
		return
	}
	// Content negotiation and authentication go on; hop-by-hop headers
	// belong to this connection only.
	for _, k := range []string{"Content-Type", "Accept", "Authorization"} {
		if v := c.r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.forward.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			writeError(w, &httpError{status: http.StatusInternalServerError, msg: msgTimedOut})
			return
		}
		writeError(w, &httpError{status: http.StatusInternalServerError, msg: "IO Error trying to forward REST request: " + err.Error()})
		return
	}
	defer resp.Body.Close()
	// A leader's answer is as bounded as a request body: both are
	// configurations and statuses.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8*h.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, &httpError{status: http.StatusInternalServerError, msg: "IO Error trying to forward REST request: " + err.Error()})
		return
	}
	for _, k := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// forwardURL is the leader's URL for the request: the leader's base, the
// request's path (kept escaped) and query with the forward flag set.
func forwardURL(leader string, u *url.URL, forward string) (string, error) {
	base, err := url.Parse(strings.TrimRight(leader, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return "", &httpError{status: http.StatusInternalServerError, msg: fmt.Sprintf("Invalid leader URL %q", leader)}
	}
	q := u.Query()
	q.Set(forwardParam, forward)
	out := *base
	out.Path = base.Path + u.Path
	out.RawPath = ""
	if u.RawPath != "" {
		out.RawPath = base.EscapedPath() + u.RawPath
	}
	out.RawQuery = q.Encode()
	return out.String(), nil
}
