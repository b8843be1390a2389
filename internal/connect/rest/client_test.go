package rest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// TestClient_AgainstServer drives every client method through a real
// Server on a loopback port, so the client, the handler and the listener
// code meet.
func TestClient_AgainstServer(t *testing.T) {
	f := newFakeHerder()
	levels := NewLevels(slog.LevelInfo)
	srv, err := NewServer(NewHandler(f, Options{Loggers: levels}), "http://127.0.0.1:0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := NewClient(srv.URL(), 5*time.Second)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	si, err := c.ServerInfo(ctx)
	must(err)
	if si.Version != DefaultVersion || si.KafkaClusterID == "" {
		t.Fatalf("server info %+v", si)
	}
	info, err := c.Create(ctx, map[string]string{"name": "s", "connector.class": "FileStreamSink", "topics": "t"})
	must(err)
	if info.Name != "s" || info.Type != connect.SinkType {
		t.Fatalf("created %+v", info)
	}
	_, err = c.Create(ctx, map[string]string{"name": "s", "connector.class": "FileStreamSink"})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || apiErr.Code != 409 || apiErr.Message != "Connector s already exists" {
		t.Fatalf("duplicate create: %v", err)
	}
	_, err = c.Create(ctx, map[string]string{"name": "bad", "connector.class": "Nope"})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("invalid create: %v", err)
	}
	names, err := c.List(ctx)
	must(err)
	if !slices.Equal(names, []string{"s"}) {
		t.Fatalf("list %v", names)
	}
	exp, err := c.ListExpanded(ctx, true, true)
	must(err)
	if e := exp["s"]; e.Status == nil || e.Info == nil || e.Status.Connector.State != connect.Running {
		t.Fatalf("expanded %+v", exp)
	}
	if exp, err := c.ListExpanded(ctx, false, false); err != nil || len(exp) != 1 {
		t.Fatalf("expanded without expansions: %v %v", exp, err)
	}
	_, created, err := c.PutConfig(ctx, "s", map[string]string{"connector.class": "FileStreamSink", "topics": "u"})
	must(err)
	if created {
		t.Fatal("update reported as created")
	}
	v := "w"
	if info, err := c.PatchConfig(ctx, "s", map[string]*string{"topics": &v, "file": nil}); err != nil || info.Config["topics"] != "w" {
		t.Fatalf("patch: %+v %v", info, err)
	}
	_, _, err = c.PutConfig(ctx, "s", map[string]string{"connector.class": "FileStreamSink", "topics": "u"})
	must(err)
	cfg, err := c.Config(ctx, "s")
	must(err)
	if cfg["topics"] != "u" {
		t.Fatalf("config %v", cfg)
	}
	if _, err := c.Get(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("get unknown: %v", err)
	}
	must(c.Pause(ctx, "s"))
	st, err := c.Status(ctx, "s")
	must(err)
	if st.Connector.State != connect.Paused {
		t.Fatalf("status after pause %+v", st)
	}
	must(c.Resume(ctx, "s"))
	if st, err := c.Restart(ctx, "s", false, false); err != nil || st != nil {
		t.Fatalf("plain restart: %v %v", st, err)
	}
	if st, err := c.Restart(ctx, "s", true, false); err != nil || st == nil || st.Connector.State != connect.Restarting {
		t.Fatalf("restart with tasks: %v %v", st, err)
	}
	must(c.RestartTask(ctx, "s", 0))
	tasks, err := c.Tasks(ctx, "s")
	must(err)
	if len(tasks) != 1 {
		t.Fatalf("tasks %v", tasks)
	}
	ts, err := c.TaskStatus(ctx, "s", 0)
	must(err)
	if ts.State != connect.Running {
		t.Fatalf("task status %+v", ts)
	}
	f.topics["s"] = []string{"u"}
	topics, err := c.Topics(ctx, "s")
	must(err)
	if !slices.Equal(topics, []string{"u"}) {
		t.Fatalf("topics %v", topics)
	}
	must(c.ResetTopics(ctx, "s"))
	if _, err := c.AlterOffsets(ctx, "s", connect.ConnectorOffsets{Offsets: []connect.ConnectorOffset{{Partition: map[string]any{"p": 1}, Offset: map[string]any{"o": 2}}}}); err == nil {
		t.Fatal("altering a running connector's offsets succeeded")
	}
	must(c.Stop(ctx, "s"))
	msg, err := c.AlterOffsets(ctx, "s", connect.ConnectorOffsets{Offsets: []connect.ConnectorOffset{{Partition: map[string]any{"p": 1}, Offset: map[string]any{"o": 2}}}})
	must(err)
	if msg == "" {
		t.Fatal("no message from alter")
	}
	offs, err := c.Offsets(ctx, "s")
	must(err)
	if len(offs.Offsets) != 1 {
		t.Fatalf("offsets %+v", offs)
	}
	msg, err = c.ResetOffsets(ctx, "s")
	must(err)
	if msg == "" {
		t.Fatal("no message from reset")
	}
	plugins, err := c.Plugins(ctx, true)
	must(err)
	all, err := c.Plugins(ctx, false)
	must(err)
	if len(plugins) != 2 || len(all) != 4 {
		t.Fatalf("plugins %v, all %v", plugins, all)
	}
	keys, err := c.PluginConfig(ctx, "FileStreamSink")
	must(err)
	if len(keys) != 1 || keys[0].Name != "file" {
		t.Fatalf("plugin config %+v", keys)
	}
	infos, err := c.Validate(ctx, "FileStreamSink", map[string]string{"name": "v", "tasks.max": "0"})
	must(err)
	if infos.ErrorCount != 1 || infos.Name != "FileStreamSink" {
		t.Fatalf("validate %+v", infos)
	}
	affected, err := c.SetLogger(ctx, "fjord.connect", "DEBUG")
	must(err)
	if !slices.Equal(affected, []string{"fjord.connect"}) {
		t.Fatalf("affected %v", affected)
	}
	lv, err := c.Logger(ctx, "fjord.connect")
	must(err)
	if lv.Level != "DEBUG" || lv.LastModified == nil {
		t.Fatalf("logger %+v", lv)
	}
	all2, err := c.Loggers(ctx)
	must(err)
	if len(all2) != 2 {
		t.Fatalf("loggers %v", all2)
	}
	must(c.Delete(ctx, "s"))
	if err := c.Delete(ctx, "s"); !IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestClient_NonKafkaErrorBody(t *testing.T) {
	srv, err := NewServer(http.NotFoundHandler(), "http://127.0.0.1:0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	_, err = NewClient(srv.URL(), time.Second).List(context.Background())
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Message != "404 page not found" {
		t.Fatalf("error %v", err)
	}
}

func TestParseListeners(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: []string{":8083"}},
		{in: "http://:8083", want: []string{":8083"}},
		{in: "HTTP://localhost:8083, http://[::1]:9000", want: []string{"localhost:8083", "[::1]:9000"}},
		{in: "https://:8443", wantErr: true},
		{in: "http://host", wantErr: true},
		{in: "http://host:1/path", wantErr: true},
		{in: " , ", wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseListeners(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("ParseListeners(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// Close lets a request in flight finish, then refuses new connections.
func TestServer_GracefulClose(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusNoContent)
	}), "http://127.0.0.1:0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = errors.New(resp.Status)
			}
		}
		done <- err
	}()
	<-started
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- srv.Close(ctx)
	}()
	time.Sleep(20 * time.Millisecond) // Close has begun: no new connections
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("request in flight: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("served after Close")
	}
}
