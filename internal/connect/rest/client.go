package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// DefaultClientTimeout bounds one client call: a herder call's bound and
// a margin, so the worker's own "Request timed out" answer arrives first.
const DefaultClientTimeout = DefaultRequestTimeout + 10*time.Second

// maxResponseBytes bounds an answer the client reads.
const maxResponseBytes = 64 << 20

// Error is a non-2xx answer of a Connect REST API: its HTTP status and
// Kafka's error body (the message is the body's text when the body is
// not Kafka's).
type Error struct {
	Status  int
	Code    int
	Message string
}

// Error says the status and the worker's message.
func (e *Error) Error() string {
	return fmt.Sprintf("connect REST API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Client talks to a Connect REST API (Fjord's or Kafka's), for the
// `fjord connect` verbs. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the worker at baseURL (http://host:port);
// timeout bounds each call (0: DefaultClientTimeout).
func NewClient(baseURL string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultClientTimeout
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{Timeout: timeout}}
}

// do sends a request and decodes a 2xx answer into out (when not nil and
// there is a body); it returns the status.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encoding the request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode, Code: resp.StatusCode, Message: strings.TrimSpace(string(b))}
		var em ErrorMessage
		if json.Unmarshal(b, &em) == nil && em.Message != "" {
			e.Code, e.Message = em.ErrorCode, em.Message
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func connPath(name string, rest ...string) string {
	p := "/connectors/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// ServerInfo is GET /.
func (c *Client) ServerInfo(ctx context.Context) (ServerInfo, error) {
	var out ServerInfo
	_, err := c.do(ctx, http.MethodGet, "/", nil, nil, &out)
	return out, err
}

// List returns the connectors' names.
func (c *Client) List(ctx context.Context) ([]string, error) {
	var out []string
	_, err := c.do(ctx, http.MethodGet, "/connectors", nil, nil, &out)
	return out, err
}

// ListExpanded returns every connector with its status and/or info
// (GET /connectors?expand=status&expand=info).
func (c *Client) ListExpanded(ctx context.Context, status, info bool) (map[string]Expansion, error) {
	if !status && !info {
		// Without an expansion the API answers a list, not a map.
		names, err := c.List(ctx)
		out := make(map[string]Expansion, len(names))
		for _, n := range names {
			out[n] = Expansion{}
		}
		return out, err
	}
	q := url.Values{}
	if status {
		q.Add("expand", "status")
	}
	if info {
		q.Add("expand", "info")
	}
	out := map[string]Expansion{}
	_, err := c.do(ctx, http.MethodGet, "/connectors", q, nil, &out)
	return out, err
}

// Create creates a connector from its configuration; the name is the
// config's "name".
func (c *Client) Create(ctx context.Context, config map[string]string) (connect.ConnectorInfo, error) {
	var out connect.ConnectorInfo
	_, err := c.do(ctx, http.MethodPost, "/connectors", nil, CreateConnectorRequest{Name: config[connect.KeyName], Config: config}, &out)
	return out, err
}

// Get returns a connector's info.
func (c *Client) Get(ctx context.Context, name string) (connect.ConnectorInfo, error) {
	var out connect.ConnectorInfo
	_, err := c.do(ctx, http.MethodGet, connPath(name), nil, nil, &out)
	return out, err
}

// Config returns a connector's configuration.
func (c *Client) Config(ctx context.Context, name string) (map[string]string, error) {
	var out map[string]string
	_, err := c.do(ctx, http.MethodGet, connPath(name, "config"), nil, nil, &out)
	return out, err
}

// PutConfig creates or updates a connector; created tells which.
func (c *Client) PutConfig(ctx context.Context, name string, config map[string]string) (info connect.ConnectorInfo, created bool, err error) {
	st, err := c.do(ctx, http.MethodPut, connPath(name, "config"), nil, config, &info)
	return info, st == http.StatusCreated, err
}

// PatchConfig sets the keys of patch with a value and removes those
// with nil (PATCH /connectors/{name}/config, KIP-477).
func (c *Client) PatchConfig(ctx context.Context, name string, patch map[string]*string) (connect.ConnectorInfo, error) {
	var out connect.ConnectorInfo
	_, err := c.do(ctx, http.MethodPatch, connPath(name, "config"), nil, patch, &out)
	return out, err
}

// Status returns a connector's and its tasks' states.
func (c *Client) Status(ctx context.Context, name string) (connect.ConnectorStateInfo, error) {
	var out connect.ConnectorStateInfo
	_, err := c.do(ctx, http.MethodGet, connPath(name, "status"), nil, nil, &out)
	return out, err
}

// Tasks returns a connector's task configurations.
func (c *Client) Tasks(ctx context.Context, name string) ([]connect.TaskInfo, error) {
	var out []connect.TaskInfo
	_, err := c.do(ctx, http.MethodGet, connPath(name, "tasks"), nil, nil, &out)
	return out, err
}

// TaskStatus returns one task's state.
func (c *Client) TaskStatus(ctx context.Context, name string, task int) (connect.TaskState, error) {
	var out connect.TaskState
	_, err := c.do(ctx, http.MethodGet, connPath(name, "tasks", strconv.Itoa(task), "status"), nil, nil, &out)
	return out, err
}

// Pause pauses a connector.
func (c *Client) Pause(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPut, connPath(name, "pause"), nil, nil, nil)
	return err
}

// Resume resumes a connector.
func (c *Client) Resume(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPut, connPath(name, "resume"), nil, nil, nil)
	return err
}

// Stop stops a connector (KIP-875).
func (c *Client) Stop(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPut, connPath(name, "stop"), nil, nil, nil)
	return err
}

// Restart restarts a connector and, with includeTasks, its tasks (only
// the failed ones with onlyFailed). The status is returned when either
// flag was given (the API answers 202 with it), nil otherwise.
func (c *Client) Restart(ctx context.Context, name string, includeTasks, onlyFailed bool) (*connect.ConnectorStateInfo, error) {
	q := url.Values{}
	if includeTasks {
		q.Set("includeTasks", "true")
	}
	if onlyFailed {
		q.Set("onlyFailed", "true")
	}
	var out connect.ConnectorStateInfo
	st, err := c.do(ctx, http.MethodPost, connPath(name, "restart"), q, nil, &out)
	if err != nil || st != http.StatusAccepted {
		return nil, err
	}
	return &out, nil
}

// RestartTask restarts one task.
func (c *Client) RestartTask(ctx context.Context, name string, task int) error {
	_, err := c.do(ctx, http.MethodPost, connPath(name, "tasks", strconv.Itoa(task), "restart"), nil, nil, nil)
	return err
}

// Fence asks the leader (through any worker) for a round of zombie
// fencing of an exactly-once source connector's older task generations.
func (c *Client) Fence(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPut, connPath(name, "fence"), nil, nil, nil)
	return err
}

// Delete deletes a connector.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, connPath(name), nil, nil, nil)
	return err
}

// Topics returns the topics a connector used (KIP-558).
func (c *Client) Topics(ctx context.Context, name string) ([]string, error) {
	var out map[string]ConnectorTopics
	_, err := c.do(ctx, http.MethodGet, connPath(name, "topics"), nil, nil, &out)
	return out[name].Topics, err
}

// ResetTopics empties a connector's topic set.
func (c *Client) ResetTopics(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPut, connPath(name, "topics", "reset"), nil, nil, nil)
	return err
}

// Offsets returns a connector's offsets (KIP-875).
func (c *Client) Offsets(ctx context.Context, name string) (connect.ConnectorOffsets, error) {
	var out connect.ConnectorOffsets
	_, err := c.do(ctx, http.MethodGet, connPath(name, "offsets"), nil, nil, &out)
	return out, err
}

// AlterOffsets alters a stopped connector's offsets and returns the
// worker's message.
func (c *Client) AlterOffsets(ctx context.Context, name string, offsets connect.ConnectorOffsets) (string, error) {
	var out Message
	_, err := c.do(ctx, http.MethodPatch, connPath(name, "offsets"), nil, offsets, &out)
	return out.Message, err
}

// ResetOffsets resets a stopped connector's offsets and returns the
// worker's message.
func (c *Client) ResetOffsets(ctx context.Context, name string) (string, error) {
	var out Message
	_, err := c.do(ctx, http.MethodDelete, connPath(name, "offsets"), nil, nil, &out)
	return out.Message, err
}

// Plugins lists the connector plugins, or every plugin (converters,
// transforms, predicates) unless connectorsOnly.
func (c *Client) Plugins(ctx context.Context, connectorsOnly bool) ([]connect.PluginInfo, error) {
	var q url.Values
	if !connectorsOnly {
		q = url.Values{"connectorsOnly": {"false"}}
	}
	var out []connect.PluginInfo
	_, err := c.do(ctx, http.MethodGet, "/connector-plugins", q, nil, &out)
	return out, err
}

// PluginConfig returns a plugin's declared keys.
func (c *Client) PluginConfig(ctx context.Context, plugin string) ([]connect.ConfigKeyInfo, error) {
	var out []connect.ConfigKeyInfo
	_, err := c.do(ctx, http.MethodGet, "/connector-plugins/"+url.PathEscape(plugin)+"/config", nil, nil, &out)
	return out, err
}

// Validate validates a configuration for plugin (its connector.class is
// set to plugin when absent, which Kafka needs to validate).
func (c *Client) Validate(ctx context.Context, plugin string, config map[string]string) (connect.ConfigInfos, error) {
	if _, ok := config[connect.KeyConnectorClass]; !ok {
		cp := make(map[string]string, len(config)+1)
		for k, v := range config {
			cp[k] = v
		}
		cp[connect.KeyConnectorClass] = plugin
		config = cp
	}
	var out connect.ConfigInfos
	_, err := c.do(ctx, http.MethodPut, "/connector-plugins/"+url.PathEscape(plugin)+"/config/validate", nil, config, &out)
	return out, err
}

// Loggers returns every logger's level.
func (c *Client) Loggers(ctx context.Context) (map[string]LoggerLevel, error) {
	var out map[string]LoggerLevel
	_, err := c.do(ctx, http.MethodGet, "/admin/loggers", nil, nil, &out)
	return out, err
}

// Logger returns one logger's level.
func (c *Client) Logger(ctx context.Context, name string) (LoggerLevel, error) {
	var out LoggerLevel
	_, err := c.do(ctx, http.MethodGet, "/admin/loggers/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// SetLogger sets a logger namespace's level (ERROR, WARN, INFO, DEBUG,
// TRACE) and returns the loggers it changed.
func (c *Client) SetLogger(ctx context.Context, name, level string) ([]string, error) {
	var out []string
	_, err := c.do(ctx, http.MethodPut, "/admin/loggers/"+url.PathEscape(name), nil, map[string]string{"level": level}, &out)
	return out, err
}
