package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Broker is a node's validated static configuration. Build it with
// [LoadBroker]; it is immutable afterwards (callers must not modify the
// slices and maps it holds), so it can be shared and swapped atomically.
type Broker struct {
	NodeID                           int32    // node.id
	ProcessRoles                     []string // process.roles: "broker", "controller"
	ClusterID                        string   // cluster.id; "" = generate on first start
	BrokerRack                       string   // broker.rack; "" = none
	ReplicaSelectorClass             string   // replica.selector.class; "" = leader-only reads
	ControllerQuorumVoters           []Voter  // controller.quorum.voters
	ControllerQuorumBootstrapServers []string // controller.quorum.bootstrap.servers
	ControllerListenerNames          []string // controller.listener.names, upper-cased

	// Listeners are the bound addresses, each with its security protocol.
	Listeners []Listener
	// HTTPListeners are the addresses (host:port) serving /metrics,
	// /healthz and /readyz: http.listeners. Empty: none.
	HTTPListeners []string
	// MetricsPartitionSeries is metrics.partition.series.enable: series
	// per partition on /metrics.
	MetricsPartitionSeries bool
	// HTTPConsole is http.console.enable: the web console on the
	// http.listeners.
	HTTPConsole bool
	// RequestLog is request.log.enable: a log line per request answered,
	// at first (changeable at runtime).
	RequestLog bool
	// AdvertisedListeners are published to clients: advertised.listeners, or
	// the non-controller listeners when unset.
	AdvertisedListeners []Listener
	// ListenerSecurityProtocolMap maps listener names to protocols.
	ListenerSecurityProtocolMap map[string]string
	// InterBrokerListenerName is resolved (never empty on a broker node).
	InterBrokerListenerName string

	LogDirs                          []string      // log.dirs, else log.dir
	NumRecoveryThreadsPerDataDir     int           // num.recovery.threads.per.data.dir
	NumPartitions                    int32         // num.partitions
	DefaultReplicationFactor         int16         // default.replication.factor
	AutoCreateTopicsEnable           bool          // auto.create.topics.enable
	DeleteTopicEnable                bool          // delete.topic.enable
	MessageMaxBytes                  int32         // message.max.bytes
	LogRetentionCheckInterval        time.Duration // log.retention.check.interval.ms
	LogFlushSchedulerInterval        time.Duration // log.flush.scheduler.interval.ms
	LogFlushOffsetCheckpointInterval time.Duration // log.flush.offset.checkpoint.interval.ms
	LogCleanerEnable                 bool          // log.cleaner.enable
	LogCleanerThreads                int           // log.cleaner.threads
	LogCleanerBackoff                time.Duration // log.cleaner.backoff.ms
	LogCleanerIOMaxBytesPerSecond    float64       // log.cleaner.io.max.bytes.per.second

	SocketRequestMaxBytes     int32         // socket.request.max.bytes
	SocketSendBufferBytes     int           // socket.send.buffer.bytes; -1 = OS default
	SocketReceiveBufferBytes  int           // socket.receive.buffer.bytes; -1 = OS default
	NumNetworkThreads         int           // num.network.threads (informational)
	NumIOThreads              int           // num.io.threads (informational)
	QueuedMaxRequests         int           // queued.max.requests
	QueuedMaxRequestBytes     int64         // queued.max.request.bytes; -1 = unbounded
	ConnectionsMaxIdle        time.Duration // connections.max.idle.ms
	MaxConnections            int           // max.connections
	MaxConnectionsPerIP       int           // max.connections.per.ip
	MaxConnectionCreationRate int           // max.connection.creation.rate
	FetchMaxBytes             int32         // fetch.max.bytes

	ReplicaLagTimeMax            time.Duration // replica.lag.time.max.ms
	ReplicaFetchMaxBytes         int32         // replica.fetch.max.bytes
	ReplicaFetchResponseMaxBytes int32         // replica.fetch.response.max.bytes
	ReplicaFetchWaitMax          time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchMinBytes         int32         // replica.fetch.min.bytes
	ReplicaFetchBackoff          time.Duration // replica.fetch.backoff.ms
	NumReplicaFetchers           int           // num.replica.fetchers
	// The replication throttles' static values (bytes per second;
	// dynamic broker configs override them) and their measuring window.
	LeaderReplicationThrottledRate   int64         // leader.replication.throttled.rate
	FollowerReplicationThrottledRate int64         // follower.replication.throttled.rate
	ReplicationQuotaWindowNum        int           // replication.quota.window.num
	ReplicationQuotaWindowSize       time.Duration // replication.quota.window.size.seconds
	BrokerSessionTimeout             time.Duration // broker.session.timeout.ms
	BrokerHeartbeatInterval          time.Duration // broker.heartbeat.interval.ms
	AutoLeaderRebalanceEnable        bool          // auto.leader.rebalance.enable
	LeaderImbalanceCheckInterval     time.Duration // leader.imbalance.check.interval.seconds
	ControlledShutdownEnable         bool          // controlled.shutdown.enable
	// The continuous balancer (Fjord only).
	BalancerEnable             bool          // balancer.enable
	BalancerInterval           time.Duration // balancer.interval.ms
	BalancerBrokerGone         time.Duration // balancer.broker.gone.ms
	BalancerMaxConcurrentMoves int           // balancer.max.concurrent.moves
	BalancerDiskUsageThreshold int           // balancer.disk.usage.threshold.percent

	OffsetsTopicNumPartitions     int32         // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor
	OffsetsTopicSegmentBytes      int32         // offsets.topic.segment.bytes
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms
	GroupMaxSize                  int32         // group.max.size
	GroupRebalanceProtocols       []string      // group.coordinator.rebalance.protocols
	GroupConsumerSessionTimeout   time.Duration // group.consumer.session.timeout.ms
	GroupConsumerHeartbeat        time.Duration // group.consumer.heartbeat.interval.ms
	GroupConsumerMaxSize          int32         // group.consumer.max.size
	GroupConsumerAssignors        []string      // group.consumer.assignors

	TransactionStateLogReplicationFactor int16         // transaction.state.log.replication.factor
	TransactionStateLogMinISR            int32         // transaction.state.log.min.isr
	TransactionStateLogNumPartitions     int32         // transaction.state.log.num.partitions
	TransactionMaxTimeout                time.Duration // transaction.max.timeout.ms
	TransactionalIDExpiration            time.Duration // transactional.id.expiration.ms
	TransactionStateLogSegmentBytes      int32         // transaction.state.log.segment.bytes
	TransactionAbortCheckInterval        time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	TransactionExpiredCheckInterval      time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	TransactionVersion                   int16         // transaction.version: the finalized feature level
	ProducerIDExpiration                 time.Duration // producer.id.expiration.ms

	TLS TLS

	// Topic holds the broker-level topic defaults (log.segment.bytes and
	// friends, resolved with Kafka's precedence).
	Topic Topic

	table         *Table
	static        map[string]string // known broker keys as configured
	topicDefaults map[string]string // topic key -> default in topic units
}

// TLS holds the ssl.* keys used by SSL and SASL_SSL listeners.
type TLS struct {
	KeystoreLocation   string // ssl.keystore.location
	KeystorePassword   string // ssl.keystore.password
	KeyPassword        string // ssl.key.password
	TruststoreLocation string // ssl.truststore.location
	TruststorePassword string // ssl.truststore.password
	ClientAuth         string // ssl.client.auth: required, requested or none
}

// HasRole reports whether process.roles includes role ("broker" or "controller").
func (b *Broker) HasRole(role string) bool { return slices.Contains(b.ProcessRoles, role) }

// Value returns a broker key's configured value, or its default; ok is
// false for an unknown key or a null value.
func (b *Broker) Value(name string) (value string, ok bool) {
	k, found := b.table.Lookup(name)
	if !found || !k.IsBroker() {
		return "", false
	}
	if v, set := b.static[name]; set {
		return trim(v), true
	}
	return k.Default, k.Default != ""
}

// Static returns a copy of the known broker keys as configured (trimmed).
func (b *Broker) Static() map[string]string { return maps.Clone(b.static) }

// LoadBroker validates broker properties (from ParseProperties plus
// overrides) and resolves them into a Broker. Unknown keys, and topic keys
// given to the broker, are returned as warnings and ignored. Invalid values
// are errors (joined, in key order) that name the key, the value and the
// reason, and wrap ErrInvalidConfig.
func LoadBroker(props map[string]string) (*Broker, []string, error) {
	t := Registry()
	var warnings []string
	static := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		k, ok := t.Lookup(name)
		switch {
		case !ok:
			warnings = append(warnings, fmt.Sprintf("unknown config %q ignored", name))
		case !k.IsBroker():
			warnings = append(warnings, fmt.Sprintf("config %q is a topic config, ignored in broker properties (its broker default is %s)",
				name, synonymNames(t, name)))
		case name == CordonedLogDirs:
			// Only the dynamic value counts (see cordon.go); a static one
			// would look set in DescribeConfigs and do nothing.
			warnings = append(warnings, fmt.Sprintf("config %q ignored in broker properties: set it per broker at run time (IncrementalAlterConfigs, or fjord cluster decommission N --execute)", name))
		default:
			static[name] = trim(props[name])
		}
	}

	values := map[string]any{}
	var errs []error
	for _, k := range t.keys {
		if !k.IsBroker() {
			continue
		}
		raw, set := static[k.Name]
		if !set {
			if k.Default == "" {
				continue
			}
			raw = k.Default
		}
		v, err := k.Parse(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		values[k.Name] = v
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}

	b := &Broker{table: t, static: static}
	var err error
	b.topicDefaults, b.Topic, err = brokerTopicDefaults(t, static)
	if err != nil {
		return nil, warnings, err
	}
	b.fill(values)
	if err := b.resolveNetwork(values); err != nil {
		return nil, warnings, err
	}
	return b, warnings, nil
}

// synonymNames lists the broker keys that supply a topic key's default.
func synonymNames(t *Table, topicKey string) string {
	var names []string
	for _, k := range t.BrokerSynonyms(topicKey) {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}

// fill copies parsed values into the typed fields. Every key read here has
// a non-null default, so the value is present; validators bound the ranges,
// so the narrowing conversions cannot truncate.
func (b *Broker) fill(values map[string]any) {
	i := func(name string) int64 { n, _ := values[name].(int64); return n }
	ms := func(name string) time.Duration { return msToDuration(i(name)) }
	str := func(name string) string { s, _ := values[name].(string); return s }
	flag := func(name string) bool { v, _ := values[name].(bool); return v }
	list := func(name string) []string { l, _ := values[name].([]string); return l }

	b.NodeID = int32(i("node.id"))
	b.ProcessRoles = list("process.roles")
	b.ClusterID = str("cluster.id")
	b.BrokerRack = str("broker.rack")
	b.ReplicaSelectorClass = trim(str("replica.selector.class"))
	b.ControllerQuorumVoters, _ = ParseVoters(list("controller.quorum.voters"))
	b.ControllerQuorumBootstrapServers = list("controller.quorum.bootstrap.servers")

	b.LogDirs = list("log.dirs")
	if len(b.LogDirs) == 0 {
		b.LogDirs = list("log.dir")
	}
	b.NumRecoveryThreadsPerDataDir = int(i("num.recovery.threads.per.data.dir"))
	b.NumPartitions = int32(i("num.partitions"))
	b.DefaultReplicationFactor = int16(i("default.replication.factor"))
	b.AutoCreateTopicsEnable = flag("auto.create.topics.enable")
	b.DeleteTopicEnable = flag("delete.topic.enable")
	b.MessageMaxBytes = int32(i("message.max.bytes"))
	b.LogRetentionCheckInterval = ms("log.retention.check.interval.ms")
	b.LogFlushSchedulerInterval = ms("log.flush.scheduler.interval.ms")
	b.LogFlushOffsetCheckpointInterval = ms("log.flush.offset.checkpoint.interval.ms")
	b.LogCleanerEnable = flag("log.cleaner.enable")
	b.LogCleanerThreads = int(i("log.cleaner.threads"))
	b.LogCleanerBackoff = ms("log.cleaner.backoff.ms")
	b.LogCleanerIOMaxBytesPerSecond, _ = values["log.cleaner.io.max.bytes.per.second"].(float64)

	b.SocketRequestMaxBytes = int32(i("socket.request.max.bytes"))
	b.SocketSendBufferBytes = int(i("socket.send.buffer.bytes"))
	b.SocketReceiveBufferBytes = int(i("socket.receive.buffer.bytes"))
	b.NumNetworkThreads = int(i("num.network.threads"))
	b.NumIOThreads = int(i("num.io.threads"))
	b.QueuedMaxRequests = int(i("queued.max.requests"))
	b.QueuedMaxRequestBytes = i("queued.max.request.bytes")
	b.ConnectionsMaxIdle = ms("connections.max.idle.ms")
	b.MaxConnections = int(i("max.connections"))
	b.MaxConnectionsPerIP = int(i("max.connections.per.ip"))
	b.MaxConnectionCreationRate = int(i("max.connection.creation.rate"))
	b.FetchMaxBytes = int32(i("fetch.max.bytes"))

	b.ReplicaLagTimeMax = ms("replica.lag.time.max.ms")
	b.ReplicaFetchMaxBytes = int32(i("replica.fetch.max.bytes"))
	b.ReplicaFetchResponseMaxBytes = int32(i("replica.fetch.response.max.bytes"))
	b.ReplicaFetchWaitMax = ms("replica.fetch.wait.max.ms")
	b.ReplicaFetchMinBytes = int32(i("replica.fetch.min.bytes"))
	b.ReplicaFetchBackoff = ms("replica.fetch.backoff.ms")
	b.NumReplicaFetchers = int(i("num.replica.fetchers"))
	b.LeaderReplicationThrottledRate = i("leader.replication.throttled.rate")
	b.FollowerReplicationThrottledRate = i("follower.replication.throttled.rate")
	b.ReplicationQuotaWindowNum = int(i("replication.quota.window.num"))
	b.ReplicationQuotaWindowSize = time.Duration(i("replication.quota.window.size.seconds")) * time.Second
	b.BrokerSessionTimeout = ms("broker.session.timeout.ms")
	b.BrokerHeartbeatInterval = ms("broker.heartbeat.interval.ms")
	b.AutoLeaderRebalanceEnable, _ = values["auto.leader.rebalance.enable"].(bool)
	b.LeaderImbalanceCheckInterval = time.Duration(i("leader.imbalance.check.interval.seconds")) * time.Second
	b.ControlledShutdownEnable, _ = values["controlled.shutdown.enable"].(bool)
	b.BalancerEnable, _ = values["balancer.enable"].(bool)
	b.BalancerInterval = ms("balancer.interval.ms")
	b.BalancerBrokerGone = ms("balancer.broker.gone.ms")
	b.BalancerMaxConcurrentMoves = int(i("balancer.max.concurrent.moves"))
	b.BalancerDiskUsageThreshold = int(i("balancer.disk.usage.threshold.percent"))

	b.OffsetsTopicNumPartitions = int32(i("offsets.topic.num.partitions"))
	b.OffsetsTopicReplicationFactor = int16(i("offsets.topic.replication.factor"))
	b.OffsetsTopicSegmentBytes = int32(i("offsets.topic.segment.bytes"))
	b.OffsetsRetention = msToDuration(i("offsets.retention.minutes") * unitMs("offsets.retention.minutes"))
	b.OffsetsRetentionCheckInterval = ms("offsets.retention.check.interval.ms")
	b.GroupInitialRebalanceDelay = ms("group.initial.rebalance.delay.ms")
	b.GroupMinSessionTimeout = ms("group.min.session.timeout.ms")
	b.GroupMaxSessionTimeout = ms("group.max.session.timeout.ms")
	b.GroupMaxSize = int32(i("group.max.size"))
	b.GroupRebalanceProtocols = list("group.coordinator.rebalance.protocols")
	b.GroupConsumerSessionTimeout = ms("group.consumer.session.timeout.ms")
	b.GroupConsumerHeartbeat = ms("group.consumer.heartbeat.interval.ms")
	b.GroupConsumerMaxSize = int32(i("group.consumer.max.size"))
	b.GroupConsumerAssignors = list("group.consumer.assignors")

	b.TransactionStateLogReplicationFactor = int16(i("transaction.state.log.replication.factor"))
	b.TransactionStateLogMinISR = int32(i("transaction.state.log.min.isr"))
	b.TransactionStateLogNumPartitions = int32(i("transaction.state.log.num.partitions"))
	b.TransactionMaxTimeout = ms("transaction.max.timeout.ms")
	b.TransactionalIDExpiration = ms("transactional.id.expiration.ms")
	b.TransactionStateLogSegmentBytes = int32(i("transaction.state.log.segment.bytes"))
	b.TransactionAbortCheckInterval = ms("transaction.abort.timed.out.transaction.cleanup.interval.ms")
	b.TransactionExpiredCheckInterval = ms("transaction.remove.expired.transaction.cleanup.interval.ms")
	b.TransactionVersion = int16(i("transaction.version"))
	b.ProducerIDExpiration = ms("producer.id.expiration.ms")

	b.TLS = TLS{
		KeystoreLocation:   str("ssl.keystore.location"),
		KeystorePassword:   str("ssl.keystore.password"),
		KeyPassword:        str("ssl.key.password"),
		TruststoreLocation: str("ssl.truststore.location"),
		TruststorePassword: str("ssl.truststore.password"),
		ClientAuth:         str("ssl.client.auth"),
	}
}

// resolveNetwork checks the keys that only make sense together: listeners
// against the protocol map and controller listener names, advertised
// listeners, the inter-broker listener and the controller quorum.
func (b *Broker) resolveNetwork(values map[string]any) error {
	b.ListenerSecurityProtocolMap, _ = ParseSecurityProtocolMap(b.raw("listener.security.protocol.map"))
	for _, n := range splitList(b.raw("controller.listener.names")) {
		if checkListenerName(n) != nil {
			return &Error{Key: "controller.listener.names", Value: b.raw("controller.listener.names"),
				Reason: "bad listener name " + strconv.Quote(n)}
		}
		b.ControllerListenerNames = append(b.ControllerListenerNames, strings.ToUpper(n))
	}
	if err := b.resolveListeners(listValue(values, "listeners")); err != nil {
		return err
	}
	for _, it := range listValue(values, "http.listeners") {
		addr, err := ParseHTTPListener(it)
		if err != nil {
			return &Error{Key: "http.listeners", Value: b.raw("http.listeners"), Reason: err.Error()}
		}
		b.HTTPListeners = append(b.HTTPListeners, addr)
	}
	b.MetricsPartitionSeries, _ = values["metrics.partition.series.enable"].(bool)
	b.RequestLog, _ = values["request.log.enable"].(bool)
	b.HTTPConsole, _ = values["http.console.enable"].(bool)
	if err := b.checkController(); err != nil {
		return err
	}
	if err := b.resolveAdvertised(listValue(values, "advertised.listeners")); err != nil {
		return err
	}
	return b.resolveInterBroker()
}

// isControllerListener reports whether name is in controller.listener.names.
func (b *Broker) isControllerListener(name string) bool {
	return slices.Contains(b.ControllerListenerNames, name)
}

// listener returns the bound listener with the given name.
func (b *Broker) listener(name string) (Listener, bool) {
	i := slices.IndexFunc(b.Listeners, func(l Listener) bool { return l.Name == name })
	if i < 0 {
		return Listener{}, false
	}
	return b.Listeners[i], true
}

// resolveListeners parses listeners and gives each its security protocol;
// controller listeners missing from the map are PLAINTEXT, as in KRaft.
func (b *Broker) resolveListeners(items []string) error {
	raw := b.raw("listeners")
	listeners, _ := parseListenerList(items, false) // validated by the key's validator
	if len(listeners) == 0 {
		return &Error{Key: "listeners", Value: raw, Reason: "at least one listener is required"}
	}
	for i, l := range listeners {
		p, ok := b.ListenerSecurityProtocolMap[l.Name]
		switch {
		case ok:
			listeners[i].SecurityProtocol = p
		case b.isControllerListener(l.Name):
			listeners[i].SecurityProtocol = "PLAINTEXT"
		default:
			return &Error{Key: "listeners", Value: raw,
				Reason: "listener " + l.Name + " has no entry in listener.security.protocol.map"}
		}
	}
	b.Listeners = listeners
	return nil
}

// checkController checks a controller node's listener names and voters.
func (b *Broker) checkController() error {
	if !b.HasRole("controller") {
		return nil
	}
	for _, n := range b.ControllerListenerNames {
		if _, ok := b.listener(n); !ok {
			return &Error{Key: "controller.listener.names", Value: b.raw("controller.listener.names"),
				Reason: "listener " + n + " is not in listeners"}
		}
	}
	// A controller whose node.id is not among the voters joins the
	// quorum later: it waits until `fjord cluster quorum add` makes it a
	// voter (KIP-853).
	return nil
}

// resolveAdvertised takes advertised.listeners (names must be bound
// listeners) or, when unset, the listeners clients may use: all of them on
// a controller-only node, the non-controller ones otherwise.
func (b *Broker) resolveAdvertised(items []string) error {
	if len(items) == 0 {
		for _, l := range b.Listeners {
			if !b.HasRole("broker") || !b.isControllerListener(l.Name) {
				b.AdvertisedListeners = append(b.AdvertisedListeners, l)
			}
		}
		return nil
	}
	adv, _ := parseListenerList(items, true) // validated by the key's validator
	for i := range adv {
		bound, ok := b.listener(adv[i].Name)
		if !ok {
			return &Error{Key: "advertised.listeners", Value: b.raw("advertised.listeners"),
				Reason: "listener " + adv[i].Name + " is not in listeners"}
		}
		adv[i].SecurityProtocol = bound.SecurityProtocol
	}
	b.AdvertisedListeners = adv
	return nil
}

// resolveInterBroker picks the listener brokers use between themselves:
// inter.broker.listener.name, else PLAINTEXT, else the first client listener.
func (b *Broker) resolveInterBroker() error {
	if !b.HasRole("broker") {
		return nil
	}
	var client []string
	for _, l := range b.Listeners {
		if !b.isControllerListener(l.Name) {
			client = append(client, l.Name)
		}
	}
	if len(client) == 0 {
		return &Error{Key: "listeners", Value: b.raw("listeners"),
			Reason: "a broker needs a listener that is not a controller listener"}
	}
	name := strings.ToUpper(b.raw("inter.broker.listener.name"))
	switch {
	case name != "":
		if !slices.Contains(client, name) {
			return &Error{Key: "inter.broker.listener.name", Value: b.raw("inter.broker.listener.name"),
				Reason: "must name a non-controller listener in listeners"}
		}
	case slices.Contains(client, "PLAINTEXT"):
		name = "PLAINTEXT"
	default:
		name = client[0]
	}
	b.InterBrokerListenerName = name
	// Other brokers reach this one at its advertised address of that
	// listener: it must have one (Kafka refuses the same).
	if b.raw("advertised.listeners") != "" && !slices.ContainsFunc(b.AdvertisedListeners, func(l Listener) bool { return l.Name == name }) {
		return &Error{Key: "advertised.listeners", Value: b.raw("advertised.listeners"),
			Reason: "the inter-broker listener " + name + " (inter.broker.listener.name) must be advertised"}
	}
	return nil
}

// raw returns a broker key's configured value or default, trimmed.
func (b *Broker) raw(name string) string {
	v, _ := b.Value(name)
	return v
}

// listValue returns a parsed list value (nil when null).
func listValue(values map[string]any, name string) []string {
	l, _ := values[name].([]string)
	return l
}
