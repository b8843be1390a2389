package connect

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/fjordstream/fjord/internal/config"
)

// Worker configuration keys, Kafka Connect's WorkerConfig,
// StandaloneConfig and DistributedConfig names.
const (
	WorkerBootstrapServers        = "bootstrap.servers"
	WorkerKeyConverter            = "key.converter"
	WorkerValueConverter          = "value.converter"
	WorkerHeaderConverter         = "header.converter"
	WorkerOffsetFlushInterval     = "offset.flush.interval.ms"
	WorkerOffsetFlushTimeout      = "offset.flush.timeout.ms"
	WorkerListeners               = "listeners"
	WorkerRestAdvertisedHost      = "rest.advertised.host.name"
	WorkerRestAdvertisedPort      = "rest.advertised.port"
	WorkerRestAdvertisedListener  = "rest.advertised.listener"
	WorkerPluginPath              = "plugin.path"
	WorkerTaskShutdownTimeout     = "task.shutdown.graceful.timeout.ms"
	WorkerOffsetFile              = "offset.storage.file.filename"
	WorkerGroupID                 = "group.id"
	WorkerConfigTopic             = "config.storage.topic"
	WorkerOffsetTopic             = "offset.storage.topic"
	WorkerStatusTopic             = "status.storage.topic"
	WorkerConfigTopicRF           = "config.storage.replication.factor"
	WorkerOffsetTopicRF           = "offset.storage.replication.factor"
	WorkerOffsetTopicPartitions   = "offset.storage.partitions"
	WorkerStatusTopicRF           = "status.storage.replication.factor"
	WorkerStatusTopicPartitions   = "status.storage.partitions"
	WorkerSessionTimeout          = "session.timeout.ms"
	WorkerHeartbeatInterval       = "heartbeat.interval.ms"
	WorkerRebalanceTimeout        = "rebalance.timeout.ms"
	WorkerScheduledRebalanceDelay = "scheduled.rebalance.max.delay.ms"
	WorkerConnectProtocol         = "connect.protocol"
	// KIP-507's keys: accepted and checked as Kafka checks them. Fjord's
	// workers have no internal endpoint they would protect (see
	// docs/connect.md), so no session key is made from them.
	WorkerInterWorkerKeyAlgorithm  = "inter.worker.key.generation.algorithm"
	WorkerInterWorkerKeySize       = "inter.worker.key.size"
	WorkerInterWorkerKeyTTL        = "inter.worker.key.ttl.ms"
	WorkerInterWorkerSignature     = "inter.worker.signature.algorithm"
	WorkerInterWorkerVerifications = "inter.worker.verification.algorithms"
	WorkerTopicTracking            = "topic.tracking.enable"
	WorkerTopicTrackingReset       = "topic.tracking.allow.reset"
)

// WorkerMode is standalone or distributed.
type WorkerMode string

// Worker modes, as connect-standalone.sh and connect-distributed.sh.
const (
	Standalone  WorkerMode = "standalone"
	Distributed WorkerMode = "distributed"
)

// WorkerConfigDef declares a worker's keys in mode, with Kafka's defaults.
// Kafka requires key.converter and value.converter; Fjord defaults them
// to Kafka's JsonConverter, what Kafka's sample worker files set.
func WorkerConfigDef(mode WorkerMode) ConfigDef {
	def := ConfigDef{
		{Name: WorkerBootstrapServers, Type: ConfigList, Default: "localhost:9092", Importance: High,
			Doc: "A list of host/port pairs to use for establishing the initial connection to the Kafka cluster."},
		{Name: WorkerKeyConverter, Type: ConfigClass, Default: "org.apache.kafka.connect.json.JsonConverter", Importance: High,
			Doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka (keys)."},
		{Name: WorkerValueConverter, Type: ConfigClass, Default: "org.apache.kafka.connect.json.JsonConverter", Importance: High,
			Doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka (values)."},
		{Name: WorkerHeaderConverter, Type: ConfigClass, Default: "org.apache.kafka.connect.storage.SimpleHeaderConverter", Importance: Low,
			Doc: "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is written to Kafka (headers)."},
		{Name: WorkerOffsetFlushInterval, Type: ConfigLong, Default: "60000", Importance: Low,
			Doc: "Interval at which to try committing offsets for tasks."},
		{Name: WorkerOffsetFlushTimeout, Type: ConfigLong, Default: "5000", Importance: Low,
			Doc: "Maximum number of milliseconds to wait for records to flush and partition offset data to be committed to offset storage before cancelling the process and restoring the offset data to be committed in a future attempt."},
		{Name: WorkerListeners, Type: ConfigList, Default: "http://:8083", Importance: Low,
			Doc: "List of comma-separated URIs the REST API will listen on. The supported protocols are HTTP and HTTPS (Fjord: HTTP only)."},
		{Name: WorkerRestAdvertisedHost, Type: ConfigString, NullDefault: true, Importance: Low,
			Doc: "If this is set, this is the hostname that will be given out to other workers to connect to."},
		{Name: WorkerRestAdvertisedPort, Type: ConfigInt, NullDefault: true, Importance: Low,
			Doc: "If this is set, this is the port that will be given out to other workers to connect to."},
		{Name: WorkerRestAdvertisedListener, Type: ConfigString, NullDefault: true, Importance: Low,
			Doc: "Sets the advertised listener (HTTP or HTTPS) which will be given to other workers to use."},
		{Name: WorkerPluginPath, Type: ConfigList, NullDefault: true, Importance: Low,
			Doc: "Accepted and ignored: Fjord's connectors are built into the binary."},
		{Name: WorkerTaskShutdownTimeout, Type: ConfigLong, Default: "5000", Importance: Low,
			Doc: "Amount of time to wait for tasks to shutdown gracefully."},
		{Name: WorkerTopicCreation, Type: ConfigBoolean, Default: "true", Importance: Low,
			Doc: "Whether to allow automatic creation of topics used by source connectors, when source connectors are configured with `topic.creation.` properties."},
		{Name: WorkerTopicTracking, Type: ConfigBoolean, Default: "true", Importance: Low,
			Doc: "Enable tracking the set of active topics per connector during runtime."},
		{Name: WorkerTopicTrackingReset, Type: ConfigBoolean, Default: "true", Importance: Low,
			Doc: "If set to true, it allows user requests to reset the set of active topics per connector."},
		{Name: WorkerClientOverridePolicy, Type: ConfigString, Default: string(OverrideAll), Importance: Medium,
			Doc:         "Which of a connector's Kafka client settings (producer.override.*, consumer.override.*, admin.override.*) it may set: All, None, or Principal (sasl.jaas.config, sasl.mechanism and security.protocol only). Kafka's class names for the three are accepted too.",
			Recommended: []string{string(OverrideAll), string(OverrideNone), string(OverridePrincipal)},
			Validator: func(v any) error {
				s, _ := v.(string)
				_, err := ParseClientOverridePolicy(s)
				return err
			}},
	}
	switch mode {
	case Standalone:
		def = append(def, ConfigKey{Name: WorkerOffsetFile, Type: ConfigString, Default: NoDefault, Importance: High,
			Doc: "File to store source connector offsets."})
	case Distributed:
		def = append(def,
			ConfigKey{Name: WorkerGroupID, Type: ConfigString, Default: NoDefault, Importance: High,
				Doc: "A unique string that identifies the Connect cluster group this worker belongs to."},
			ConfigKey{Name: WorkerConfigTopic, Type: ConfigString, Default: NoDefault, Importance: High,
				Doc: "The name of the Kafka topic where connector configurations are stored."},
			ConfigKey{Name: WorkerOffsetTopic, Type: ConfigString, Default: NoDefault, Importance: High,
				Doc: "The name of the Kafka topic where source connector offsets are stored."},
			ConfigKey{Name: WorkerStatusTopic, Type: ConfigString, Default: NoDefault, Importance: High,
				Doc: "The name of the Kafka topic where connector and task status are stored."},
			ConfigKey{Name: WorkerConfigTopicRF, Type: ConfigShort, Default: "3", Importance: Low,
				Doc: "Replication factor used when creating the configuration storage topic (-1: the broker's default)."},
			ConfigKey{Name: WorkerOffsetTopicRF, Type: ConfigShort, Default: "3", Importance: Low,
				Doc: "Replication factor used when creating the offset storage topic (-1: the broker's default)."},
			ConfigKey{Name: WorkerOffsetTopicPartitions, Type: ConfigInt, Default: "25", Importance: Low,
				Doc: "The number of partitions used when creating the offset storage topic (-1: the broker's default)."},
			ConfigKey{Name: WorkerStatusTopicRF, Type: ConfigShort, Default: "3", Importance: Low,
				Doc: "Replication factor used when creating the status storage topic (-1: the broker's default)."},
			ConfigKey{Name: WorkerStatusTopicPartitions, Type: ConfigInt, Default: "5", Importance: Low,
				Doc: "The number of partitions used when creating the status storage topic (-1: the broker's default)."},
			ConfigKey{Name: WorkerSessionTimeout, Type: ConfigInt, Default: "10000", Importance: High,
				Doc: "The timeout used to detect worker failures."},
			ConfigKey{Name: WorkerHeartbeatInterval, Type: ConfigInt, Default: "3000", Importance: High,
				Doc: "The expected time between heartbeats to the group coordinator when using Kafka's group management facilities."},
			ConfigKey{Name: WorkerRebalanceTimeout, Type: ConfigInt, Default: "60000", Importance: High,
				Doc: "The maximum allowed time for each worker to join the group once a rebalance has begun."},
			ConfigKey{Name: WorkerScheduledRebalanceDelay, Type: ConfigInt, Default: "300000", Importance: Low,
				Doc: "The maximum delay that is scheduled in order to wait for the return of one or more departed workers before rebalancing and reassigning their connectors and tasks to the group."},
			ConfigKey{Name: WorkerConnectProtocol, Type: ConfigString, Default: "sessioned", Importance: Low,
				Doc:         "Compatibility mode for Kafka Connect Protocol. Fjord serves the incremental cooperative protocols (compatible, sessioned); eager, Kafka's protocol before 2.3, is refused.",
				Recommended: []string{"compatible", "sessioned"},
				Validator: func(v any) error {
					if s, _ := v.(string); strings.EqualFold(s, "eager") {
						return errors.New("eager rebalancing is not supported by Fjord Connect; use compatible or sessioned")
					}
					return OneOf("compatible", "sessioned")(v)
				}},
			ConfigKey{Name: WorkerExactlyOnceSourceSupport, Type: ConfigString, Default: string(ExactlyOnceDisabled), Importance: High,
				Doc:         "Whether to enable exactly-once support for source connectors in the cluster by using transactions to write source records and their source offsets, and by proactively fencing out old task generations before bringing up new ones. To enable exactly-once source support on a new cluster, set this property to 'enabled'. To enable support on an existing cluster, first set to 'preparing' on every worker in the cluster, then set to 'enabled'. A rolling upgrade may be used for both changes.",
				Recommended: []string{string(ExactlyOnceDisabled), string(ExactlyOncePreparing), string(ExactlyOnceEnabled)},
				Validator: func(v any) error {
					s, _ := v.(string)
					_, err := ParseExactlyOnceMode(s)
					return err
				}},
			ConfigKey{Name: WorkerInterWorkerKeyAlgorithm, Type: ConfigString, Default: "HmacSHA256", Importance: Low,
				Doc: "The algorithm to use for generating internal request keys (KIP-507; Fjord has no internal request to sign).", Validator: OneOf(hmacAlgorithms...)},
			ConfigKey{Name: WorkerInterWorkerKeySize, Type: ConfigInt, NullDefault: true, Importance: Low,
				Doc: "The size of the key to use for signing internal requests, in bits (KIP-507).", Validator: func(v any) error {
					if n, ok := v.(int32); ok && n < 1 {
						return errors.New("Value must be at least 1")
					}
					return nil
				}},
			ConfigKey{Name: WorkerInterWorkerKeyTTL, Type: ConfigLong, Default: "3600000", Importance: Low,
				Doc: "The TTL of generated session keys used for internal request validation, in milliseconds (KIP-507).", Validator: func(v any) error {
					if v.(int64) < 0 {
						return errors.New("Value must be at least 0")
					}
					return nil
				}},
			ConfigKey{Name: WorkerInterWorkerSignature, Type: ConfigString, Default: "HmacSHA256", Importance: Low,
				Doc: "The algorithm used to sign internal requests (KIP-507).", Validator: OneOf(hmacAlgorithms...)},
			ConfigKey{Name: WorkerInterWorkerVerifications, Type: ConfigList, Default: "HmacSHA256", Importance: Low,
				Doc: "A list of permitted algorithms for verifying internal requests, which must include the algorithm used for the inter.worker.signature.algorithm property (KIP-507).", Validator: func(v any) error {
					l := v.([]string)
					if len(l) == 0 {
						return errors.New("At least one signature verification algorithm must be provided")
					}
					for _, a := range l {
						if err := OneOf(hmacAlgorithms...)(a); err != nil {
							return err
						}
					}
					return nil
				}},
		)
	}
	return def
}

// hmacAlgorithms are the MAC algorithms KIP-507's keys may name (Java's
// names).
var hmacAlgorithms = []string{"HmacMD5", "HmacSHA1", "HmacSHA224", "HmacSHA256", "HmacSHA384", "HmacSHA512",
	"HmacSHA512/224", "HmacSHA512/256", "HmacSHA3-224", "HmacSHA3-256", "HmacSHA3-384", "HmacSHA3-512"}

// ReadProperties reads a worker's or connector's .properties file with
// java.util.Properties rules (internal/config's parser).
func ReadProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props, err := config.ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return props, nil
}

// WithPrefix returns the keys of props that start with prefix, the prefix
// removed: a converter's own keys (key.converter.schemas.enable ->
// schemas.enable), a client's overrides (producer.*, consumer.*).
func WithPrefix(props map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" {
			out[rest] = v
		}
	}
	return out
}

// ConverterProps returns the worker's converter keys (key.converter and
// key.converter.*, and the same for value and header converters), each
// converter class defaulted as WorkerConfigDef says: what the runtime
// reads.
func ConverterProps(worker map[string]string) map[string]string {
	out := map[string]string{}
	keys := []string{WorkerKeyConverter, WorkerValueConverter, WorkerHeaderConverter}
	for k, v := range worker {
		for _, p := range keys {
			if k == p || strings.HasPrefix(k, p+".") {
				out[k] = v
			}
		}
	}
	def := WorkerConfigDef(Standalone)
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			out[k] = def.Key(k).Default
		}
	}
	return out
}

// ParseWorkerConfig validates and parses worker.properties for mode; the
// error lists every refused key's message.
func ParseWorkerConfig(mode WorkerMode, worker map[string]string) (*Props, error) {
	def := WorkerConfigDef(mode)
	if results := def.Validate(worker); ErrorCount(results) > 0 {
		var msgs []string
		for _, r := range results {
			msgs = append(msgs, r.Errors...)
		}
		return nil, fmt.Errorf("worker configuration: %s", strings.Join(msgs, "; "))
	}
	props, err := def.Parse(worker)
	if err != nil {
		return nil, err
	}
	if mode == Distributed {
		sig := props.String(WorkerInterWorkerSignature)
		if !slices.Contains(props.List(WorkerInterWorkerVerifications), sig) { // case-sensitive, as Kafka's check
			return nil, fmt.Errorf("worker configuration: %s must include the %s %s", WorkerInterWorkerVerifications, WorkerInterWorkerSignature, sig)
		}
	}
	return props, nil
}
