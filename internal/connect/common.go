package connect

import (
	"errors"
	"fmt"
	"strings"
)

// Keys every connector's configuration may hold, Kafka Connect's
// ConnectorConfig, SinkConnectorConfig and SourceConnectorConfig.
const (
	KeyName             = "name"
	KeyConnectorClass   = "connector.class"
	KeyTasksMax         = "tasks.max"
	KeyKeyConverter     = "key.converter"
	KeyValueConverter   = "value.converter"
	KeyHeaderConverter  = "header.converter"
	KeyTransforms       = "transforms"
	KeyPredicates       = "predicates"
	KeyErrorsTolerance  = "errors.tolerance"
	KeyErrorsRetryMs    = "errors.retry.timeout"
	KeyErrorsRetryDelay = "errors.retry.delay.max.ms"
	KeyErrorsLog        = "errors.log.enable"
	KeyErrorsLogMsgs    = "errors.log.include.messages"
	KeyTopics           = "topics"       // sink
	KeyTopicsRegex      = "topics.regex" // sink
	KeyDLQTopic         = "errors.deadletterqueue.topic.name"
	KeyDLQRF            = "errors.deadletterqueue.topic.replication.factor"
	KeyDLQHeaders       = "errors.deadletterqueue.context.headers.enable"
)

const groupCommon, groupTransforms, groupErrors = "Common", "Transforms", "Error Handling"

// CommonConfig declares the keys of every connector, as Kafka's
// ConnectorConfig does.
func CommonConfig() ConfigDef {
	return ConfigDef{
		{Name: KeyName, Type: ConfigString, Default: NoDefault, Importance: High, Group: groupCommon, OrderInGroup: 1, Width: "MEDIUM", DisplayName: "Connector name",
			Doc: "Globally unique name to use for this connector.", Validator: func(v any) error {
				if strings.TrimSpace(v.(string)) == "" {
					return errors.New("String must be non-empty")
				}
				return nil
			}},
		{Name: KeyConnectorClass, Type: ConfigString, Default: NoDefault, Importance: High, Group: groupCommon, OrderInGroup: 2, Width: "LONG", DisplayName: "Connector class",
			Doc: "Name or alias of the class for this connector. Must be a subclass of org.apache.kafka.connect.connector.Connector."},
		{Name: KeyTasksMax, Type: ConfigInt, Default: "1", Importance: High, Group: groupCommon, OrderInGroup: 3, DisplayName: "Tasks max",
			Doc: "Maximum number of tasks to use for this connector.", Validator: func(v any) error {
				if v.(int32) < 1 {
					return errors.New("Value must be at least 1")
				}
				return nil
			}},
		{Name: KeyKeyConverter, Type: ConfigClass, NullDefault: true, Importance: Low, Group: groupCommon, OrderInGroup: 4, Width: "SHORT", DisplayName: "Key converter class",
			Doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Overrides the worker's key.converter."},
		{Name: KeyValueConverter, Type: ConfigClass, NullDefault: true, Importance: Low, Group: groupCommon, OrderInGroup: 5, Width: "SHORT", DisplayName: "Value converter class",
			Doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Overrides the worker's value.converter."},
		{Name: KeyHeaderConverter, Type: ConfigClass, NullDefault: true, Importance: Low, Group: groupCommon, OrderInGroup: 6, Width: "SHORT", DisplayName: "Header converter class",
			Doc: "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Overrides the worker's header.converter."},
		{Name: KeyTransforms, Type: ConfigList, Default: "", Importance: Low, Group: groupTransforms, OrderInGroup: 1, Width: "LONG", DisplayName: "Transforms",
			Doc: "Aliases for the transformations to be applied to records."},
		{Name: KeyPredicates, Type: ConfigList, Default: "", Importance: Low, Group: "Predicates", OrderInGroup: 1, Width: "LONG", DisplayName: "Predicates",
			Doc: "Aliases for the predicates used by transformations."},
		{Name: KeyErrorsRetryMs, Type: ConfigLong, Default: "0", Importance: Medium, Group: groupErrors, OrderInGroup: 1, Width: "MEDIUM", DisplayName: "Retry Timeout for Errors",
			Doc: "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which means no retries will be attempted. Use -1 for infinite retries."},
		{Name: KeyErrorsRetryDelay, Type: ConfigLong, Default: "60000", Importance: Medium, Group: groupErrors, OrderInGroup: 2, Width: "MEDIUM", DisplayName: "Maximum Delay Between Retries for Errors",
			Doc: "The maximum duration in milliseconds between consecutive retry attempts. Jitter will be added to the delay once this limit is reached to prevent thundering herd issues."},
		{Name: KeyErrorsTolerance, Type: ConfigString, Default: "none", Importance: Medium, Group: groupErrors, OrderInGroup: 3, Width: "SHORT", DisplayName: "Error Tolerance",
			Doc:         "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records.",
			Recommended: []string{"none", "all"}, Validator: oneOf("none", "all")},
		{Name: KeyErrorsLog, Type: ConfigBoolean, Default: "false", Importance: Medium, Group: groupErrors, OrderInGroup: 4, Width: "SHORT", DisplayName: "Log Errors",
			Doc: "If true, write each error and the details of the failed operation and problematic record to the Connect application log."},
		{Name: KeyErrorsLogMsgs, Type: ConfigBoolean, Default: "false", Importance: Medium, Group: groupErrors, OrderInGroup: 5, Width: "SHORT", DisplayName: "Log Error Details",
			Doc: "Whether to include in the log the Connect record that resulted in a failure."},
	}
}

// SinkConfig declares the keys of every sink connector (CommonConfig's
// and the sink's own: topics, dead-letter queue).
func SinkConfig() ConfigDef {
	return CommonConfig().Merge(ConfigDef{
		{Name: KeyTopics, Type: ConfigList, Default: "", Importance: High, Group: groupCommon, OrderInGroup: 4, Width: "LONG", DisplayName: "Topics",
			Doc: "List of topics to consume, separated by commas"},
		{Name: KeyTopicsRegex, Type: ConfigString, Default: "", Importance: High, Group: groupCommon, OrderInGroup: 4, Width: "LONG", DisplayName: "Topics regex",
			Doc: "Regular expression giving topics to consume. Only one of topics or topics.regex should be specified."},
		{Name: KeyDLQTopic, Type: ConfigString, Default: "", Importance: Medium, Group: groupErrors, OrderInGroup: 6, Width: "MEDIUM", DisplayName: "Dead Letter Queue Topic Name",
			Doc: "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector, or its transformations or converters. The topic name is blank by default, which means that no messages are to be recorded in the DLQ."},
		{Name: KeyDLQRF, Type: ConfigShort, Default: "3", Importance: Medium, Group: groupErrors, OrderInGroup: 7, Width: "MEDIUM", DisplayName: "Dead Letter Queue Topic Replication Factor",
			Doc: "Replication factor used to create the dead letter queue topic when it doesn't already exist."},
		{Name: KeyDLQHeaders, Type: ConfigBoolean, Default: "false", Importance: Medium, Group: groupErrors, OrderInGroup: 8, Width: "MEDIUM", DisplayName: "Enable Error Context Headers",
			Doc: "If true, add headers containing error context to the messages written to the dead letter queue. To avoid clashing with headers from the original record, all error context header keys, all error context header keys will start with __connect.errors."},
	})
}

// SourceConfig declares the keys of every source connector.
func SourceConfig() ConfigDef { return CommonConfig().Merge(exactlyOnceKeys()) }

// oneOf returns a validator accepting only the given strings.
func oneOf(allowed ...string) func(any) error {
	return func(v any) error {
		s, _ := v.(string)
		for _, a := range allowed {
			if strings.EqualFold(s, a) {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(allowed, ", "))
	}
}

// OneOf is the validator of a key that takes one of a few strings (case
// insensitive), with Kafka's message.
func OneOf(allowed ...string) func(any) error { return oneOf(allowed...) }
