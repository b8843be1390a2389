package connect

import (
	"context"
	"errors"
	"fmt"
)

// ConnectorType is "source" or "sink" (or "unknown"), as the REST API
// says it.
type ConnectorType string

// Connector types.
const (
	SourceType  ConnectorType = "source"
	SinkType    ConnectorType = "sink"
	UnknownType ConnectorType = "unknown"
)

// State is a connector's or task's state, Kafka Connect's names.
type State string

// Connector and task states.
const (
	Unassigned State = "UNASSIGNED"
	Running    State = "RUNNING"
	Paused     State = "PAUSED"
	Stopped    State = "STOPPED" // KIP-875: stopped with its tasks shut down
	Failed     State = "FAILED"
	Restarting State = "RESTARTING"
)

// TargetState is what the user asked a connector to be: running, paused
// or stopped.
type TargetState string

// Target states, as Kafka Connect stores them.
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// TaskID names a task: its connector and index.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// ConnectorInfo is the REST API's description of a connector.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   ConnectorType     `json:"type"`
}

// TaskInfo is one task's configuration (GET /connectors/{name}/tasks).
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// ComponentState is a connector's or task's state on a worker.
type ComponentState struct {
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskState is one task's state (the REST API's TaskState).
type TaskState struct {
	ID int `json:"id"`
	ComponentState
}

// ConnectorStateInfo is GET /connectors/{name}/status.
type ConnectorStateInfo struct {
	Name      string         `json:"name"`
	Connector ComponentState `json:"connector"`
	Tasks     []TaskState    `json:"tasks"`
	Type      ConnectorType  `json:"type"`
}

// ConnectorOffset is one source partition's (or Kafka partition's)
// offset, as GET /connectors/{name}/offsets lists them (KIP-875).
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// ConnectorOffsets is the body of GET and PATCH /connectors/{name}/offsets.
type ConnectorOffsets struct {
	Offsets []ConnectorOffset `json:"offsets"`
}

// ConfigKeyInfo is a key's declaration as the validate endpoint shows it.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         *string  `json:"group"`
	OrderInGroup  int      `json:"order_in_group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigInfo is one key's declaration and validation result.
type ConfigInfo struct {
	Definition ConfigKeyInfo `json:"definition"`
	Value      ConfigValue   `json:"value"`
}

// ConfigInfos is PUT /connector-plugins/{plugin}/config/validate's
// answer.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// KeyInfo returns the REST API's description of a declared key.
func (k ConfigKey) KeyInfo() ConfigKeyInfo {
	info := ConfigKeyInfo{Name: k.Name, Type: string(k.Type), Required: k.Required(), Importance: string(k.Importance),
		Documentation: k.Doc, OrderInGroup: k.OrderInGroup, Width: k.Width, DisplayName: k.DisplayName, Dependents: nonNilStrings(k.Dependents)}
	if info.Width == "" {
		info.Width = "NONE"
	}
	if info.DisplayName == "" {
		info.DisplayName = k.Name
	}
	if info.OrderInGroup == 0 {
		info.OrderInGroup = -1
	}
	if k.Group != "" {
		g := k.Group
		info.Group = &g
	}
	if !k.Required() && !k.NullDefault {
		d := k.Default
		if k.Type == ConfigPassword && d != "" {
			d = "[hidden]"
		}
		info.DefaultValue = &d
	}
	return info
}

// Herder manages a worker's (or a worker group's) connectors: what the
// REST API drives. Standalone and distributed modes implement it.
// Methods that change something return once the change is accepted (in
// distributed mode: written to the config topic by the leader); states
// follow asynchronously, as in Kafka Connect.
type Herder interface {
	// KafkaClusterID is the Kafka cluster the worker is connected to.
	KafkaClusterID() string
	Connectors(ctx context.Context) ([]string, error)
	ConnectorInfo(ctx context.Context, name string) (ConnectorInfo, error)
	ConnectorConfig(ctx context.Context, name string) (map[string]string, error)
	// PutConnectorConfig creates (created=true) or, when allowReplace,
	// updates a connector; it validates the configuration first
	// (ErrBadConfig with the results).
	PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool) (info ConnectorInfo, created bool, err error)
	DeleteConnector(ctx context.Context, name string) error
	ConnectorStatus(ctx context.Context, name string) (ConnectorStateInfo, error)
	TaskConfigs(ctx context.Context, name string) ([]TaskInfo, error)
	TaskStatus(ctx context.Context, id TaskID) (TaskState, error)
	// RestartConnector restarts the connector and, with includeTasks,
	// its tasks (only the failed ones with onlyFailed); it returns the
	// status right after (the REST API answers 202 with it when either
	// flag was given, 204 otherwise).
	RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (ConnectorStateInfo, error)
	RestartTask(ctx context.Context, id TaskID) error
	PauseConnector(ctx context.Context, name string) error
	ResumeConnector(ctx context.Context, name string) error
	StopConnector(ctx context.Context, name string) error
	// ConnectorTopics lists the topics the connector used (KIP-558).
	ConnectorTopics(ctx context.Context, name string) ([]string, error)
	ResetConnectorTopics(ctx context.Context, name string) error
	ConnectorOffsets(ctx context.Context, name string) (ConnectorOffsets, error)
	// AlterConnectorOffsets and ResetConnectorOffsets need the connector
	// STOPPED (ErrBadRequest otherwise) and return Kafka's message.
	AlterConnectorOffsets(ctx context.Context, name string, offsets ConnectorOffsets) (string, error)
	ResetConnectorOffsets(ctx context.Context, name string) (string, error)
	// ValidateConnectorConfig validates a configuration without
	// creating anything.
	ValidateConnectorConfig(ctx context.Context, config map[string]string) (ConfigInfos, error)
	// Plugins is the registry of connectors, converters, transforms and
	// predicates the worker knows.
	Plugins() *Registry
}

// Errors a Herder returns; the REST API maps each to Kafka Connect's
// status code and error body.
var (
	ErrNotFound    = errors.New("not found")            // 404
	ErrConflict    = errors.New("conflict")             // 409: exists already
	ErrRebalancing = errors.New("rebalance is pending") // 409
	ErrBadRequest  = errors.New("bad request")          // 400
)

// NotFoundError names what was not found, in Kafka Connect's words.
func NotFoundError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// BadConfigError is an invalid connector configuration: the REST API
// answers 400 with Kafka's message, which names the error count and the
// keys' errors.
type BadConfigError struct {
	Infos ConfigInfos
}

func (e *BadConfigError) Error() string {
	msg := fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):", e.Infos.ErrorCount)
	for _, c := range e.Infos.Configs {
		for _, m := range c.Value.Errors {
			msg += "\n" + m
		}
	}
	return msg + "\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
}

// Unwrap makes a BadConfigError an ErrBadRequest.
func (e *BadConfigError) Unwrap() error { return ErrBadRequest }

// NotLeaderError: a write reached a worker that is not the group's leader
// (distributed mode); the REST API forwards it to LeaderURL.
type NotLeaderError struct {
	LeaderURL string
}

func (e *NotLeaderError) Error() string {
	return "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
}
