package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSettingHandler(t *testing.T) {
	value := "off"
	h := SettingHandler(func() string { return value }, func(v string) error {
		if v != "on" && v != "off" {
			return errors.New("want on or off")
		}
		value = v
		return nil
	})
	do := func(method, body string, hdr ...string) (int, string) {
		req := httptest.NewRequest(method, "/admin/x", strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	for _, c := range []struct {
		method, body string
		hdr          []string
		code         int
		answer       string
	}{
		{"GET", "", nil, 200, "off"},
		{"PUT", "on\n", nil, 200, "on"},
		{"PUT", "loud", nil, 400, "want on or off"},
		{"PUT", strings.Repeat("x", 100), nil, 400, "the value is too long"},
		{"POST", "off", nil, 405, "GET or PUT"},
		{"PUT", "off", []string{"Origin", "http://evil.example"}, 403, "cross-origin requests are refused"},
		{"GET", "", nil, 200, "on"},
	} {
		code, answer := do(c.method, c.body, c.hdr...)
		if code != c.code || answer != c.answer {
			t.Errorf("%s %q %v: %d %q, want %d %q", c.method, c.body, c.hdr, code, answer, c.code, c.answer)
		}
	}
}

func TestServer_HealthReadinessAndClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	s := NewServer(ln, NewRegistry(), func() error {
		if !ready.Load() {
			return errors.New("recovering")
		}
		return nil
	}, slog.New(slog.DiscardHandler), nil)
	s.Start()
	base := "http://" + s.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "recovering") {
		t.Fatalf("/readyz while not ready: %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
}
