package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// ServerInfo is GET /'s answer.
type ServerInfo struct {
	Version        string `json:"version"`
	Commit         string `json:"commit"`
	KafkaClusterID string `json:"kafka_cluster_id"`
}

// CreateConnectorRequest is POST /connectors's body. InitialState is
// KIP-980's initial_state (RUNNING, PAUSED or STOPPED).
type CreateConnectorRequest struct {
	Name         string            `json:"name"`
	Config       map[string]string `json:"config"`
	InitialState string            `json:"initial_state,omitempty"`
}

// Expansion is one connector in GET /connectors?expand=...: the parts
// asked for.
type Expansion struct {
	Status *connect.ConnectorStateInfo `json:"status,omitempty"`
	Info   *connect.ConnectorInfo      `json:"info,omitempty"`
}

// ConnectorTopics is one connector's entry in GET
// /connectors/{name}/topics's answer ({name: {"topics": [...]}}).
type ConnectorTopics struct {
	Topics []string `json:"topics"`
}

func (h *Handler) root(c *call) (int, any, error) {
	return http.StatusOK, ServerInfo{Version: h.opts.Version, Commit: h.opts.Commit, KafkaClusterID: h.herder.KafkaClusterID()}, nil
}

// boolParam reads a query flag as JAX-RS reads a boolean: "true" in any
// case is true, anything else false.
func boolParam(r *http.Request, name string) bool {
	return strings.EqualFold(r.URL.Query().Get(name), "true")
}

func (h *Handler) listConnectors(c *call) (int, any, error) {
	names, err := h.herder.Connectors(c.ctx)
	if err != nil {
		return 0, nil, wrap(err, "listing connectors")
	}
	expand := c.r.URL.Query()["expand"]
	if len(expand) == 0 {
		if names == nil {
			names = []string{}
		}
		return http.StatusOK, names, nil
	}
	out := make(map[string]Expansion, len(names))
	for _, name := range names {
		var e Expansion
		gone := false
		for _, x := range expand {
			switch x { // case-sensitive, as Kafka's
			case "status":
				st, err := h.herder.ConnectorStatus(c.ctx, name)
				if errors.Is(err, connect.ErrNotFound) {
					gone = true // deleted since listed: Kafka leaves it out
					continue
				} else if err != nil {
					return 0, nil, wrap(err, fmt.Sprintf("status of %s", name))
				}
				e.Status = &st
			case "info":
				info, err := h.herder.ConnectorInfo(c.ctx, name)
				if errors.Is(err, connect.ErrNotFound) {
					gone = true
					continue
				} else if err != nil {
					return 0, nil, wrap(err, fmt.Sprintf("info of %s", name))
				}
				e.Info = &info
			}
			// Kafka ignores unknown expansions.
		}
		if !gone {
			out[name] = e
		}
	}
	return http.StatusOK, out, nil
}

// checkName applies Kafka's rule: the config's name, when given, must be
// the connector's; when absent it is filled in.
func checkName(name string, config map[string]string) error {
	if included, ok := config[connect.KeyName]; ok {
		if included != name {
			return badRequest("Connector name configuration (%s) doesn't match connector name in the URL (%s)", included, name)
		}
		return nil
	}
	config[connect.KeyName] = name
	return nil
}

func (h *Handler) createConnector(c *call) (int, any, error) {
	var raw struct {
		Name         *string        `json:"name"`
		Config       map[string]any `json:"config"`
		InitialState string         `json:"initial_state"`
	}
	if err := decodeJSON(c.body, &raw); err != nil {
		return 0, nil, err
	}
	name := ""
	if raw.Name != nil {
		name = strings.TrimSpace(*raw.Name)
	}
	config, err := stringMap(raw.Config)
	if err != nil {
		return 0, nil, err
	}
	if config == nil {
		config = map[string]string{}
	}
	var after func(c *call) error
	switch strings.ToUpper(raw.InitialState) {
	case "", "RUNNING":
	case "PAUSED":
		after = func(c *call) error { return h.herder.PauseConnector(c.ctx, name) }
	case "STOPPED":
		after = func(c *call) error { return h.herder.StopConnector(c.ctx, name) }
	default:
		return 0, nil, badRequest("Invalid initial state %s; valid states are RUNNING, PAUSED, STOPPED", raw.InitialState)
	}
	if err := checkName(name, config); err != nil {
		return 0, nil, err
	}
	info, _, err := h.herder.PutConnectorConfig(c.ctx, name, config, false)
	if err != nil {
		return 0, nil, wrap(err, fmt.Sprintf("creating connector %s", name))
	}
	if after != nil {
		// The herder has no atomic "create in this state": the state
		// follows at once, before tasks are likely to have started.
		if err := after(c); err != nil {
			return 0, nil, wrap(err, fmt.Sprintf("setting connector %s's initial state", name))
		}
	}
	c.location = "/connectors/" + url.PathEscape(name)
	return http.StatusCreated, info, nil
}

func (h *Handler) getConnector(c *call) (int, any, error) {
	info, err := h.herder.ConnectorInfo(c.ctx, c.r.PathValue("name"))
	return http.StatusOK, info, wrap(err, "connector info")
}

func (h *Handler) deleteConnector(c *call) (int, any, error) {
	err := h.herder.DeleteConnector(c.ctx, c.r.PathValue("name"))
	return http.StatusNoContent, nil, wrap(err, "deleting connector")
}

func (h *Handler) getConfig(c *call) (int, any, error) {
	cfg, err := h.herder.ConnectorConfig(c.ctx, c.r.PathValue("name"))
	return http.StatusOK, cfg, wrap(err, "connector config")
}

func (h *Handler) putConfig(c *call) (int, any, error) {
	name := c.r.PathValue("name")
	config, err := decodeConfig(c.body)
	if err != nil {
		return 0, nil, err
	}
	if err := checkName(name, config); err != nil {
		return 0, nil, err
	}
	info, created, err := h.herder.PutConnectorConfig(c.ctx, name, config, true)
	if err != nil {
		return 0, nil, wrap(err, "putting connector config")
	}
	if created {
		c.location = "/connectors/" + url.PathEscape(name)
		return http.StatusCreated, info, nil
	}
	return http.StatusOK, info, nil
}

func (h *Handler) status(c *call) (int, any, error) {
	st, err := h.herder.ConnectorStatus(c.ctx, c.r.PathValue("name"))
	return http.StatusOK, st, wrap(err, "connector status")
}

func (h *Handler) restart(c *call) (int, any, error) {
	includeTasks, onlyFailed := boolParam(c.r, "includeTasks"), boolParam(c.r, "onlyFailed")
	st, err := h.herder.RestartConnector(c.ctx, c.r.PathValue("name"), includeTasks, onlyFailed)
	if err != nil {
		return 0, nil, wrap(err, "restarting connector")
	}
	if !includeTasks && !onlyFailed {
		// Kafka keeps the pre-KIP-745 answer for the plain restart.
		return http.StatusNoContent, nil, nil
	}
	return http.StatusAccepted, st, nil
}

// targetState answers pause, resume (202) and stop (204: Kafka's stop
// endpoint returns nothing, so Jersey answers No Content) with no body,
// the state following asynchronously.
func (h *Handler) targetState(status int, f func(ctx context.Context, name string) error) endpoint {
	return func(c *call) (int, any, error) {
		err := f(c.ctx, c.r.PathValue("name"))
		return status, nil, wrap(err, "changing target state")
	}
}

// patchConfig is KIP-477's PATCH /connectors/{name}/config: keys with a
// value are set, keys with null removed. The herder has no patch
// operation, so this reads and writes back; a concurrent write between
// the two is overwritten (Kafka's leader patches under its lock).
func (h *Handler) patchConfig(c *call) (int, any, error) {
	name := c.r.PathValue("name")
	var patch map[string]any
	if err := decodeJSON(c.body, &patch); err != nil {
		return 0, nil, err
	}
	if patch == nil {
		return 0, nil, badRequest("Request body must be a JSON object of configuration keys and values")
	}
	config, err := h.herder.ConnectorConfig(c.ctx, name)
	if err != nil {
		return 0, nil, wrap(err, "patching connector config")
	}
	for k, v := range patch {
		if v == nil {
			delete(config, k)
			continue
		}
		one, err := stringMap(map[string]any{k: v})
		if err != nil {
			return 0, nil, err
		}
		config[k] = one[k]
	}
	if err := checkName(name, config); err != nil {
		return 0, nil, err
	}
	info, _, err := h.herder.PutConnectorConfig(c.ctx, name, config, true)
	if err != nil {
		return 0, nil, wrap(err, "patching connector config")
	}
	return http.StatusOK, info, nil
}

func (h *Handler) tasks(c *call) (int, any, error) {
	tasks, err := h.herder.TaskConfigs(c.ctx, c.r.PathValue("name"))
	if tasks == nil {
		tasks = []connect.TaskInfo{}
	}
	return http.StatusOK, tasks, wrap(err, "task configs")
}

// tasksConfig is Kafka 3.x's GET /connectors/{name}/tasks-config
// (KIP-661; deprecated by KIP-970, removed in Kafka 4.0): each task's
// configuration keyed by "connector-task".
func (h *Handler) tasksConfig(c *call) (int, any, error) {
	tasks, err := h.herder.TaskConfigs(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return 0, nil, wrap(err, "task configs")
	}
	out := make(map[string]map[string]string, len(tasks))
	for _, t := range tasks {
		out[fmt.Sprintf("%s-%d", t.ID.Connector, t.ID.Task)] = t.Config
	}
	return http.StatusOK, out, nil
}

// taskID reads {name} and {task}. A task id that is not a number cannot
// name a task: Jersey answers 404 for a path parameter it cannot convert.
func taskID(c *call) (connect.TaskID, error) {
	n, err := strconv.Atoi(c.r.PathValue("task"))
	if err != nil {
		return connect.TaskID{}, notFound("HTTP 404 Not Found")
	}
	return connect.TaskID{Connector: c.r.PathValue("name"), Task: n}, nil
}

func (h *Handler) taskStatus(c *call) (int, any, error) {
	id, err := taskID(c)
	if err != nil {
		return 0, nil, err
	}
	st, err := h.herder.TaskStatus(c.ctx, id)
	return http.StatusOK, st, wrap(err, "task status")
}

func (h *Handler) restartTask(c *call) (int, any, error) {
	id, err := taskID(c)
	if err != nil {
		return 0, nil, err
	}
	err = h.herder.RestartTask(c.ctx, id)
	return http.StatusNoContent, nil, wrap(err, "restarting task")
}

func (h *Handler) topics(c *call) (int, any, error) {
	if h.opts.TopicTrackingDisabled {
		return 0, nil, &httpError{status: http.StatusForbidden, msg: "Topic tracking is disabled."}
	}
	name := c.r.PathValue("name")
	topics, err := h.herder.ConnectorTopics(c.ctx, name)
	if err != nil {
		return 0, nil, wrap(err, "connector topics")
	}
	if topics == nil {
		topics = []string{}
	}
	return http.StatusOK, map[string]ConnectorTopics{name: {Topics: topics}}, nil
}

func (h *Handler) resetTopics(c *call) (int, any, error) {
	switch {
	case h.opts.TopicTrackingDisabled:
		return 0, nil, &httpError{status: http.StatusForbidden, msg: "Topic tracking is disabled."}
	case h.opts.TopicResetDisabled:
		return 0, nil, &httpError{status: http.StatusForbidden, msg: "Topic tracking reset is disabled."}
	}
	err := h.herder.ResetConnectorTopics(c.ctx, c.r.PathValue("name"))
	return http.StatusAccepted, nil, wrap(err, "resetting connector topics")
}

// fence is Kafka's internal zombie-fencing endpoint (KIP-618): a worker
// about to start a new generation of an exactly-once source connector's
// tasks asks the leader to fence the old one.
func (h *Handler) fence(c *call) (int, any, error) {
	f, ok := h.herder.(connect.ZombieFencer)
	if !ok {
		return 0, nil, &httpError{status: http.StatusBadRequest, msg: "This worker does not have exactly-once source support enabled."}
	}
	err := f.FenceZombies(c.ctx, c.r.PathValue("name"))
	return http.StatusOK, nil, wrap(err, "fencing zombie source tasks")
}

func (h *Handler) offsets(c *call) (int, any, error) {
	offs, err := h.herder.ConnectorOffsets(c.ctx, c.r.PathValue("name"))
	if offs.Offsets == nil {
		offs.Offsets = []connect.ConnectorOffset{}
	}
	return http.StatusOK, offs, wrap(err, "connector offsets")
}

func (h *Handler) alterOffsets(c *call) (int, any, error) {
	var offs connect.ConnectorOffsets
	if err := decodeJSON(c.body, &offs); err != nil {
		return 0, nil, err
	}
	// A null offset is allowed (it removes the partition's offset); the
	// herder checks partitions, as Kafka's worker does.
	if len(offs.Offsets) == 0 {
		return 0, nil, badRequest("Partitions / offsets need to be provided for an alter offsets request")
	}
	// The decoder kept numbers as json.Number so offsets survive
	// exactly; the herder sees plain JSON values.
	normalizeOffsets(offs.Offsets)
	msg, err := h.herder.AlterConnectorOffsets(c.ctx, c.r.PathValue("name"), offs)
	if err != nil {
		return 0, nil, wrap(err, "altering connector offsets")
	}
	return http.StatusOK, Message{Message: msg}, nil
}

func (h *Handler) resetOffsets(c *call) (int, any, error) {
	msg, err := h.herder.ResetConnectorOffsets(c.ctx, c.r.PathValue("name"))
	if err != nil {
		return 0, nil, wrap(err, "resetting connector offsets")
	}
	return http.StatusOK, Message{Message: msg}, nil
}

// normalizeOffsets turns json.Numbers into int64 when integral (Kafka
// offsets are longs) and float64 otherwise.
func normalizeOffsets(offs []connect.ConnectorOffset) {
	for _, o := range offs {
		normalizeMap(o.Partition)
		normalizeMap(o.Offset)
	}
}

func normalizeMap(m map[string]any) {
	for k, v := range m {
		m[k] = normalizeValue(v)
	}
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		normalizeMap(x)
	case []any:
		for i := range x {
			x[i] = normalizeValue(x[i])
		}
	}
	return v
}

// opError adds what the API was doing to a herder error, for logs and
// Go callers; the answer's message is the herder's own (errorStatus
// peels opErrors off), since scripts match Kafka's messages.
type opError struct {
	op  string
	err error
}

// Error is the operation and the herder's message, for logs.
func (e *opError) Error() string { return e.op + ": " + e.err.Error() }

// Unwrap gives errors.Is and errors.As the herder's error.
func (e *opError) Unwrap() error { return e.err }

// wrap adds context to a herder error, keeping nil nil.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}
