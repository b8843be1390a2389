package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

const sinkClass = "org.apache.kafka.connect.file.FileStreamSinkConnector"

// seeded returns a herder holding one sink connector, "local-file-sink",
// and a handler over it.
func seeded(t *testing.T) (*fakeHerder, *Handler) {
	t.Helper()
	f := newFakeHerder()
	f.configs["local-file-sink"] = map[string]string{"name": "local-file-sink", "connector.class": sinkClass, "tasks.max": "1",
		"file": "/tmp/test.sink.txt", "topics": "connect-test"}
	f.topics["local-file-sink"] = []string{"connect-test"}
	levels := NewLevels(slog.LevelInfo)
	levels.now = func() time.Time { return time.UnixMilli(1700000000000) }
	levels.Var("org.apache.kafka.connect.runtime")
	return f, NewHandler(f, Options{Commit: "0123456789abcdef", Loggers: levels, RequestTimeout: 5 * time.Second})
}

const sinkInfo = `{"name":"local-file-sink","config":{"name":"local-file-sink","connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector",
	"tasks.max":"1","file":"/tmp/test.sink.txt","topics":"connect-test"},"tasks":[{"connector":"local-file-sink","task":0}],"type":"sink"}`

func sinkStatus(state string) string {
	return fmt.Sprintf(`{"name":"local-file-sink","connector":{"state":%q,"worker_id":"fakehost:8083"},
		"tasks":[{"id":0,"state":%q,"worker_id":"fakehost:8083"}],"type":"sink"}`, state, state)
}

func errBody(code int, msg string) string {
	return fmt.Sprintf(`{"error_code":%d,"message":%q}`, code, msg)
}

func TestHandler_Endpoints(t *testing.T) {
	newConfig := `{"connector.class":"FileStreamSink","file":"/tmp/b","topics":"t","tasks.max":2}`
	newInfo := `{"name":"b","config":{"name":"b","connector.class":"FileStreamSink","file":"/tmp/b","topics":"t","tasks.max":"2"},
		"tasks":[{"connector":"b","task":0}],"type":"sink"}`
	cases := []struct {
		name         string
		method, path string
		body         string
		prep         func(*fakeHerder)
		status       int
		want         string // golden JSON; "" for no body
		wantContains string // instead of want, for long bodies
		wantHeader   [2]string
		check        func(*testing.T, *fakeHerder)
	}{
		{name: "root", method: "GET", path: "/", status: 200,
			want: `{"version":"3.9.0-fjord","commit":"0123456789abcdef","kafka_cluster_id":"I4ZmrWqfT2e-upky_4fdPA"}`},
		{name: "list", method: "GET", path: "/connectors", status: 200, want: `["local-file-sink"]`},
		{name: "list trailing slash", method: "GET", path: "/connectors/", status: 200, want: `["local-file-sink"]`},
		{name: "list empty", method: "GET", path: "/connectors", prep: func(f *fakeHerder) { delete(f.configs, "local-file-sink") }, status: 200, want: `[]`},
		{name: "list expand status", method: "GET", path: "/connectors?expand=status", status: 200,
			want: `{"local-file-sink":{"status":` + sinkStatus("RUNNING") + `}}`},
		{name: "list expand info", method: "GET", path: "/connectors?expand=info", status: 200,
			want: `{"local-file-sink":{"info":` + sinkInfo + `}}`},
		{name: "list expand both", method: "GET", path: "/connectors?expand=status&expand=info", status: 200,
			want: `{"local-file-sink":{"status":` + sinkStatus("RUNNING") + `,"info":` + sinkInfo + `}}`},
		{name: "list expand unknown ignored", method: "GET", path: "/connectors?expand=bogus&expand=STATUS", status: 200, want: `{"local-file-sink":{}}`},
		{name: "create", method: "POST", path: "/connectors", body: `{"name":"b","config":` + newConfig + `}`, status: 201, want: newInfo,
			wantHeader: [2]string{"Location", "/connectors/b"},
			check: func(t *testing.T, f *fakeHerder) {
				if f.lastCall != "PutConnectorConfig(false)" {
					t.Errorf("create called %s, want PutConnectorConfig(false)", f.lastCall)
				}
			}},
		{name: "create name trimmed and matching config name", method: "POST", path: "/connectors",
			body: `{"name":" b ","config":{"name":"b","connector.class":"FileStreamSink","file":"/tmp/b","topics":"t","tasks.max":"2"}}`, status: 201, want: newInfo},
		{name: "create name mismatch", method: "POST", path: "/connectors", body: `{"name":"b","config":{"name":"c"}}`, status: 400,
			want: errBody(400, "Connector name configuration (c) doesn't match connector name in the URL (b)")},
		{name: "create exists", method: "POST", path: "/connectors", body: `{"name":"local-file-sink","config":{"connector.class":"FileStreamSink"}}`, status: 409,
			want: errBody(409, "Connector local-file-sink already exists")},
		{name: "create invalid config", method: "POST", path: "/connectors", body: `{"name":"x","config":{"connector.class":"Nope"}}`, status: 400,
			want: errBody(400, "Connector configuration is invalid and contains the following 1 error(s):\n"+
				"Failed to find any class that implements Connector and which name matches Nope\n"+
				"You can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`")},
		{name: "create initial state stopped", method: "POST", path: "/connectors",
			body: `{"name":"b","config":` + newConfig + `,"initial_state":"STOPPED"}`, status: 201, want: newInfo,
			check: func(t *testing.T, f *fakeHerder) {
				if f.states["b"] != connect.TargetStopped {
					t.Errorf("initial_state STOPPED left target state %q", f.states["b"])
				}
			}},
		{name: "create bad initial state", method: "POST", path: "/connectors", body: `{"name":"b","config":{},"initial_state":"NAPPING"}`, status: 400,
			want: errBody(400, "Invalid initial state NAPPING; valid states are RUNNING, PAUSED, STOPPED")},
		{name: "create malformed JSON", method: "POST", path: "/connectors", body: `{"name":`, status: 400,
			wantContains: `"error_code":400,"message":"Cannot deserialize request body`},
		{name: "create nested config value", method: "POST", path: "/connectors", body: `{"name":"b","config":{"a":{"b":1}}}`, status: 400,
			wantContains: `is not a string`},
		{name: "create empty body", method: "POST", path: "/connectors", status: 400, want: errBody(400, "Request body must not be empty")},
		{name: "get", method: "GET", path: "/connectors/local-file-sink", status: 200, want: sinkInfo},
		{name: "get unknown", method: "GET", path: "/connectors/nope", status: 404, want: errBody(404, "Connector nope not found")},
		{name: "delete", method: "DELETE", path: "/connectors/local-file-sink", status: 204,
			check: func(t *testing.T, f *fakeHerder) {
				if _, ok := f.configs["local-file-sink"]; ok {
					t.Error("connector still there after DELETE")
				}
			}},
		{name: "delete unknown", method: "DELETE", path: "/connectors/nope", status: 404, want: errBody(404, "Connector nope not found")},
		{name: "get config", method: "GET", path: "/connectors/local-file-sink/config", status: 200,
			want: `{"name":"local-file-sink","connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","tasks.max":"1","file":"/tmp/test.sink.txt","topics":"connect-test"}`},
		{name: "put config creates", method: "PUT", path: "/connectors/b/config", body: newConfig, status: 201, want: newInfo,
			wantHeader: [2]string{"Location", "/connectors/b"},
			check: func(t *testing.T, f *fakeHerder) {
				if f.lastCall != "PutConnectorConfig(true)" {
					t.Errorf("PUT config called %s", f.lastCall)
				}
			}},
		{name: "put config updates", method: "PUT", path: "/connectors/local-file-sink/config",
			body: `{"connector.class":"` + sinkClass + `","tasks.max":"1","file":"/tmp/test.sink.txt","topics":"connect-test"}`, status: 200, want: sinkInfo},
		{name: "put config name mismatch", method: "PUT", path: "/connectors/b/config", body: `{"name":"c"}`, status: 400,
			want: errBody(400, "Connector name configuration (c) doesn't match connector name in the URL (b)")},
		{name: "put config not an object", method: "PUT", path: "/connectors/b/config", body: `["a"]`, status: 400,
			wantContains: `"error_code":400`},
		{name: "patch config", method: "PATCH", path: "/connectors/local-file-sink/config", body: `{"topics":"t2","tasks.max":3,"file":null}`, status: 200,
			want: `{"name":"local-file-sink","config":{"name":"local-file-sink","connector.class":"` + sinkClass + `","tasks.max":"3","topics":"t2"},
				"tasks":[{"connector":"local-file-sink","task":0}],"type":"sink"}`},
		{name: "patch config unknown", method: "PATCH", path: "/connectors/nope/config", body: `{"topics":"t2"}`, status: 404,
			want: errBody(404, "Connector nope not found")},
		{name: "patch config renames", method: "PATCH", path: "/connectors/local-file-sink/config", body: `{"name":"other"}`, status: 400,
			want: errBody(400, "Connector name configuration (other) doesn't match connector name in the URL (local-file-sink)")},
		{name: "status", method: "GET", path: "/connectors/local-file-sink/status", status: 200, want: sinkStatus("RUNNING")},
		{name: "status unknown", method: "GET", path: "/connectors/nope/status", status: 404, want: errBody(404, "Connector nope not found")},
		{name: "restart plain", method: "POST", path: "/connectors/local-file-sink/restart", status: 204,
			check: func(t *testing.T, f *fakeHerder) {
				if f.lastFlags != [2]bool{false, false} {
					t.Errorf("flags %v", f.lastFlags)
				}
			}},
		{name: "restart include tasks", method: "POST", path: "/connectors/local-file-sink/restart?includeTasks=true&onlyFailed=TRUE", status: 202,
			want: `{"name":"local-file-sink","connector":{"state":"RESTARTING","worker_id":"fakehost:8083"},
				"tasks":[{"id":0,"state":"RUNNING","worker_id":"fakehost:8083"}],"type":"sink"}`,
			check: func(t *testing.T, f *fakeHerder) {
				if f.lastFlags != [2]bool{true, true} {
					t.Errorf("flags %v", f.lastFlags)
				}
			}},
		{name: "restart unknown", method: "POST", path: "/connectors/nope/restart", status: 404, want: errBody(404, "Connector nope not found")},
		{name: "pause", method: "PUT", path: "/connectors/local-file-sink/pause", status: 202,
			check: func(t *testing.T, f *fakeHerder) { checkTarget(t, f, connect.TargetPaused) }},
		{name: "resume", method: "PUT", path: "/connectors/local-file-sink/resume", status: 202,
			check: func(t *testing.T, f *fakeHerder) { checkTarget(t, f, connect.TargetStarted) }},
		{name: "stop", method: "PUT", path: "/connectors/local-file-sink/stop", status: 204,
			check: func(t *testing.T, f *fakeHerder) { checkTarget(t, f, connect.TargetStopped) }},
		{name: "pause unknown", method: "PUT", path: "/connectors/nope/pause", status: 404, want: errBody(404, "Connector nope not found")},
		{name: "tasks", method: "GET", path: "/connectors/local-file-sink/tasks", status: 200,
			want: `[{"id":{"connector":"local-file-sink","task":0},"config":{"task.class":"org.apache.kafka.connect.file.FileStreamSinkTask"}}]`},
		{name: "tasks-config", method: "GET", path: "/connectors/local-file-sink/tasks-config", status: 200,
			want: `{"local-file-sink-0":{"task.class":"org.apache.kafka.connect.file.FileStreamSinkTask"}}`},
		{name: "task status", method: "GET", path: "/connectors/local-file-sink/tasks/0/status", status: 200,
			want: `{"id":0,"state":"RUNNING","worker_id":"fakehost:8083"}`},
		{name: "task status unknown task", method: "GET", path: "/connectors/local-file-sink/tasks/3/status", status: 404,
			want: errBody(404, "No status found for task local-file-sink-3")},
		{name: "task status non-numeric", method: "GET", path: "/connectors/local-file-sink/tasks/x/status", status: 404,
			want: errBody(404, "HTTP 404 Not Found")},
		{name: "task restart", method: "POST", path: "/connectors/local-file-sink/tasks/0/restart", status: 204},
		{name: "topics", method: "GET", path: "/connectors/local-file-sink/topics", status: 200, want: `{"local-file-sink":{"topics":["connect-test"]}}`},
		{name: "topics reset", method: "PUT", path: "/connectors/local-file-sink/topics/reset", status: 202,
			check: func(t *testing.T, f *fakeHerder) {
				if len(f.topics["local-file-sink"]) != 0 {
					t.Error("topics not reset")
				}
			}},
		{name: "offsets", method: "GET", path: "/connectors/local-file-sink/offsets", status: 200,
			prep: func(f *fakeHerder) {
				f.offsets["local-file-sink"] = connect.ConnectorOffsets{Offsets: []connect.ConnectorOffset{
					{Partition: map[string]any{"kafka_topic": "connect-test", "kafka_partition": 0}, Offset: map[string]any{"kafka_offset": 5}}}}
			},
			want: `{"offsets":[{"partition":{"kafka_topic":"connect-test","kafka_partition":0},"offset":{"kafka_offset":5}}]}`},
		{name: "offsets none", method: "GET", path: "/connectors/local-file-sink/offsets", status: 200, want: `{"offsets":[]}`},
		{name: "alter offsets running", method: "PATCH", path: "/connectors/local-file-sink/offsets",
			body: `{"offsets":[{"partition":{"kafka_topic":"connect-test","kafka_partition":0},"offset":{"kafka_offset":5}}]}`, status: 400,
			wantContains: `Connectors must be in the STOPPED state`},
		{name: "alter offsets", method: "PATCH", path: "/connectors/local-file-sink/offsets",
			prep: func(f *fakeHerder) { f.states["local-file-sink"] = connect.TargetStopped },
			body: `{"offsets":[{"partition":{"kafka_topic":"connect-test","kafka_partition":0},"offset":{"kafka_offset":9007199254740993}}]}`, status: 200,
			want: `{"message":"The offsets for this connector have been altered successfully"}`,
			check: func(t *testing.T, f *fakeHerder) {
				if got := f.lastAlter.Offsets[0].Offset["kafka_offset"]; got != int64(9007199254740993) {
					t.Errorf("offset reached the herder as %T %v; want the exact int64", got, got)
				}
			}},
		{name: "alter offsets empty", method: "PATCH", path: "/connectors/local-file-sink/offsets", body: `{"offsets":[]}`, status: 400,
			want: errBody(400, "Partitions / offsets need to be provided for an alter offsets request")},
		{name: "reset offsets", method: "DELETE", path: "/connectors/local-file-sink/offsets", status: 200,
			prep: func(f *fakeHerder) { f.states["local-file-sink"] = connect.TargetStopped },
			want: `{"message":"The offsets for this connector have been reset successfully"}`},
		{name: "plugins", method: "GET", path: "/connector-plugins", status: 200,
			want: `[{"class":"org.apache.kafka.connect.file.FileStreamSinkConnector","type":"sink","version":"3.9.0"},
				{"class":"org.apache.kafka.connect.file.FileStreamSourceConnector","type":"source","version":"3.9.0"}]`},
		{name: "plugins all", method: "GET", path: "/connector-plugins?connectorsOnly=false", status: 200,
			want: `[{"class":"org.apache.kafka.connect.file.FileStreamSinkConnector","type":"sink","version":"3.9.0"},
				{"class":"org.apache.kafka.connect.file.FileStreamSourceConnector","type":"source","version":"3.9.0"},
				{"class":"org.apache.kafka.connect.transforms.InsertField$Value","type":"transformation","version":"3.9.0"},
				{"class":"org.apache.kafka.connect.json.JsonConverter","type":"converter","version":"3.9.0"}]`},
		{name: "plugin config", method: "GET", path: "/connector-plugins/FileStreamSink/config", status: 200,
			want: `[{"name":"file","type":"STRING","required":false,"default_value":"","importance":"HIGH","documentation":"Destination filename.",
				"group":null,"order_in_group":-1,"width":"NONE","display_name":"file","dependents":[]}]`},
		{name: "plugin config unknown", method: "GET", path: "/connector-plugins/Nope/config", status: 404, want: errBody(404, "Unknown plugin Nope.")},
		{name: "validate", method: "PUT", path: "/connector-plugins/FileStreamSinkConnector/config/validate",
			body: `{"connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","tasks.max":"0","topics":"t"}`, status: 200,
			wantContains: `"error_count":2`},
		{name: "validate type mismatch", method: "PUT", path: "/connector-plugins/FileStreamSource/config/validate",
			body: `{"connector.class":"FileStreamSinkConnector"}`, status: 400,
			want: errBody(400, "Included connector type FileStreamSinkConnector does not match request type FileStreamSource")},
		{name: "loggers", method: "GET", path: "/admin/loggers", status: 200,
			want: `{"org.apache.kafka.connect.runtime":{"level":"INFO","last_modified":null},"root":{"level":"INFO","last_modified":null}}`},
		{name: "logger", method: "GET", path: "/admin/loggers/ROOT", status: 200, want: `{"level":"INFO","last_modified":null}`},
		{name: "logger unknown", method: "GET", path: "/admin/loggers/nope", status: 404, want: errBody(404, "Logger nope not found.")},
		{name: "set logger", method: "PUT", path: "/admin/loggers/org.apache.kafka.connect", body: `{"level":"debug"}`, status: 200,
			want: `["org.apache.kafka.connect","org.apache.kafka.connect.runtime"]`},
		{name: "set logger cluster scope", method: "PUT", path: "/admin/loggers/root?scope=cluster", body: `{"level":"WARN"}`, status: 204},
		{name: "set logger no level", method: "PUT", path: "/admin/loggers/root", body: `{}`, status: 400,
			want: errBody(400, "Desired 'level' parameter was not specified in request.")},
		{name: "set logger bad level", method: "PUT", path: "/admin/loggers/root", body: `{"level":"LOUD"}`, status: 404,
			want: errBody(404, "invalid log level 'LOUD'.")},
		{name: "rebalancing", method: "GET", path: "/connectors/local-file-sink", prep: func(f *fakeHerder) { f.err = connect.ErrRebalancing }, status: 409,
			want: errBody(409, msgStaleConfig)},
		{name: "rebalancing with detail", method: "POST", path: "/connectors/local-file-sink/restart",
			prep: func(f *fakeHerder) { f.err = fmt.Errorf("%w: Rebalance in progress", connect.ErrRebalancing) }, status: 409,
			want: errBody(409, "Rebalance in progress")},
		{name: "internal error", method: "GET", path: "/connectors", prep: func(f *fakeHerder) { f.err = errors.New("config topic unreadable") }, status: 500,
			want: errBody(500, "config topic unreadable")},
		{name: "herder timed out", method: "GET", path: "/connectors/local-file-sink/status",
			prep: func(f *fakeHerder) { f.err = fmt.Errorf("reading status: %w", context.DeadlineExceeded) }, status: 500, want: errBody(500, msgTimedOut)},
		{name: "not leader without leader URL", method: "PUT", path: "/connectors/local-file-sink/pause",
			prep: func(f *fakeHerder) { f.err = &connect.NotLeaderError{} }, status: 409, want: errBody(409, msgNoLeader)},
		{name: "not leader after two hops", method: "PUT", path: "/connectors/local-file-sink/pause?forward=false",
			prep: func(f *fakeHerder) { f.err = &connect.NotLeaderError{LeaderURL: "http://127.0.0.1:1"} }, status: 409, want: errBody(409, msgTwoHops)},
		{name: "unknown path", method: "GET", path: "/nope", status: 404, want: errBody(404, "HTTP 404 Not Found")},
		{name: "unknown sub-path", method: "GET", path: "/connectors/a/b/c/d", status: 404, want: errBody(404, "HTTP 404 Not Found")},
		{name: "wrong method", method: "POST", path: "/connectors/local-file-sink", status: 405, want: errBody(405, "HTTP 405 Method Not Allowed"),
			wantHeader: [2]string{"Allow", "DELETE, GET, HEAD"}},
		{name: "wrong method on root", method: "DELETE", path: "/", status: 405, want: errBody(405, "HTTP 405 Method Not Allowed")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, h := seeded(t)
			if tc.prep != nil {
				tc.prep(f)
			}
			status, hdr, body := request(t, h, tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", tc.method, tc.path, status, tc.status, body)
			}
			switch {
			case tc.wantContains != "":
				if !strings.Contains(body, tc.wantContains) {
					t.Errorf("body %s lacks %s", body, tc.wantContains)
				}
			case tc.want == "":
				if body != "" {
					t.Errorf("body %q, want none", body)
				}
			case !sameJSON(t, body, tc.want):
				t.Errorf("body\n%s\nwant\n%s", body, compact(tc.want))
			}
			if tc.want != "" && hdr.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
			}
			if tc.wantHeader[0] != "" && hdr.Get(tc.wantHeader[0]) != tc.wantHeader[1] {
				t.Errorf("%s: %q, want %q", tc.wantHeader[0], hdr.Get(tc.wantHeader[0]), tc.wantHeader[1])
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func checkTarget(t *testing.T, f *fakeHerder, want connect.TargetState) {
	t.Helper()
	if got := f.states["local-file-sink"]; got != want {
		t.Errorf("target state %q, want %q", got, want)
	}
}

func TestHandler_BodyLimit(t *testing.T) {
	f := newFakeHerder()
	h := NewHandler(f, Options{MaxBodyBytes: 16})
	status, _, body := request(t, h, "PUT", "/connectors/a/config", `{"connector.class":"FileStreamSink"}`)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"error_code":413`) {
		t.Fatalf("status %d body %s", status, body)
	}
}

// TestHandler_ValidateShape checks the validate answer's shape key by key
// against Kafka's documented example (ConfigInfos, ConfigKeyInfo,
// ConfigValueInfo).
func TestHandler_ValidateShape(t *testing.T) {
	_, h := seeded(t)
	status, _, body := request(t, h, "PUT", "/connector-plugins/FileStreamSinkConnector/config/validate",
		`{"connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","topics":"t","name":"v"}`)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	var got struct {
		Name       string   `json:"name"`
		ErrorCount *int     `json:"error_count"`
		Groups     []string `json:"groups"`
		Configs    []struct {
			Definition map[string]any `json:"definition"`
			Value      map[string]any `json:"value"`
		} `json:"configs"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name == "" || got.ErrorCount == nil || *got.ErrorCount != 0 || len(got.Groups) == 0 || len(got.Configs) == 0 {
		t.Fatalf("validate answer %s", body)
	}
	wantDef := []string{"default_value", "dependents", "display_name", "documentation", "group", "importance", "name", "order_in_group", "required", "type", "width"}
	wantVal := []string{"errors", "name", "recommended_values", "value", "visible"}
	for _, c := range got.Configs {
		if keys := slices.Sorted(maps.Keys(c.Definition)); !slices.Equal(keys, wantDef) {
			t.Fatalf("definition keys %v, want %v", keys, wantDef)
		}
		if keys := slices.Sorted(maps.Keys(c.Value)); !slices.Equal(keys, wantVal) {
			t.Fatalf("value keys %v, want %v", keys, wantVal)
		}
	}
	var topics map[string]any
	for _, c := range got.Configs {
		if c.Value["name"] == "topics" {
			topics = c.Value
		}
	}
	if !sameJSON(t, mustJSON(t, topics), `{"name":"topics","value":"t","recommended_values":[],"errors":[],"visible":true}`) {
		t.Fatalf("topics value %v", topics)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// topic.tracking.enable=false and topic.tracking.allow.reset=false answer
// 403 with Kafka's messages.
func TestHandler_TopicTrackingDisabled(t *testing.T) {
	f, _ := seeded(t)
	off := NewHandler(f, Options{TopicTrackingDisabled: true})
	noReset := NewHandler(f, Options{TopicResetDisabled: true})
	for _, c := range []struct {
		h              *Handler
		method, target string
		status         int
		body           string
	}{
		{off, "GET", "/connectors/local-file-sink/topics", 403, errBody(403, "Topic tracking is disabled.")},
		{off, "PUT", "/connectors/local-file-sink/topics/reset", 403, errBody(403, "Topic tracking is disabled.")},
		{noReset, "PUT", "/connectors/local-file-sink/topics/reset", 403, errBody(403, "Topic tracking reset is disabled.")},
		{noReset, "GET", "/connectors/local-file-sink/topics", 200, `{"local-file-sink":{"topics":["connect-test"]}}`},
	} {
		status, _, body := request(t, c.h, c.method, c.target, "")
		if status != c.status || strings.TrimSpace(body) != c.body {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.target, status, body, c.status, c.body)
		}
	}
}
