package config

import "fmt"

// Kafka's "never" and "no limit" values, spelled as Kafka prints them.
const (
	longMax = "9223372036854775807"
	intMax  = "2147483647"
)

// broker starts a broker-scoped key; the chained helpers below finish it.
func broker(name string, t Type, def string, imp Importance, doc string) Key {
	return Key{Name: name, Type: t, Default: def, Doc: doc, Scope: ScopeBroker, Importance: imp}
}

// feeds marks a broker key as supplying the default of a topic key.
func (k Key) feeds(topicKey string) Key { k.TopicKey = topicKey; return k }

// alsoTopic makes a key valid in both scopes under one name (Kafka has a few:
// min.insync.replicas, compression.type, unclean.leader.election.enable).
func (k Key) alsoTopic() Key {
	k.Scope |= ScopeTopic
	k.TopicKey = k.Name
	k.Dynamic = true
	return k
}

// dynamicBroker makes a broker key changeable while the node runs, per
// broker ID and cluster-wide, through IncrementalAlterConfigs on a BROKER
// resource.
func (k Key) dynamicBroker() Key { k.Dynamic = true; return k }

// valid attaches a validator.
func (k Key) valid(v Validator) Key { k.Validator = v; return k }

// fjord records how Fjord departs from Kafka for this key.
func (k Key) fjord(note string) Key { k.Note = note; return k }

// brokerKeys lists the broker keys. Order matters where several keys supply
// one topic key: the first one set wins (ms before minutes before hours).
func brokerKeys() []Key {
	return []Key{
		// Node identity and roles.
		broker("node.id", TypeInt, "1", High,
			"Identifier of this node, unique in the cluster; brokers and controllers share the ID space.").
			valid(atLeast{0}).fjord("Kafka has no default (-1) and requires it; Fjord defaults to 1 for a standalone node."),
		broker("process.roles", TypeList, "broker,controller", High,
			"Roles this node plays: broker, controller, or both (a combined node).").
			valid(listOf{values: []string{"broker", "controller"}, nonEmpty: true, unique: true}).
			fjord("Kafka requires it; Fjord defaults to a combined broker and controller."),
		broker("cluster.id", TypeString, "", High,
			"Cluster ID of a standalone node: 22 characters of URL-safe base64 (16 bytes), as kafka-storage random-uuid prints. When unset, one is generated and kept with the data.").
			valid(stringCheck("Kafka UUID", checkClusterID)).
			fjord("Not a Kafka key: Kafka takes the ID from kafka-storage format."),
		broker("broker.rack", TypeString, "", Medium,
			"Rack (or zone) of this broker, reported to clients in Metadata and used to spread replicas."),

		// Controller quorum.
		broker("controller.quorum.voters", TypeList, "", High,
			"The controller quorum a new cluster starts with, as id@host:port entries, and how nodes first reach it; "+
				"a controller whose node.id is not listed joins later (fjord cluster quorum add). Empty means a standalone node is its own quorum.").
			valid(listCheck("id@host:port list", func(items []string) error { _, err := ParseVoters(items); return err })),
		broker("controller.quorum.bootstrap.servers", TypeList, "", High,
			"host:port entries used to find the controller quorum when it is not given statically.").
			valid(listCheck("host:port list", checkHostPorts)),
		broker("controller.listener.names", TypeString, "", High,
			"Names of the listeners that carry controller traffic; each must appear in listeners on controller nodes."),

		// Listeners.
		broker("listeners", TypeList, "PLAINTEXT://localhost:9092", High,
			"Comma-separated NAME://host:port addresses to listen on. An empty host binds every interface; port 0 picks a free port.").
			valid(listCheck("NAME://host:port list", checkListeners(false))).
			fjord("Kafka binds PLAINTEXT://:9092 (every interface); Fjord binds localhost only by default."),
		broker("http.listeners", TypeList, "http://127.0.0.1:9644", Medium,
			"Comma-separated http://host:port addresses serving /metrics (Prometheus), /healthz and /readyz. Empty turns the HTTP listener off; port 0 picks a free port.").
			valid(listCheck("http://host:port list", func(items []string) error {
				for _, it := range items {
					if _, err := ParseHTTPListener(it); err != nil {
						return err
					}
				}
				return nil
			})).
			fjord("Fjord's own key: Kafka exposes its metrics over JMX."),
		broker("http.console.enable", TypeBoolean, "false", Low,
			"Whether the http.listeners also serve the web console (docs/console.md) at /: the same pages as fjord console, over this node's own Kafka listener. There is no login: whoever reaches the HTTP listener can then delete topics and reset groups.").
			fjord("Fjord's own key."),
		broker("request.log.enable", TypeBoolean, "false", Low,
			"Whether to log a line per request answered (API, version, client, duration, bytes). Changeable while the node runs: PUT on or off to /admin/request-log on the http.listeners.").
			fjord("Kafka's request log is the DEBUG level of log4j's kafka.request.logger."),
		broker("metrics.partition.series.enable", TypeBoolean, "true", Low,
			"Whether /metrics carries series per partition (log offsets, sizes, follower lag). Off, only node-wide counts are exposed: for clusters with very many partitions.").
			fjord("Fjord's own key."),
		broker("advertised.listeners", TypeList, "", High,
			"Addresses published to clients and other brokers, as NAME://host:port. When unset, the non-controller entries of listeners are used.").
			valid(listCheck("NAME://host:port list", checkListeners(true))),
		broker("listener.security.protocol.map", TypeString, "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT", Low,
			"Maps each listener name to its security protocol, as NAME:PROTOCOL pairs. Controller listeners not in the map default to PLAINTEXT.").
			valid(stringCheck("NAME:PROTOCOL list", func(s string) error { _, err := ParseSecurityProtocolMap(s); return err })),
		broker("inter.broker.listener.name", TypeString, "", Medium,
			"Listener that brokers use to reach each other. When unset, PLAINTEXT if such a listener exists, else the first non-controller listener.").
			fjord("Kafka falls back to security.inter.broker.protocol and fails if no such listener exists."),

		// Storage.
		broker("log.dirs", TypeList, "", High,
			"Directories holding partition data, comma separated. When unset, log.dir is used.").
			valid(nonEmptyList{allowEmpty: true}),
		broker("log.dir", TypeList, "./fjord-data", High,
			"Data directory used when log.dirs is unset.").
			valid(nonEmptyList{}).fjord("Kafka's default is /tmp/kafka-logs."),
		// KIP-1066: a broker whose log directories are all cordoned
		// receives no new replicas (placement, the balancers).
		broker(CordonedLogDirs, TypeList, "", Medium,
			"Log directories of this broker that receive no new replicas, or * for all of them. A broker whose log directories are all cordoned is left out of topic creation and CreatePartitions placement, of fjord cluster rebalance's targets, and of the continuous balancer's (which moves its replicas off); its replicas keep serving. fjord cluster decommission --execute sets it to *.").
			valid(check{desc: "* or a list of log directories", fn: validateCordoned}).dynamicBroker().
			fjord("Set per broker only (not cluster-wide), dynamically: a value in server.properties is ignored with a warning. A Fjord node has one log directory and the controller does not know its path, so any value cordons the whole broker (Kafka checks each path against log.dirs)."),
		broker("num.recovery.threads.per.data.dir", TypeInt, "1", High,
			"Parallelism per data directory when recovering logs at startup and flushing them at shutdown.").
			valid(atLeast{1}),

		// Topic creation.
		broker("num.partitions", TypeInt, "1", Medium,
			"Partition count for topics created without one (auto-created topics, CreateTopics with -1).").
			valid(atLeast{1}),
		broker("default.replication.factor", TypeInt, "1", Medium,
			"Replication factor for topics created without one.").
			valid(between{1, 32767}),
		broker("auto.create.topics.enable", TypeBoolean, "true", High,
			"Create a topic when a client asks for metadata about, or produces to, a topic that does not exist."),
		broker("delete.topic.enable", TypeBoolean, "true", High,
			"Allow DeleteTopics; when false, deletion requests are refused."),

		// Log segments and retention (topic defaults).
		broker("log.segment.bytes", TypeInt, "1073741824", High,
			"Largest size of one log segment file before a new segment is rolled.").
			feeds("segment.bytes").valid(atLeast{14}).fjord("Kafka 3.x's minimum; Kafka 4.0 raised it to 1048576."),
		broker("log.roll.ms", TypeLong, "", High,
			"Longest time before a new segment is rolled, in milliseconds. When unset, log.roll.hours is used.").
			feeds("segment.ms").valid(atLeast{1}),
		broker("log.roll.hours", TypeInt, "168", High,
			"Longest time before a new segment is rolled, in hours; log.roll.ms takes precedence.").
			feeds("segment.ms").valid(atLeast{1}),
		broker("log.roll.jitter.ms", TypeLong, "", High,
			"Largest random amount subtracted from the roll time so segments do not all roll at once, in milliseconds. When unset, log.roll.jitter.hours is used.").
			feeds("segment.jitter.ms").valid(atLeast{0}),
		broker("log.roll.jitter.hours", TypeInt, "0", High,
			"Roll jitter in hours; log.roll.jitter.ms takes precedence.").
			feeds("segment.jitter.ms").valid(atLeast{0}),
		broker("log.retention.ms", TypeLong, "", High,
			"How long to keep a segment before deleting it, in milliseconds; -1 keeps data forever. Takes precedence over log.retention.minutes and log.retention.hours.").
			feeds("retention.ms"),
		broker("log.retention.minutes", TypeInt, "", High,
			"Retention in minutes, used when log.retention.ms is unset.").
			feeds("retention.ms"),
		broker("log.retention.hours", TypeInt, "168", High,
			"Retention in hours, used when neither log.retention.ms nor log.retention.minutes is set.").
			feeds("retention.ms"),
		broker("log.retention.bytes", TypeLong, "-1", High,
			"Largest size a partition may reach before its oldest segments are deleted; -1 means no size limit.").
			feeds("retention.bytes"),
		broker("log.retention.check.interval.ms", TypeLong, "300000", Medium,
			"How often the retention task looks for segments to delete.").
			valid(atLeast{1}),
		broker("log.cleanup.policy", TypeList, "delete", Medium,
			"Default cleanup policy: delete (drop old segments), compact (keep the latest record per key), or both.").
			feeds("cleanup.policy").valid(listOf{values: []string{"compact", "delete"}}),
		broker("log.index.size.max.bytes", TypeInt, "10485760", Medium,
			"Largest size of a segment's offset index file.").
			feeds("segment.index.bytes").valid(atLeast{4}),
		broker("log.index.interval.bytes", TypeInt, "4096", Medium,
			"Bytes of records between two offset index entries.").
			feeds("index.interval.bytes").valid(atLeast{0}),
		broker("log.segment.delete.delay.ms", TypeLong, "60000", High,
			"Time a deleted segment's files are kept before removal from disk, so in-flight reads can finish.").
			feeds("file.delete.delay.ms").valid(atLeast{0}),
		broker("log.preallocate", TypeBoolean, "false", Medium,
			"Preallocate a segment's full size when creating it.").
			feeds("preallocate"),

		// Flushing.
		broker("log.flush.interval.messages", TypeLong, "1", High,
			"Records appended to a partition before its log is fsynced. Fjord's default 1 fsyncs before acknowledging every write (concurrent writes share one fsync: group commit). Set 9223372036854775807 (Kafka's default) for Kafka's behaviour: rely on the page cache and replication, fsync only on roll and shutdown.").
			feeds("flush.messages").valid(atLeast{1}).fjord("Kafka's default is 9223372036854775807."),
		broker("log.flush.interval.ms", TypeLong, "", High,
			"Longest time a record may wait unflushed, in milliseconds. When unset, log.flush.scheduler.interval.ms is used.").
			feeds("flush.ms").valid(atLeast{0}),
		broker("log.flush.scheduler.interval.ms", TypeLong, longMax, High,
			"How often the flusher checks whether a log needs flushing by time; used for flush.ms when log.flush.interval.ms is unset.").
			feeds("flush.ms"),
		broker("log.flush.offset.checkpoint.interval.ms", TypeInt, "60000", High,
			"How often the recovery point (last flushed offset) of each log is checkpointed.").
			valid(atLeast{0}),

		// Record validation.
		broker("message.max.bytes", TypeInt, "1048588", High,
			"Largest record batch the broker accepts, after compression.").
			feeds("max.message.bytes").valid(atLeast{0}),
		broker("log.message.timestamp.type", TypeString, "CreateTime", Medium,
			"Timestamp stored with records: the producer's CreateTime or the broker's LogAppendTime.").
			feeds("message.timestamp.type").valid(oneOf{[]string{"CreateTime", "LogAppendTime"}}),
		broker("log.message.timestamp.before.max.ms", TypeLong, longMax, Medium,
			"With CreateTime, reject batches whose timestamp is further in the past than this.").
			feeds("message.timestamp.before.max.ms").valid(atLeast{0}),
		broker("log.message.timestamp.after.max.ms", TypeLong, longMax, Medium,
			"With CreateTime, reject batches whose timestamp is further in the future than this.").
			feeds("message.timestamp.after.max.ms").valid(atLeast{0}),
		broker("compression.type", TypeString, "producer", High,
			"Compression of stored batches: producer keeps what the producer sent; uncompressed, gzip, snappy, lz4 or zstd recompress.").
			alsoTopic().valid(compressionTypes()),
		broker("min.insync.replicas", TypeInt, "1", High,
			"With acks=all, the fewest in-sync replicas that must have a write before it is acknowledged; fewer fails the produce with NOT_ENOUGH_REPLICAS.").
			alsoTopic().valid(atLeast{1}),
		broker("unclean.leader.election.enable", TypeBoolean, "false", High,
			"Allow a replica outside the ISR to become leader when no in-sync replica is left, trading lost data for availability.").
			alsoTopic(),

		// Log cleaner (compaction).
		broker("log.cleaner.enable", TypeBoolean, "true", Medium,
			"Run the log cleaner, which compacts topics with the compact policy."),
		broker("log.cleaner.threads", TypeInt, "1", Medium,
			"Cleaner workers compacting logs in parallel.").
			valid(atLeast{0}),
		broker("log.cleaner.backoff.ms", TypeLong, "15000", Medium,
			"Pause of the cleaner when there is no log to clean.").
			valid(atLeast{0}),
		broker("log.cleaner.io.max.bytes.per.second", TypeDouble, "1.7976931348623157E308", Medium,
			"Bound on the bytes per second the cleaner reads and writes, so compaction does not starve produce and fetch.").
			valid(check{desc: "[1,...]", fn: func(v any) error {
				if f, _ := v.(float64); f < 1 {
					return fmt.Errorf("value must be at least 1")
				}
				return nil
			}}),
		broker("log.cleaner.delete.retention.ms", TypeLong, "86400000", Medium,
			"How long delete markers (tombstones) are kept in compacted topics.").
			feeds("delete.retention.ms").valid(atLeast{0}),
		broker("log.cleaner.min.cleanable.ratio", TypeDouble, "0.5", Medium,
			"Share of a log that must be uncompacted before the cleaner compacts it.").
			feeds("min.cleanable.dirty.ratio").valid(betweenFloat{0, 1}),
		broker("log.cleaner.min.compaction.lag.ms", TypeLong, "0", Medium,
			"Shortest time a record stays uncompacted.").
			feeds("min.compaction.lag.ms").valid(atLeast{0}),
		broker("log.cleaner.max.compaction.lag.ms", TypeLong, longMax, Medium,
			"Longest time a record may stay uncompacted.").
			feeds("max.compaction.lag.ms").valid(atLeast{1}),

		// Network.
		broker("socket.request.max.bytes", TypeInt, "104857600", High,
			"Largest request frame accepted; larger frames close the connection.").
			valid(atLeast{1}),
		broker("socket.send.buffer.bytes", TypeInt, "-1", High,
			"SO_SNDBUF of the sockets accepted on broker listeners; -1 keeps the OS default.").
			fjord("Kafka's default is 102400; Fjord keeps the OS default, since a set size turns off Linux's buffer autotuning. A value of 0 or less keeps the OS default."),
		broker("socket.receive.buffer.bytes", TypeInt, "-1", High,
			"SO_RCVBUF of the sockets accepted on broker listeners, also set on the listening socket (TCP picks its window scale from it during the handshake); -1 keeps the OS default.").
			fjord("Kafka's default is 102400; Fjord keeps the OS default, since a set size turns off Linux's buffer autotuning. A value of 0 or less keeps the OS default."),
		broker("num.network.threads", TypeInt, "3", High,
			"Accepted for compatibility; informational only (Fjord serves each connection on its own goroutine).").
			valid(atLeast{1}),
		broker("num.io.threads", TypeInt, "8", High,
			"Accepted for compatibility; informational only (Fjord has no request handler pool).").
			valid(atLeast{1}),
		broker("queued.max.requests", TypeInt, "500", High,
			"Requests that may wait for processing before the broker stops reading from connections.").
			valid(atLeast{1}),
		broker("queued.max.request.bytes", TypeLong, "268435456", Medium,
			"Bytes of requests read from sockets and not yet processed, node-wide, before the broker stops reading "+
				"from connections. A quarter (at least 16 MiB, which a budget under 32 MiB adds to half of it) is set "+
				"aside for inflating compressed batches to validate them; -1 leaves frames unbounded and 64 MiB for inflating.").
			valid(atLeast{-1}).
			fjord("Kafka's default is -1 (unbounded); Fjord bounds request memory by default (see docs/architecture.md, Memory)."),
		broker("connections.max.idle.ms", TypeLong, "600000", Medium,
			"Idle connections are closed after this long."),
		broker("max.connections", TypeInt, intMax, Medium,
			"Most connections open at once on the broker listeners together. Past it a new connection is closed as soon as it is accepted. Connections on the inter-broker listener count but are never refused, when the node has other broker listeners too; the controller listener is not counted.").
			valid(atLeast{0}).
			fjord("Kafka blocks its acceptor at the limit until a connection closes (and closes the least recently used connection of another listener to admit an inter-broker one); Fjord refuses at once, so the client retries with its backoff instead of timing out in the listen backlog. When the key is unset, the limit is half the RLIMIT_NOFILE soft limit, at most 16384, so clients cannot take the descriptors segment files and replication need; set it to choose."),
		broker("max.connections.per.ip", TypeInt, intMax, Medium,
			"Most connections open at once from one IP address, on every broker listener; past it a new connection is closed as soon as it is accepted. Unbounded by default: clients behind a NAT or proxy share an address, and max.connections already protects the node.").
			valid(atLeast{0}).
			fjord("max.connections.per.ip.overrides is not supported."),
		broker("max.connection.creation.rate", TypeInt, intMax, Medium,
			"Most new connections a second on the broker listeners together; past it the accept loops wait (connections queue in the listen backlog). The inter-broker listener is exempt when the node has other broker listeners too.").
			valid(atLeast{0}).
			fjord("Listener-prefixed limits (listener.name.NAME.max.connection.creation.rate) and the per-IP rate quota are not supported. The rate is kept by a bucket of one second's connections; 0 paces to one a second."),
		broker("fetch.max.bytes", TypeInt, "57671680", Medium,
			"Most bytes returned by one fetch request.").
			valid(atLeast{1024}),

		// Replication.
		broker("replica.lag.time.max.ms", TypeLong, "30000", High,
			"A follower that has not caught up to the leader for this long is removed from the ISR."),
		broker("replica.selector.class", TypeClass, "", Medium,
			"The ReplicaSelector a leader asks which replica a consumer (Fetch v11+) should read from (KIP-392). null: always the leader; "+RackAwareReplicaSelector+": an in-sync replica in the consumer's client.rack when the leader is in another rack.").
			valid(stringCheck("replica selector", checkReplicaSelector)).
			fjord("Only Kafka's own " + RackAwareReplicaSelector + " is built in: no other class can be loaded, so any other name is refused at start-up."),
		broker("replica.fetch.max.bytes", TypeInt, "1048576", Medium,
			"Bytes a follower asks for per partition in one fetch.").
			valid(atLeast{0}),
		broker("replica.fetch.response.max.bytes", TypeInt, "10485760", Medium,
			"Bytes a follower asks for in one fetch, all partitions together.").
			valid(atLeast{0}),
		broker("replica.fetch.wait.max.ms", TypeInt, "500", Medium,
			"How long a follower's fetch waits at the leader for new records.").
			valid(atLeast{0}),
		broker("replica.fetch.min.bytes", TypeInt, "1", Medium,
			"Bytes a follower's fetch waits for at the leader before it is answered.").
			valid(atLeast{0}),
		broker("replica.fetch.backoff.ms", TypeInt, "1000", Medium,
			"How long a follower waits before fetching again from a leader after an error.").
			valid(atLeast{0}),
		broker("num.replica.fetchers", TypeInt, "1", High,
			"Fetcher loops per source broker; partitions are spread over them.").
			valid(atLeast{1}),
		// Replication throttles (Kafka's DynamicConfig.Broker and
		// QuotaConfig): the rates are dynamic, per broker ID or for the
		// cluster ("" resource name); the window keys are static.
		broker("leader.replication.throttled.rate", TypeLong, longMax, Medium,
			"Bytes per second this broker, as leader, sends to followers of the replicas its topics list in leader.replication.throttled.replicas; over it, those partitions are answered with no records. Followers in the ISR are never held back.").
			valid(atLeast{0}).dynamicBroker().
			fjord("Kafka takes it only as a dynamic config; Fjord also reads a static value from the properties, which dynamic values override."),
		broker("follower.replication.throttled.rate", TypeLong, longMax, Medium,
			"Bytes per second this broker's fetchers take for the replicas its topics list in follower.replication.throttled.replicas; over it, those partitions are left out of the next fetch. Replicas caught up with the leader are never held back.").
			valid(atLeast{0}).dynamicBroker().
			fjord("Kafka takes it only as a dynamic config; Fjord also reads a static value from the properties, which dynamic values override."),
		broker("replica.alter.log.dirs.io.max.bytes.per.second", TypeLong, longMax, Medium,
			"Bytes per second of moving replicas between this broker's log directories (AlterReplicaLogDirs).").
			valid(atLeast{0}).dynamicBroker().
			fjord("Accepted and kept, without effect: Fjord does not move replicas between log directories. kafka-reassign-partitions.sh deletes it with the two rates when --verify clears throttles."),
		broker("replication.quota.window.num", TypeInt, "11", Low,
			"Samples the replication throttles' rates are measured over.").
			valid(atLeast{1}),
		broker("replication.quota.window.size.seconds", TypeInt, "1", Low,
			"Length of one sample of the replication throttles' rates.").
			valid(atLeast{1}),
		broker("broker.session.timeout.ms", TypeInt, "1500", High,
			"A broker that has not heartbeated to the controller for this long is fenced and its leaderships move. Kafka's default is 9000; Fjord's shorter default fails over within two seconds.").
			valid(atLeast{1}),
		broker("broker.heartbeat.interval.ms", TypeInt, "250", High,
			"How often a broker heartbeats to the active controller. Kafka's default is 2000 (with a 9000 session).").
			valid(atLeast{1}),
		broker("auto.leader.rebalance.enable", TypeBoolean, "true", High,
			"Move each partition's leadership back to its preferred (first) replica when that replica is in the ISR."),
		broker("leader.imbalance.check.interval.seconds", TypeLong, "300", High,
			"How often the controller looks for partitions to move back to their preferred leader.").
			valid(atLeast{1}),
		broker("controlled.shutdown.enable", TypeBoolean, "true", High,
			"On SIGTERM a broker first moves its leaderships away (controlled shutdown), so clients see only retriable errors."),
		broker("balancer.enable", TypeBoolean, "false", Medium,
			"Run the continuous balancer in the active controller: it evacuates brokers gone for longer than balancer.broker.gone.ms, moves the largest partitions off brokers whose disks are fuller than balancer.disk.usage.threshold.percent, and moves replicas onto brokers that hold too few (a new broker), through partition reassignments (see docs/cluster.md, Continuous balancing).").
			fjord("Not a Kafka key: Kafka leaves rebalancing to external tools (Cruise Control)."),
		broker("balancer.interval.ms", TypeLong, "30000", Medium,
			"How often the continuous balancer looks at the cluster.").
			valid(atLeast{1}).fjord("Not a Kafka key."),
		broker("balancer.broker.gone.ms", TypeLong, "600000", Medium,
			"How long a registered broker must stay fenced (or a replica's broker unregistered) before the continuous balancer moves its replicas to the other brokers. While a broker is fenced for less, the balancer moves nothing, so a restart moves no data.").
			valid(atLeast{0}).fjord("Not a Kafka key."),
		broker("balancer.max.concurrent.moves", TypeInt, "2", Medium,
			"Partitions the continuous balancer reassigns at once; it starts no more until those complete. It sets no replication throttle: set leader./follower.replication.throttled.rate to bound the copy rate.").
			valid(atLeast{1}).fjord("Not a Kafka key."),
		broker("balancer.disk.usage.threshold.percent", TypeInt, "80", Medium,
			"When the file system holding a broker's log directory is fuller than this percentage (as the broker reports it in its heartbeats), the continuous balancer moves that broker's largest partitions onto brokers below it with the most free space, and moves nothing onto a broker above it. 100 turns the disk trigger off.").
			valid(between{1, 100}).fjord("Not a Kafka key: Redpanda's partition_autobalancing_max_disk_usage_percent."),

		// Group coordinator.
		broker("offsets.topic.num.partitions", TypeInt, "50", High,
			"Partitions of __consumer_offsets; fixed once the topic exists.").
			valid(atLeast{1}),
		broker("offsets.topic.replication.factor", TypeShort, "3", High,
			"Replication factor of __consumer_offsets, created on first use. Kafka cannot create it with fewer live brokers; set 1 on a single node.").
			valid(atLeast{1}),
		broker("offsets.topic.segment.bytes", TypeInt, "104857600", High,
			"Segment size of __consumer_offsets, kept small for fast compaction and loading.").
			valid(atLeast{1}),
		broker("offsets.retention.minutes", TypeInt, "10080", High,
			"Committed offsets of a group with no members are kept this long.").
			valid(atLeast{1}),
		broker("offsets.retention.check.interval.ms", TypeLong, "600000", High,
			"How often expired offsets are looked for.").
			valid(atLeast{1}),
		broker("group.initial.rebalance.delay.ms", TypeInt, "3000", Medium,
			"Time a new classic group waits for more members before its first rebalance."),
		broker("group.min.session.timeout.ms", TypeInt, "6000", Medium,
			"Smallest session timeout a consumer may ask for."),
		broker("group.max.session.timeout.ms", TypeInt, "1800000", Medium,
			"Largest session timeout a consumer may ask for."),
		broker("group.max.size", TypeInt, intMax, Medium,
			"Most members a consumer group may have.").
			valid(atLeast{1}),
		broker("group.coordinator.rebalance.protocols", TypeList, "classic,consumer", Medium,
			"Group protocols served: classic (JoinGroup/SyncGroup) and consumer (KIP-848 ConsumerGroupHeartbeat). Without consumer, ConsumerGroupHeartbeat answers UNSUPPORTED_VERSION and clients fall back to classic.").
			valid(listOf{values: []string{"classic", "consumer"}, nonEmpty: true, unique: true}),
		broker("group.consumer.session.timeout.ms", TypeInt, "45000", Medium,
			"Session timeout of consumer protocol (KIP-848) members: one without a heartbeat for this long is removed.").
			valid(atLeast{1}),
		broker("group.consumer.heartbeat.interval.ms", TypeInt, "5000", Medium,
			"Heartbeat interval the coordinator gives consumer protocol members; it bounds how fast a rebalance propagates.").
			valid(atLeast{1}),
		broker("group.consumer.max.size", TypeInt, intMax, Medium,
			"Most members a consumer protocol group may have.").
			valid(atLeast{1}),
		broker("group.consumer.assignors", TypeList, "uniform,range", Medium,
			"Server-side assignors consumer protocol members may choose; the first is the default.").
			valid(listOf{values: []string{"uniform", "range"}, nonEmpty: true, unique: true}),

		// Transaction coordinator.
		broker("transaction.state.log.replication.factor", TypeShort, "3", High,
			"Replication factor of __transaction_state, created by the first FindCoordinator for a transactional ID; with fewer live brokers, as many as there are.").
			valid(atLeast{1}),
		broker("transaction.state.log.segment.bytes", TypeInt, "104857600", High,
			"segment.bytes of __transaction_state, set when it is created.").
			valid(atLeast{1}),
		broker("transaction.state.log.min.isr", TypeInt, "2", High,
			"min.insync.replicas of __transaction_state.").
			valid(atLeast{1}),
		broker("transaction.state.log.num.partitions", TypeInt, "50", High,
			"Partitions of __transaction_state; fixed once the topic exists.").
			valid(atLeast{1}),
		broker("transaction.max.timeout.ms", TypeInt, "900000", High,
			"Largest transaction timeout a producer may ask for.").
			valid(atLeast{1}),
		broker("transactional.id.expiration.ms", TypeInt, "604800000", High,
			"A transactional ID with no transaction status update for this long is expired.").
			valid(atLeast{1}),
		broker("transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, "10000", Low,
			"How often the coordinator looks for transactions past their timeout, to abort them.").
			valid(atLeast{1}),
		broker("transaction.version", TypeShort, "2", Medium,
			"Fjord's finalized level of Kafka's transaction.version feature, advertised in ApiVersions (Kafka finalizes it with kafka-features.sh or kafka-storage.sh format --feature; 4.0's default is 2): 2 lets producers run KIP-890 part 2 transactions (an epoch bump per transaction, no AddPartitionsToTxn or AddOffsetsToTxn); 0 or 1 keeps them on part 1's flow. Every broker of a cluster should have the same.").
			valid(between{0, 2}),
		broker("transaction.remove.expired.transaction.cleanup.interval.ms", TypeInt, "3600000", Low,
			"How often the coordinator looks for transactional IDs past transactional.id.expiration.ms.").
			valid(atLeast{1}),
		broker("producer.id.expiration.ms", TypeInt, "86400000", Low,
			"Idempotent producer state is dropped after this long without a write from the producer.").
			valid(atLeast{1}),

		// TLS (used by SSL and SASL_SSL listeners).
		broker("ssl.keystore.location", TypeString, "", High,
			"Path of the key store holding this broker's certificate and key."),
		broker("ssl.keystore.password", TypePassword, "", High,
			"Password of the key store."),
		broker("ssl.key.password", TypePassword, "", High,
			"Password of the private key in the key store."),
		broker("ssl.truststore.location", TypeString, "", High,
			"Path of the trust store used to verify clients."),
		broker("ssl.truststore.password", TypePassword, "", High,
			"Password of the trust store."),
		broker("ssl.client.auth", TypeString, "none", Medium,
			"Client certificate policy on TLS listeners: required, requested or none.").
			valid(oneOf{[]string{"required", "requested", "none"}}),
	}
}

// compressionTypes is Kafka's BrokerCompressionType list.
func compressionTypes() Validator {
	return oneOf{[]string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}}
}

// RackAwareReplicaSelector is Kafka's rack-aware replica.selector.class.
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// checkReplicaSelector accepts null (leader only) and Kafka's rack-aware
// selector: Fjord cannot load classes, so any other is refused.
func checkReplicaSelector(s string) error {
	if s = trim(s); s == "" || s == RackAwareReplicaSelector {
		return nil
	}
	return fmt.Errorf("replica selector class not supported: Fjord implements only %s (or null for leader-only reads)", RackAwareReplicaSelector)
}
