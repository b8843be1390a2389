package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, props map[string]string) *Broker {
	t.Helper()
	b, warnings, err := LoadBroker(props)
	if err != nil {
		t.Fatalf("LoadBroker(%v): %v", props, err)
	}
	if len(warnings) > 0 {
		t.Fatalf("LoadBroker(%v) warnings: %v", props, warnings)
	}
	return b
}

func TestLoadBroker_Defaults(t *testing.T) {
	b := mustLoad(t, nil)
	plain := Listener{Name: "PLAINTEXT", Host: "localhost", Port: 9092, SecurityProtocol: "PLAINTEXT"}
	checks := []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID, int32(1)},
		{"ProcessRoles", b.ProcessRoles, []string{"broker", "controller"}},
		{"Listeners", b.Listeners, []Listener{plain}},
		{"AdvertisedListeners", b.AdvertisedListeners, []Listener{plain}},
		{"InterBrokerListenerName", b.InterBrokerListenerName, "PLAINTEXT"},
		{"LogDirs", b.LogDirs, []string{"./fjord-data"}},
		{"NumPartitions", b.NumPartitions, int32(1)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor, int16(1)},
		{"AutoCreateTopicsEnable", b.AutoCreateTopicsEnable, true},
		{"MessageMaxBytes", b.MessageMaxBytes, int32(1048588)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"LogRetentionCheckInterval", b.LogRetentionCheckInterval, 5 * time.Minute},
		{"LogFlushSchedulerInterval", b.LogFlushSchedulerInterval, time.Duration(1<<63 - 1)},
		{"OffsetsTopicNumPartitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"OffsetsTopicReplicationFactor", b.OffsetsTopicReplicationFactor, int16(3)},
		{"OffsetsRetention", b.OffsetsRetention, 7 * 24 * time.Hour},
		{"GroupInitialRebalanceDelay", b.GroupInitialRebalanceDelay, 3 * time.Second},
		{"QueuedMaxRequests", b.QueuedMaxRequests, 500},
		{"ConnectionsMaxIdle", b.ConnectionsMaxIdle, 10 * time.Minute},
		{"TransactionStateLogMinISR", b.TransactionStateLogMinISR, int32(2)},
		{"ClusterID", b.ClusterID, ""},
		{"TLS.ClientAuth", b.TLS.ClientAuth, "none"},
		{"Topic.SegmentBytes", b.Topic.SegmentBytes, int32(1 << 30)},
		{"Topic.SegmentMs", b.Topic.SegmentMs, 7 * 24 * time.Hour},
		{"Topic.RetentionMs", b.Topic.RetentionMs, 7 * 24 * time.Hour},
		{"Topic.RetentionBytes", b.Topic.RetentionBytes, int64(-1)},
		{"Topic.FlushMessages", b.Topic.FlushMessages, int64(1)},
		{"Topic.FlushMs", b.Topic.FlushMs, time.Duration(1<<63 - 1)},
		{"Topic.MaxMessageBytes", b.Topic.MaxMessageBytes, int32(1048588)},
		{"Topic.CleanupPolicy", b.Topic.CleanupPolicy, []string{"delete"}},
		{"Topic.CompressionType", b.Topic.CompressionType, "producer"},
		{"Topic.MessageTimestampType", b.Topic.MessageTimestampType, "CreateTime"},
		{"Topic.MinCleanableDirtyRatio", b.Topic.MinCleanableDirtyRatio, 0.5},
		{"Topic.DeleteRetention", b.Topic.DeleteRetention, 24 * time.Hour},
		{"Topic.FileDeleteDelay", b.Topic.FileDeleteDelay, time.Minute},
		{"Topic.MinInsyncReplicas", b.Topic.MinInsyncReplicas, int32(1)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestLoadBroker_TimePrecedence(t *testing.T) {
	tests := []struct {
		name      string
		props     map[string]string
		retention time.Duration
		roll      time.Duration
		jitter    time.Duration
		flush     time.Duration
	}{
		{"defaults", nil, 168 * time.Hour, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
		{"hours", map[string]string{"log.retention.hours": "2", "log.roll.hours": "3", "log.roll.jitter.hours": "1"},
			2 * time.Hour, 3 * time.Hour, time.Hour, time.Duration(1<<63 - 1)},
		{"minutes beat hours", map[string]string{"log.retention.minutes": "5", "log.retention.hours": "2"},
			5 * time.Minute, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
		{"ms beats minutes and hours", map[string]string{"log.retention.ms": "1500", "log.retention.minutes": "5", "log.retention.hours": "2"},
			1500 * time.Millisecond, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
		{"roll ms beats hours", map[string]string{"log.roll.ms": "1000", "log.roll.hours": "2", "log.roll.jitter.ms": "10", "log.roll.jitter.hours": "5"},
			168 * time.Hour, time.Second, 10 * time.Millisecond, time.Duration(1<<63 - 1)},
		{"flush scheduler is the flush.ms default", map[string]string{"log.flush.scheduler.interval.ms": "2000"},
			168 * time.Hour, 168 * time.Hour, 0, 2 * time.Second},
		{"flush interval beats scheduler", map[string]string{"log.flush.scheduler.interval.ms": "2000", "log.flush.interval.ms": "50"},
			168 * time.Hour, 168 * time.Hour, 0, 50 * time.Millisecond},
		{"retention -1 is unlimited", map[string]string{"log.retention.ms": "-1"},
			-time.Millisecond, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
		{"negative hours are unlimited", map[string]string{"log.retention.hours": "-5"},
			-time.Millisecond, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
		{"ms -1 beats positive hours", map[string]string{"log.retention.ms": "-1", "log.retention.hours": "5"},
			-time.Millisecond, 168 * time.Hour, 0, time.Duration(1<<63 - 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustLoad(t, tc.props)
			got := [4]time.Duration{b.Topic.RetentionMs, b.Topic.SegmentMs, b.Topic.SegmentJitterMs, b.Topic.FlushMs}
			want := [4]time.Duration{tc.retention, tc.roll, tc.jitter, tc.flush}
			if got != want {
				t.Errorf("retention, roll, jitter, flush = %v, want %v", got, want)
			}
			if tc.retention < 0 && !b.Topic.RetentionUnlimited() {
				t.Error("RetentionUnlimited() = false")
			}
		})
	}
}

func TestLoadBroker_InvalidValues(t *testing.T) {
	tests := []struct {
		props   map[string]string
		wantMsg string
	}{
		{map[string]string{"log.segment.bytes": "abc"}, `invalid value "abc" for log.segment.bytes: not an int`},
		{map[string]string{"log.segment.bytes": "13"}, `invalid value "13" for log.segment.bytes: must be at least 14`},
		{map[string]string{"log.segment.bytes": "4294967296"}, `log.segment.bytes: not an int`},
		{map[string]string{"log.retention.ms": "1h"}, `invalid value "1h" for log.retention.ms: not a long`},
		{map[string]string{"log.retention.ms": "0"}, `invalid value "0" for log.retention.ms: must be -1 (unlimited) or at least 1 ms`},
		{map[string]string{"log.retention.minutes": "0"}, `for log.retention.minutes: must be -1`},
		{map[string]string{"log.roll.ms": "0"}, `invalid value "0" for log.roll.ms: must be at least 1`},
		{map[string]string{"log.roll.hours": "0"}, `invalid value "0" for log.roll.hours: must be at least 1`},
		{map[string]string{"log.roll.jitter.ms": "-1"}, `log.roll.jitter.ms: must be at least 0`},
		{map[string]string{"log.flush.interval.ms": "-3"}, `log.flush.interval.ms: must be at least 0`},
		{map[string]string{"node.id": "-1"}, `invalid value "-1" for node.id: must be at least 0`},
		{map[string]string{"offsets.topic.replication.factor": "40000"}, `offsets.topic.replication.factor: not a short`},
		{map[string]string{"auto.create.topics.enable": "yes"}, `auto.create.topics.enable: not a boolean`},
		{map[string]string{"log.message.timestamp.type": "createtime"}, `log.message.timestamp.type: must be one of CreateTime, LogAppendTime`},
		{map[string]string{"log.cleanup.policy": "delete,archive"}, `log.cleanup.policy: item "archive" must be one of compact, delete`},
		{map[string]string{"compression.type": "brotli"}, `compression.type: must be one of uncompressed, zstd, lz4, snappy, gzip, producer`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "1.5"}, `log.cleaner.min.cleanable.ratio: must be between 0 and 1`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "NaN"}, `log.cleaner.min.cleanable.ratio: not a finite double`},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			`invalid value "10" for log.cleaner.min.compaction.lag.ms: greater than max.compaction.lag.ms (5)`},
		{map[string]string{"process.roles": "broker,zookeeper"}, `process.roles: item "zookeeper" must be one of broker, controller`},
		{map[string]string{"process.roles": ""}, `process.roles: must not be empty`},
		{map[string]string{"listeners": "localhost:9092"}, `listeners: listener "localhost:9092" is not NAME://host:port`},
		{map[string]string{"listeners": "PLAINTEXT://:99999"}, `port must be 0..65535`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}, `listener name PLAINTEXT is repeated`},
		{map[string]string{"listeners": "A://:9092,B://:9092", "listener.security.protocol.map": "A:PLAINTEXT,B:SSL"}, `share port 9092`},
		{map[string]string{"listeners": "INTERNAL://:9092"}, `for listeners: listener INTERNAL has no entry in listener.security.protocol.map`},
		{map[string]string{"listeners": ""}, `for listeners: at least one listener is required`},
		{map[string]string{"listener.security.protocol.map": "A:TLS"}, `unknown security protocol TLS`},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, `cannot advertise the wildcard address`},
		{map[string]string{"advertised.listeners": "EXTERNAL://example.com:9092"}, `advertised.listeners: listener EXTERNAL is not in listeners`},
		{map[string]string{"inter.broker.listener.name": "REPLICATION"}, `inter.broker.listener.name: must name a non-controller listener`},
		{map[string]string{"controller.listener.names": "CONTROLLER"}, `controller.listener.names: listener CONTROLLER is not in listeners`},
		{map[string]string{"listeners": "CONTROLLER://:9093", "controller.listener.names": "CONTROLLER"},
			`a broker needs a listener that is not a controller listener`},
		{map[string]string{"controller.quorum.voters": "1@localhost"}, `controller.quorum.voters: voter "1@localhost"`},
		{map[string]string{"cluster.id": "my-cluster"}, `invalid value "my-cluster" for cluster.id: not a Kafka UUID`},
		{map[string]string{"log.dirs": "/a,/a"}, `log.dirs: item "/a" is repeated`},
		{map[string]string{"fetch.max.bytes": "10"}, `fetch.max.bytes: must be at least 1024`},
		{map[string]string{"ssl.client.auth": "always"}, `ssl.client.auth: must be one of required, requested, none`},
		{map[string]string{"replica.selector.class": "com.example.MySelector"},
			`invalid value "com.example.MySelector" for replica.selector.class: replica selector class not supported: Fjord implements only org.apache.kafka.common.replica.RackAwareReplicaSelector`},
	}
	for _, tc := range tests {
		t.Run(tc.wantMsg, func(t *testing.T) {
			_, _, err := LoadBroker(tc.props)
			if err == nil {
				t.Fatalf("LoadBroker(%v) succeeded, want error %q", tc.props, tc.wantMsg)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestLoadBroker_ReportsEveryBadValue(t *testing.T) {
	_, _, err := LoadBroker(map[string]string{"num.partitions": "0", "log.segment.bytes": "x", "ssl.key.password": " "})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"num.partitions", "log.segment.bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestError_HidesPasswords(t *testing.T) {
	k := Key{Name: "p", Type: TypePassword, Validator: stringCheck("x", func(string) error { return errors.New("bad") })}
	_, err := k.Parse("hunter2")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "[hidden]") {
		t.Errorf("err = %v, want the password hidden", err)
	}
}

func TestLoadBroker_Warnings(t *testing.T) {
	b, warnings, err := LoadBroker(map[string]string{
		"zookeeper.connect": "localhost:2181",
		"segment.bytes":     "1048576",
		"num.partitions":    "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`config "segment.bytes" is a topic config, ignored in broker properties (its broker default is log.segment.bytes)`,
		`unknown config "zookeeper.connect" ignored`,
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
	if b.NumPartitions != 3 || b.Topic.SegmentBytes != 1<<30 {
		t.Errorf("NumPartitions, SegmentBytes = %d, %d; want 3 and the default", b.NumPartitions, b.Topic.SegmentBytes)
	}
}

func TestLoadBroker_Listeners(t *testing.T) {
	tests := []struct {
		name        string
		props       map[string]string
		listeners   []Listener
		advertised  []Listener
		interBroker string
	}{
		{
			name: "combined node with controller listener",
			props: map[string]string{
				"listeners":                 "PLAINTEXT://:9092,CONTROLLER://:9093",
				"controller.listener.names": "CONTROLLER",
				"controller.quorum.voters":  "1@localhost:9093",
			},
			listeners: []Listener{
				{Name: "PLAINTEXT", Port: 9092, SecurityProtocol: "PLAINTEXT"},
				{Name: "CONTROLLER", Port: 9093, SecurityProtocol: "PLAINTEXT"},
			},
			advertised:  []Listener{{Name: "PLAINTEXT", Port: 9092, SecurityProtocol: "PLAINTEXT"}},
			interBroker: "PLAINTEXT",
		},
		{
			name: "custom names, advertised, lower case, ipv6",
			props: map[string]string{
				"listeners":                      "internal://[::1]:9092,external://0.0.0.0:19092",
				"advertised.listeners":           "INTERNAL://[::1]:9092,EXTERNAL://kafka.example.com:443",
				"listener.security.protocol.map": "INTERNAL:plaintext,EXTERNAL:SASL_SSL",
			},
			listeners: []Listener{
				{Name: "INTERNAL", Host: "::1", Port: 9092, SecurityProtocol: "PLAINTEXT"},
				{Name: "EXTERNAL", Host: "0.0.0.0", Port: 19092, SecurityProtocol: "SASL_SSL"},
			},
			advertised: []Listener{{Name: "INTERNAL", Host: "::1", Port: 9092, SecurityProtocol: "PLAINTEXT"},
				{Name: "EXTERNAL", Host: "kafka.example.com", Port: 443, SecurityProtocol: "SASL_SSL"}},
			interBroker: "INTERNAL",
		},
		{
			name: "explicit inter-broker listener, port 0",
			props: map[string]string{
				"listeners":                      "PLAINTEXT://127.0.0.1:0,REPL://127.0.0.1:0",
				"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPL:PLAINTEXT",
				"inter.broker.listener.name":     "repl",
			},
			listeners: []Listener{
				{Name: "PLAINTEXT", Host: "127.0.0.1", SecurityProtocol: "PLAINTEXT"},
				{Name: "REPL", Host: "127.0.0.1", SecurityProtocol: "PLAINTEXT"},
			},
			advertised: []Listener{
				{Name: "PLAINTEXT", Host: "127.0.0.1", SecurityProtocol: "PLAINTEXT"},
				{Name: "REPL", Host: "127.0.0.1", SecurityProtocol: "PLAINTEXT"},
			},
			interBroker: "REPL",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustLoad(t, tc.props)
			if !reflect.DeepEqual(b.Listeners, tc.listeners) {
				t.Errorf("Listeners = %+v, want %+v", b.Listeners, tc.listeners)
			}
			if !reflect.DeepEqual(b.AdvertisedListeners, tc.advertised) {
				t.Errorf("AdvertisedListeners = %+v, want %+v", b.AdvertisedListeners, tc.advertised)
			}
			if b.InterBrokerListenerName != tc.interBroker {
				t.Errorf("InterBrokerListenerName = %q, want %q", b.InterBrokerListenerName, tc.interBroker)
			}
		})
	}
}

func TestLoadBroker_OtherTypedFields(t *testing.T) {
	b := mustLoad(t, map[string]string{
		"log.dir":                  "/x",
		"controller.quorum.voters": "1@a:9093, 2@b:9093",
		"cluster.id":               "MkU3OEVBNTcwNTJENDM2Qg",
		"ssl.keystore.password":    "secret",
		"num.io.threads":           "16",
	})
	if !reflect.DeepEqual(b.LogDirs, []string{"/x"}) {
		t.Errorf("LogDirs = %q", b.LogDirs)
	}
	wantVoters := []Voter{{ID: 1, Host: "a", Port: 9093}, {ID: 2, Host: "b", Port: 9093}}
	if !reflect.DeepEqual(b.ControllerQuorumVoters, wantVoters) {
		t.Errorf("voters = %+v", b.ControllerQuorumVoters)
	}
	if b.ClusterID != "MkU3OEVBNTcwNTJENDM2Qg" || b.TLS.KeystorePassword != "secret" || b.NumIOThreads != 16 {
		t.Errorf("ClusterID, password, io threads = %q, %q, %d", b.ClusterID, b.TLS.KeystorePassword, b.NumIOThreads)
	}
	b = mustLoad(t, map[string]string{"log.dir": "/x", "log.dirs": "/a, /b"})
	if !reflect.DeepEqual(b.LogDirs, []string{"/a", "/b"}) {
		t.Errorf("log.dirs should win over log.dir: %q", b.LogDirs)
	}
	if v, ok := b.Value("log.dirs"); !ok || v != "/a, /b" {
		t.Errorf("Value(log.dirs) = %q, %v", v, ok)
	}
	if _, ok := b.Value("log.retention.ms"); ok {
		t.Error("Value(log.retention.ms) should be null")
	}
	if !b.HasRole("controller") || b.HasRole("zookeeper") {
		t.Error("HasRole")
	}
}

func TestLoadBroker_ReplicaSelector(t *testing.T) {
	for raw, want := range map[string]string{"": "", RackAwareReplicaSelector: RackAwareReplicaSelector, " " + RackAwareReplicaSelector + " ": RackAwareReplicaSelector} {
		b, _, err := LoadBroker(map[string]string{"replica.selector.class": raw})
		if err != nil {
			t.Fatalf("replica.selector.class=%q: %v", raw, err)
		}
		if b.ReplicaSelectorClass != want {
			t.Errorf("replica.selector.class=%q: got %q, want %q", raw, b.ReplicaSelectorClass, want)
		}
	}
	b, _, err := LoadBroker(nil)
	if err != nil || b.ReplicaSelectorClass != "" {
		t.Fatalf("default: %q, %v; want null (leader-only reads)", b.ReplicaSelectorClass, err)
	}
}
