package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

// fakeHerder is an in-memory herder: connectors are configurations, each
// with one task; err, when set, is what every call returns, so each
// error mapping can be exercised.
type fakeHerder struct {
	mu         sync.Mutex
	configs    map[string]map[string]string
	states     map[string]connect.TargetState
	offsets    map[string]connect.ConnectorOffsets
	topics     map[string][]string
	err        error
	reg        *connect.Registry
	lastCall   string
	lastFlags  [2]bool
	lastAlter  connect.ConnectorOffsets
	validation func(map[string]string) connect.ConfigInfos
}

func newFakeHerder() *fakeHerder {
	reg := connect.NewRegistry()
	reg.MustRegister(connect.Plugin{Class: "org.apache.kafka.connect.file.FileStreamSinkConnector", Type: connect.PluginSink, Version: "3.9.0",
		New: func() any { return fakeConnector{} }})
	reg.MustRegister(connect.Plugin{Class: "org.apache.kafka.connect.file.FileStreamSourceConnector", Type: connect.PluginSource, Version: "3.9.0",
		New: func() any { return fakeConnector{} }})
	reg.MustRegister(connect.Plugin{Class: "org.apache.kafka.connect.json.JsonConverter", Type: connect.PluginConverter, Version: "3.9.0",
		New: func() any { return struct{}{} }})
	reg.MustRegister(connect.Plugin{Class: "org.apache.kafka.connect.transforms.InsertField$Value", Type: connect.PluginTransformation, Version: "3.9.0",
		New: func() any { return struct{}{} }})
	return &fakeHerder{configs: map[string]map[string]string{}, states: map[string]connect.TargetState{},
		offsets: map[string]connect.ConnectorOffsets{}, topics: map[string][]string{}, reg: reg}
}

// fakeConnector declares one key, for the plugin config endpoint.
type fakeConnector struct{}

func (fakeConnector) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "file", Type: connect.ConfigString, Default: "", Importance: connect.High, Doc: "Destination filename."}}
}

func (f *fakeHerder) enter(call string) error {
	f.mu.Lock()
	f.lastCall = call
	return f.err
}

func (f *fakeHerder) notFound(name string) error {
	if _, ok := f.configs[name]; !ok {
		return connect.NotFoundError("Connector %s not found", name)
	}
	return nil
}

func (f *fakeHerder) info(name string) connect.ConnectorInfo {
	typ := connect.SinkType
	if strings.Contains(f.configs[name][connect.KeyConnectorClass], "Source") {
		typ = connect.SourceType
	}
	return connect.ConnectorInfo{Name: name, Config: maps.Clone(f.configs[name]), Tasks: []connect.TaskID{{Connector: name, Task: 0}}, Type: typ}
}

func (f *fakeHerder) status(name string) connect.ConnectorStateInfo {
	st := connect.Running
	switch f.states[name] {
	case connect.TargetPaused:
		st = connect.Paused
	case connect.TargetStopped:
		st = connect.Stopped
	}
	return connect.ConnectorStateInfo{Name: name, Connector: connect.ComponentState{State: st, WorkerID: "fakehost:8083"},
		Tasks: []connect.TaskState{{ID: 0, ComponentState: connect.ComponentState{State: st, WorkerID: "fakehost:8083"}}}, Type: f.info(name).Type}
}

func (f *fakeHerder) KafkaClusterID() string { return "I4ZmrWqfT2e-upky_4fdPA" }

func (f *fakeHerder) Connectors(context.Context) ([]string, error) {
	defer f.mu.Unlock()
	if err := f.enter("Connectors"); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(f.configs)), nil
}

func (f *fakeHerder) ConnectorInfo(_ context.Context, name string) (connect.ConnectorInfo, error) {
	defer f.mu.Unlock()
	if err := f.enter("ConnectorInfo"); err != nil {
		return connect.ConnectorInfo{}, err
	}
	if err := f.notFound(name); err != nil {
		return connect.ConnectorInfo{}, err
	}
	return f.info(name), nil
}

func (f *fakeHerder) ConnectorConfig(_ context.Context, name string) (map[string]string, error) {
	defer f.mu.Unlock()
	if err := f.enter("ConnectorConfig"); err != nil {
		return nil, err
	}
	if err := f.notFound(name); err != nil {
		return nil, err
	}
	return maps.Clone(f.configs[name]), nil
}

func (f *fakeHerder) PutConnectorConfig(_ context.Context, name string, config map[string]string, allowReplace bool) (connect.ConnectorInfo, bool, error) {
	defer f.mu.Unlock()
	if err := f.enter(fmt.Sprintf("PutConnectorConfig(%v)", allowReplace)); err != nil {
		return connect.ConnectorInfo{}, false, err
	}
	_, exists := f.configs[name]
	if exists && !allowReplace {
		return connect.ConnectorInfo{}, false, fmt.Errorf("%w: Connector %s already exists", connect.ErrConflict, name)
	}
	if _, ok := f.reg.Lookup(config[connect.KeyConnectorClass]); !ok {
		msg := "Failed to find any class that implements Connector and which name matches " + config[connect.KeyConnectorClass]
		v := config[connect.KeyConnectorClass]
		return connect.ConnectorInfo{}, false, &connect.BadConfigError{Infos: connect.ConfigInfos{Name: config[connect.KeyConnectorClass], ErrorCount: 1, Groups: []string{"Common"},
			Configs: []connect.ConfigInfo{{Definition: connect.CommonConfig()[1].KeyInfo(), Value: connect.ConfigValue{Name: connect.KeyConnectorClass, Value: &v,
				RecommendedValues: []string{}, Errors: []string{msg}, Visible: true}}}}}
	}
	f.configs[name] = maps.Clone(config)
	return f.info(name), !exists, nil
}

func (f *fakeHerder) DeleteConnector(_ context.Context, name string) error {
	defer f.mu.Unlock()
	if err := f.enter("DeleteConnector"); err != nil {
		return err
	}
	if err := f.notFound(name); err != nil {
		return err
	}
	delete(f.configs, name)
	return nil
}

func (f *fakeHerder) ConnectorStatus(_ context.Context, name string) (connect.ConnectorStateInfo, error) {
	defer f.mu.Unlock()
	if err := f.enter("ConnectorStatus"); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	if err := f.notFound(name); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	return f.status(name), nil
}

func (f *fakeHerder) TaskConfigs(_ context.Context, name string) ([]connect.TaskInfo, error) {
	defer f.mu.Unlock()
	if err := f.enter("TaskConfigs"); err != nil {
		return nil, err
	}
	if err := f.notFound(name); err != nil {
		return nil, err
	}
	return []connect.TaskInfo{{ID: connect.TaskID{Connector: name, Task: 0}, Config: map[string]string{"task.class": "org.apache.kafka.connect.file.FileStreamSinkTask"}}}, nil
}

func (f *fakeHerder) TaskStatus(_ context.Context, id connect.TaskID) (connect.TaskState, error) {
	defer f.mu.Unlock()
	if err := f.enter("TaskStatus"); err != nil {
		return connect.TaskState{}, err
	}
	if err := f.notFound(id.Connector); err != nil {
		return connect.TaskState{}, err
	}
	if id.Task != 0 {
		return connect.TaskState{}, connect.NotFoundError("No status found for task %s-%d", id.Connector, id.Task)
	}
	return f.status(id.Connector).Tasks[0], nil
}

func (f *fakeHerder) RestartConnector(_ context.Context, name string, includeTasks, onlyFailed bool) (connect.ConnectorStateInfo, error) {
	defer f.mu.Unlock()
	if err := f.enter("RestartConnector"); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	f.lastFlags = [2]bool{includeTasks, onlyFailed}
	if err := f.notFound(name); err != nil {
		return connect.ConnectorStateInfo{}, err
	}
	st := f.status(name)
	st.Connector.State = connect.Restarting
	return st, nil
}

func (f *fakeHerder) RestartTask(_ context.Context, id connect.TaskID) error {
	defer f.mu.Unlock()
	if err := f.enter("RestartTask"); err != nil {
		return err
	}
	return f.notFound(id.Connector)
}

func (f *fakeHerder) target(call, name string, ts connect.TargetState) error {
	defer f.mu.Unlock()
	if err := f.enter(call); err != nil {
		return err
	}
	if err := f.notFound(name); err != nil {
		return err
	}
	f.states[name] = ts
	return nil
}

func (f *fakeHerder) PauseConnector(_ context.Context, name string) error {
	return f.target("PauseConnector", name, connect.TargetPaused)
}

func (f *fakeHerder) ResumeConnector(_ context.Context, name string) error {
	return f.target("ResumeConnector", name, connect.TargetStarted)
}

func (f *fakeHerder) StopConnector(_ context.Context, name string) error {
	return f.target("StopConnector", name, connect.TargetStopped)
}

func (f *fakeHerder) ConnectorTopics(_ context.Context, name string) ([]string, error) {
	defer f.mu.Unlock()
	if err := f.enter("ConnectorTopics"); err != nil {
		return nil, err
	}
	if err := f.notFound(name); err != nil {
		return nil, err
	}
	return f.topics[name], nil
}

func (f *fakeHerder) ResetConnectorTopics(_ context.Context, name string) error {
	defer f.mu.Unlock()
	if err := f.enter("ResetConnectorTopics"); err != nil {
		return err
	}
	if err := f.notFound(name); err != nil {
		return err
	}
	delete(f.topics, name)
	return nil
}

func (f *fakeHerder) ConnectorOffsets(_ context.Context, name string) (connect.ConnectorOffsets, error) {
	defer f.mu.Unlock()
	if err := f.enter("ConnectorOffsets"); err != nil {
		return connect.ConnectorOffsets{}, err
	}
	if err := f.notFound(name); err != nil {
		return connect.ConnectorOffsets{}, err
	}
	return f.offsets[name], nil
}

func (f *fakeHerder) stopped(name string) error {
	if err := f.notFound(name); err != nil {
		return err
	}
	if f.states[name] != connect.TargetStopped {
		return fmt.Errorf("%w: Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint",
			connect.ErrBadRequest, name)
	}
	return nil
}

func (f *fakeHerder) AlterConnectorOffsets(_ context.Context, name string, offsets connect.ConnectorOffsets) (string, error) {
	defer f.mu.Unlock()
	if err := f.enter("AlterConnectorOffsets"); err != nil {
		return "", err
	}
	if err := f.stopped(name); err != nil {
		return "", err
	}
	f.lastAlter = offsets
	f.offsets[name] = offsets
	return "The offsets for this connector have been altered successfully", nil
}

func (f *fakeHerder) ResetConnectorOffsets(_ context.Context, name string) (string, error) {
	defer f.mu.Unlock()
	if err := f.enter("ResetConnectorOffsets"); err != nil {
		return "", err
	}
	if err := f.stopped(name); err != nil {
		return "", err
	}
	delete(f.offsets, name)
	return "The offsets for this connector have been reset successfully", nil
}

func (f *fakeHerder) ValidateConnectorConfig(_ context.Context, config map[string]string) (connect.ConfigInfos, error) {
	defer f.mu.Unlock()
	if err := f.enter("ValidateConnectorConfig"); err != nil {
		return connect.ConfigInfos{}, err
	}
	results := connect.SinkConfig().Validate(config)
	infos := connect.ConfigInfos{Name: config[connect.KeyConnectorClass], ErrorCount: connect.ErrorCount(results), Groups: []string{"Common"}}
	for i, k := range connect.SinkConfig() {
		infos.Configs = append(infos.Configs, connect.ConfigInfo{Definition: k.KeyInfo(), Value: results[i]})
	}
	return infos, nil
}

func (f *fakeHerder) Plugins() *connect.Registry { return f.reg }

// request sends one request to h and returns the status, headers and
// body.
func request(t *testing.T, h http.Handler, method, target, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

// sameJSON reports whether two JSON texts hold the same value: the same
// keys at every level, so a shape change fails the golden checks.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("answer is not JSON: %v: %q", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden is not JSON: %v: %q", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}
