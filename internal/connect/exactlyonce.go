package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exactly-once source support (KIP-618): the worker's key and the source
// connector's keys, Kafka's names.
const (
	// WorkerExactlyOnceSourceSupport is the distributed worker's
	// exactly.once.source.support: disabled, preparing or enabled.
	WorkerExactlyOnceSourceSupport = "exactly.once.source.support"
	// KeyExactlyOnceSupport is a source connector's exactly.once.support:
	// requested (the default) or required (refused unless the connector
	// says it can deliver exactly once).
	KeyExactlyOnceSupport = "exactly.once.support"
	// KeyTransactionBoundary is a source connector's transaction.boundary:
	// poll, interval or connector.
	KeyTransactionBoundary = "transaction.boundary"
	// KeyTransactionBoundaryInterval is transaction.boundary.interval.ms
	// (unset: the worker's offset.flush.interval.ms).
	KeyTransactionBoundaryInterval = "transaction.boundary.interval.ms"
	// KeyOffsetsStorageTopic is a source connector's own offsets topic;
	// Fjord keeps every connector's offsets in the worker's
	// offset.storage.topic and refuses the key rather than ignore it.
	KeyOffsetsStorageTopic = "offsets.storage.topic"
)

// ExactlyOnceMode is the worker's exactly.once.source.support.
type ExactlyOnceMode string

// The worker's modes, Kafka's names. Enabled runs every source task with a
// transactional producer and fences old task generations before a new one
// starts. Kafka's preparing makes the leader's config-topic writes
// transactional ahead of enabling; Fjord's config writes are plain acks=all
// writes, so preparing is accepted (for a rolling upgrade written for
// Kafka): its tasks run as disabled ones, and as leader it serves the
// fencing rounds of enabled workers.
const (
	ExactlyOnceDisabled  ExactlyOnceMode = "disabled"
	ExactlyOncePreparing ExactlyOnceMode = "preparing"
	ExactlyOnceEnabled   ExactlyOnceMode = "enabled"
)

// ParseExactlyOnceMode reads exactly.once.source.support (case
// insensitive, as Kafka's).
func ParseExactlyOnceMode(s string) (ExactlyOnceMode, error) {
	switch m := ExactlyOnceMode(strings.ToLower(strings.TrimSpace(s))); m {
	case ExactlyOnceDisabled, ExactlyOncePreparing, ExactlyOnceEnabled:
		return m, nil
	case "":
		return ExactlyOnceDisabled, nil
	}
	return "", fmt.Errorf("String must be one of: disabled, preparing, enabled")
}

// ZombieFencer is a distributed herder with exactly-once source support
// enabled: FenceZombies is Kafka's internal PUT /connectors/{name}/fence,
// a round of zombie fencing run by the leader before a new generation of
// the connector's tasks may start (followers answer NotLeaderError, so
// the request is forwarded).
type ZombieFencer interface {
	FenceZombies(ctx context.Context, connector string) error
}

// ExactlyOnceSupport is a source connector's answer to "can you deliver
// exactly once with this configuration?", Kafka's ExactlyOnceSupport
// (with Unknown for a connector that does not say).
type ExactlyOnceSupport int

// The answers.
const (
	ExactlyOnceUnknown ExactlyOnceSupport = iota
	ExactlyOnceSupported
	ExactlyOnceUnsupported
)

// ExactlyOnceSourceConnector is implemented by a source connector that
// knows whether it delivers exactly once: its tasks must read their
// source from the committed offsets (SourceTaskContext.Offset) and give
// each source partition to one task only.
type ExactlyOnceSourceConnector interface {
	ExactlyOnceSupport(props map[string]string) ExactlyOnceSupport
}

// TransactionBoundaryConnector is implemented by a source connector whose
// tasks can define their own transactions (transaction.boundary=connector)
// through TransactionContext.
type TransactionBoundaryConnector interface {
	CanDefineTransactionBoundaries(props map[string]string) bool
}

// TransactionBoundary is a source connector's transaction.boundary.
type TransactionBoundary string

// The boundaries, Kafka's SourceTask.TransactionBoundary.
const (
	BoundaryPoll      TransactionBoundary = "poll"      // one transaction per non-empty Poll
	BoundaryInterval  TransactionBoundary = "interval"  // one every transaction.boundary.interval.ms
	BoundaryConnector TransactionBoundary = "connector" // where the task says, through TransactionContext
)

// TransactionContext lets a source task of a connector with
// transaction.boundary=connector end transactions itself, Kafka's
// TransactionContext. A request made during Poll applies to the records
// that Poll returns.
type TransactionContext interface {
	// CommitTransaction commits the transaction after the records of the
	// current Poll.
	CommitTransaction()
	// CommitTransactionAfter commits it right after r (a pointer into
	// the slice Poll returns).
	CommitTransactionAfter(r *SourceRecord)
	// AbortTransaction aborts the transaction after the current Poll's
	// records: they and the rest of the transaction are discarded and
	// their offsets are not committed.
	AbortTransaction()
	// AbortTransactionAfter aborts it right after r.
	AbortTransactionAfter(r *SourceRecord)
}

// TransactionalSourceTaskContext is the SourceTaskContext of an
// exactly-once worker's task; TransactionContext is nil unless the
// connector's transaction.boundary is connector.
type TransactionalSourceTaskContext interface {
	SourceTaskContext
	TransactionContext() TransactionContext
}

// ExactlyOnceConfig is a source connector's KIP-618 settings.
type ExactlyOnceConfig struct {
	Required bool
	Boundary TransactionBoundary
	// Interval is transaction.boundary.interval.ms; 0: unset.
	IntervalMs int64
}

// ParseExactlyOnceConfig reads a source connector's KIP-618 keys.
func ParseExactlyOnceConfig(props map[string]string) ExactlyOnceConfig {
	c := ExactlyOnceConfig{Required: strings.EqualFold(props[KeyExactlyOnceSupport], "required"),
		Boundary: TransactionBoundary(strings.ToLower(props[KeyTransactionBoundary]))}
	if c.Boundary == "" {
		c.Boundary = BoundaryPoll
	}
	if v := strings.TrimSpace(props[KeyTransactionBoundaryInterval]); v != "" {
		fmt.Sscan(v, &c.IntervalMs)
	}
	return c
}

// exactlyOnceKeys are SourceConfig's KIP-618 keys, with Kafka's
// documentation.
func exactlyOnceKeys() ConfigDef {
	const group = "Exactly Once Support"
	return ConfigDef{
		{Name: KeyExactlyOnceSupport, Type: ConfigString, Default: "requested", Importance: Medium, Group: group, OrderInGroup: 1, Width: "SHORT", DisplayName: "Exactly once support",
			Doc:         "Permitted values are requested, required. If set to \"required\", forces a preflight check for the connector to ensure that it can provide exactly-once semantics with the given configuration. Some connectors may be capable of providing exactly-once semantics but not signal to Connect that they support this; in that case, documentation for the connector should be consulted carefully before creating it, and the value for this property should be set to \"requested\". Additionally, if the value is set to \"required\" but the worker that performs preflight validation does not have exactly-once support enabled for source connectors, requests to create or validate the connector will fail.",
			Recommended: []string{"requested", "required"}, Validator: oneOf("requested", "required")},
		{Name: KeyTransactionBoundary, Type: ConfigString, Default: "poll", Importance: Medium, Group: group, OrderInGroup: 2, Width: "SHORT", DisplayName: "Transaction Boundary",
			Doc:         "Permitted values are: poll, interval, connector. If set to 'poll', a new producer transaction will be started and committed for every batch of records that each task from this connector provides to Connect. If set to 'connector', relies on connector-defined transaction boundaries; note that not all connectors are capable of defining their own transaction boundaries, and in that case, attempts to instantiate a connector with this value will fail. Finally, if set to 'interval', commits transactions only after a user-defined time interval has passed.",
			Recommended: []string{"poll", "interval", "connector"}, Validator: oneOf("poll", "interval", "connector")},
		{Name: KeyTransactionBoundaryInterval, Type: ConfigLong, NullDefault: true, Importance: Low, Group: group, OrderInGroup: 3, Width: "SHORT", DisplayName: "Transaction boundary interval",
			Doc: "If 'transaction.boundary' is set to 'interval', determines the interval for producer transaction commits by connector tasks. If unset, defaults to the value of the worker-level 'offset.flush.interval.ms' property. It has no effect if a different transaction.boundary is specified.",
			Validator: func(v any) error {
				if n, ok := v.(int64); ok && n < 0 {
					return errors.New("Value must be at least 0")
				}
				return nil
			}},
		{Name: KeyOffsetsStorageTopic, Type: ConfigString, NullDefault: true, Importance: Low, Group: group, OrderInGroup: 4, Width: "LONG", DisplayName: "Offsets topic",
			Doc: "The name of a separate offsets topic to use for this connector. Not supported by Fjord: every connector's offsets are kept in the worker's offset.storage.topic, so the key must be left unset.",
			Validator: func(v any) error {
				if s, ok := v.(string); ok && s != "" {
					return errors.New("Fjord keeps every connector's source offsets in the worker's offset.storage.topic; a connector's own offsets topic is not supported, leave offsets.storage.topic unset")
				}
				return nil
			}},
	}
}

// checkExactlyOnce adds the preflight checks of Kafka's
// validateSourceConnectorConfig: exactly.once.support=required needs an
// enabled worker and a connector that says it is supported;
// transaction.boundary=connector needs a connector that can define them.
func checkExactlyOnce(infos []ConfigInfo, conn Connector, config map[string]string, mode ExactlyOnceMode) []ConfigInfo {
	add := func(key, msg string) {
		for i := range infos {
			if infos[i].Value.Name == key {
				infos[i].Value.Errors = append(infos[i].Value.Errors, msg)
			}
		}
	}
	c := ParseExactlyOnceConfig(config)
	if c.Required {
		switch {
		case mode != ExactlyOnceEnabled:
			add(KeyExactlyOnceSupport, "This worker does not have exactly-once source support enabled.")
		case conn == nil:
		default:
			s := ExactlyOnceUnknown
			if e, ok := conn.(ExactlyOnceSourceConnector); ok {
				s = e.ExactlyOnceSupport(config)
			}
			switch s {
			case ExactlyOnceUnknown:
				add(KeyExactlyOnceSupport, "The connector does not implement the API required for preflight validation of exactly-once source support. Please consult the documentation for the connector to determine whether it supports exactly-once semantics, and then consider reconfiguring the connector to use the value \"requested\" for this property (which will disable this preflight check and allow the connector to be created).")
			case ExactlyOnceUnsupported:
				add(KeyExactlyOnceSupport, "The connector does not support exactly-once semantics with the provided configuration.")
			}
		}
	}
	if c.Boundary == BoundaryConnector && mode == ExactlyOnceEnabled && conn != nil {
		if b, ok := conn.(TransactionBoundaryConnector); !ok || !b.CanDefineTransactionBoundaries(config) {
			add(KeyTransactionBoundary, "The connector does not support connector-defined transaction boundaries with the given configuration. Please reconfigure it to use a different transaction boundary definition.")
		}
	}
	return infos
}
