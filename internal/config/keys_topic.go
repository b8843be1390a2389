package config

// topic starts a topic-only key. Its Default is the value it takes when
// the broker's synonyms are all at their defaults; a test checks that it
// equals what LoadBroker derives.
func topic(name string, t Type, def string, doc string) Key {
	return Key{Name: name, Type: t, Default: def, Doc: doc, Scope: ScopeTopic, Dynamic: true, Importance: Medium}
}

// topicKeys lists the keys valid only as topic overrides (the dual-scope
// keys live in brokerKeys). Validators are Kafka's LogConfig validators.
func topicKeys() []Key {
	// Kafka's ThrottledReplicaListValidator: the literal * alone, or
	// partitionId:brokerId pairs (an empty item is allowed).
	throttledReplicas := listCheck("* or partitionId:brokerId list", checkThrottledReplicas)
	return []Key{
		topic("cleanup.policy", TypeList, "delete",
			"delete drops segments past retention; compact keeps the latest record per key; both may be listed; an empty list (Kafka 4.2) keeps the log whole, with neither.").
			valid(listOf{values: []string{"compact", "delete"}}),
		topic("delete.retention.ms", TypeLong, "86400000",
			"How long tombstones stay in a compacted topic, so consumers can see deletions.").
			valid(atLeast{0}),
		topic("file.delete.delay.ms", TypeLong, "60000",
			"Time a deleted segment's files are kept before removal.").
			valid(atLeast{0}),
		topic("flush.messages", TypeLong, "1",
			"Records appended before the log is fsynced; 1 fsyncs before every acknowledgement (with group commit), 9223372036854775807 leaves flushing to the OS as Kafka does by default.").
			valid(atLeast{1}).fjord("Defaults to 1 through log.flush.interval.messages (Kafka: 9223372036854775807)."),
		topic("flush.ms", TypeLong, longMax,
			"Longest time a record may wait unflushed, in milliseconds.").
			valid(atLeast{0}),
		topic("index.interval.bytes", TypeInt, "4096",
			"Bytes of records between two offset index entries.").
			valid(atLeast{0}),
		topic("leader.replication.throttled.replicas", TypeList, "",
			"Replicas throttled on the leader side, as partition:brokerId pairs (the broker being the leader that sends), or * for all; they count against leader.replication.throttled.rate.").
			valid(throttledReplicas),
		topic("follower.replication.throttled.replicas", TypeList, "",
			"Replicas throttled on the follower side, as partition:brokerId pairs (the broker being the follower that fetches), or * for all; they count against follower.replication.throttled.rate.").
			valid(throttledReplicas),
		topic("max.compaction.lag.ms", TypeLong, longMax,
			"Longest time a record may stay uncompacted.").
			valid(atLeast{1}),
		topic("max.message.bytes", TypeInt, "1048588",
			"Largest record batch accepted for this topic, after compression.").
			valid(atLeast{0}),
		topic("message.timestamp.after.max.ms", TypeLong, longMax,
			"With CreateTime, reject batches timestamped further in the future than this.").
			valid(atLeast{0}),
		topic("message.timestamp.before.max.ms", TypeLong, longMax,
			"With CreateTime, reject batches timestamped further in the past than this.").
			valid(atLeast{0}),
		topic("message.timestamp.type", TypeString, "CreateTime",
			"CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock.").
			valid(oneOf{[]string{"CreateTime", "LogAppendTime"}}),
		topic("min.cleanable.dirty.ratio", TypeDouble, "0.5",
			"Share of the log that must be uncompacted before the cleaner compacts it.").
			valid(betweenFloat{0, 1}),
		topic("min.compaction.lag.ms", TypeLong, "0",
			"Shortest time a record stays uncompacted.").
			valid(atLeast{0}),
		topic("preallocate", TypeBoolean, "false",
			"Preallocate the full segment size when creating a segment."),
		topic("retention.bytes", TypeLong, "-1",
			"Largest size of a partition before its oldest segments are deleted; -1 means no limit."),
		topic("retention.ms", TypeLong, "604800000",
			"How long records are kept before their segment is deleted; -1 keeps them forever.").
			valid(atLeast{-1}),
		topic("segment.bytes", TypeInt, "1073741824",
			"Largest size of one segment file before a new one is rolled.").
			valid(atLeast{14}).fjord("Kafka 3.x's minimum; Kafka 4.0 raised it to 1048576."),
		topic("segment.index.bytes", TypeInt, "10485760",
			"Largest size of a segment's offset index.").
			valid(atLeast{4}),
		topic("segment.jitter.ms", TypeLong, "0",
			"Largest random amount subtracted from segment.ms so segments do not all roll together.").
			valid(atLeast{0}),
		topic("segment.ms", TypeLong, "604800000",
			"Longest time before a segment is rolled, even if not full, so retention and compaction can act on it.").
			valid(atLeast{1}),
	}
}
