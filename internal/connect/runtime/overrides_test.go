package runtime

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

func TestClientOverrides(t *testing.T) {
	opts, unknown, err := ClientOverrides(map[string]string{
		"consumer.session.timeout.ms": "6000", "consumer.max.partition.fetch.bytes": "1048576",
		"consumer.isolation.level": "read_committed", "producer.linger.ms": "5", "key.converter": "x",
	}, "consumer.")
	if err != nil || len(opts) != 2 || !slices.Equal(unknown, []string{"consumer.isolation.level"}) {
		t.Fatalf("consumer overrides: %d options, unknown %v, %v", len(opts), unknown, err)
	}
	if _, _, err := ClientOverrides(map[string]string{"producer.compression.type": "brotli"}, "producer."); err == nil {
		t.Fatal("an unknown codec was accepted")
	}
	if _, _, err := ClientOverrides(map[string]string{"producer.linger.ms": "-1"}, "producer."); err == nil {
		t.Fatal("a negative linger was accepted")
	}
}

// acks other than all turn the idempotent producer off (kgo refuses the
// mix), and the consumer's reset policy follows auto.offset.reset.
func TestClientOverrides_AcksAndReset(t *testing.T) {
	for v, want := range map[string]kgo.Acks{"all": kgo.AllISRAcks(), "-1": kgo.AllISRAcks(), "1": kgo.LeaderAck(), "0": kgo.NoAck()} {
		opts, _, err := ClientOverrides(map[string]string{"producer.override.acks": v}, "producer.override.")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatalf("acks=%s: %v", v, err)
		}
		if got := cl.OptValue(kgo.RequiredAcks); got != want {
			t.Errorf("acks=%s: %v", v, got)
		}
		if idem := !cl.OptValue(kgo.DisableIdempotentWrite).(bool); idem != (v == "all" || v == "-1") {
			t.Errorf("acks=%s: idempotent %v", v, idem)
		}
		cl.Close()
	}
	for _, bad := range []map[string]string{{"p.acks": "2"}, {"p.enable.idempotence": "maybe"}, {"p.auto.offset.reset": "sideways"}, {"p.auto.offset.reset": "none"}} {
		if _, _, err := ClientOverrides(bad, "p."); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	opts, _, err := ClientOverrides(map[string]string{"c.auto.offset.reset": "latest"}, "c.")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.ConsumeResetOffset).(kgo.Offset); got.String() != kgo.NewOffset().AtEnd().String() {
		t.Errorf("auto.offset.reset=latest: %v", got)
	}
}

type topicRecorder struct {
	StatusListener
	epoch uint64
	got   []string
}

func (r *topicRecorder) OnTopicUsed(_ connect.TaskID, topic string) { r.got = append(r.got, topic) }
func (r *topicRecorder) TopicsEpoch() uint64                        { return r.epoch }

// A task reports each topic it uses once, and again after a reset.
func TestTopicTracker(t *testing.T) {
	r := &topicRecorder{}
	tr := newTopicTracker(connect.TaskID{Connector: "c"}, r)
	for _, topic := range []string{"a", "a", "b", "a", "b", "c"} {
		tr.used(topic)
	}
	if !slices.Equal(r.got, []string{"a", "b", "c"}) {
		t.Fatalf("reported %v", r.got)
	}
	r.epoch++
	tr.used("c")
	tr.used("c")
	if !slices.Equal(r.got, []string{"a", "b", "c", "c"}) {
		t.Fatalf("after a reset, reported %v", r.got)
	}
	newTopicTracker(connect.TaskID{}, nil).used("x") // a listener that does not track: nothing to call
}

// A task checks its connector's overrides against its own worker's
// policy: another worker may have accepted the configuration.
func TestConnectorOverrides_PolicyAtTaskStart(t *testing.T) {
	conn := map[string]string{"producer.override.linger.ms": "5", "producer.override.sasl.mechanism": "PLAIN"}
	log := slog.New(slog.DiscardHandler)
	if _, err := connectorOverrides(log, connect.OverrideNone, conn, connect.ProducerOverridePrefix); err == nil || !strings.Contains(err.Error(), connect.WorkerClientOverridePolicy) {
		t.Fatalf("policy None: %v", err)
	}
	if _, err := connectorOverrides(log, connect.OverridePrincipal, conn, connect.ProducerOverridePrefix); err == nil || !strings.Contains(err.Error(), "linger.ms") {
		t.Fatalf("policy Principal: %v", err)
	}
	for _, p := range []connect.ClientOverridePolicy{"", connect.OverrideAll} {
		if opts, err := connectorOverrides(log, p, conn, connect.ProducerOverridePrefix); err != nil || len(opts) != 1 {
			t.Fatalf("policy %q: %d options, %v", p, len(opts), err)
		}
	}
	if _, err := connectorOverrides(log, connect.OverrideNone, conn, connect.ConsumerOverridePrefix); err != nil {
		t.Fatalf("another prefix: %v", err)
	}
}

// A task's admin client takes the worker's admin.* keys with the
// connector's admin.override.* keys over them, under the policy.
func TestTaskAdmin_WorkerKeysConnectorOverridesAndPolicy(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	workerProps, err := WorkerAdminProps(map[string]string{"admin.request.timeout.ms": "7000", "admin.default.api.timeout.ms": "9000",
		"admin.sasl.kerberos.service.name": "kafka", "producer.linger.ms": "5"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(workerProps) != 3 || workerProps["request.timeout.ms"] != "7000" {
		t.Fatalf("worker admin props %v", workerProps)
	}
	w := &Worker{cfg: WorkerConfig{AdminProps: workerProps, OverridePolicy: connect.OverrideAll}}
	id := connect.TaskID{Connector: "c"}
	a, err := newTaskAdmin(w, id, log, map[string]string{"admin.override.default.api.timeout.ms": "1500", "admin.override.retries": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if a.settings.APITimeout != 1500*time.Millisecond || a.settings.RequestTimeout != 7*time.Second || len(a.settings.Opts) != 1 {
		t.Fatalf("settings %+v: want the connector's API timeout, the worker's request timeout, one option (retries)", a.settings)
	}
	if a, err := newTaskAdmin(&Worker{}, id, log, nil); err != nil || a.settings.APITimeout != defaultAdminAPITimeout || a.settings.RequestTimeout != defaultAdminRequestTimeout {
		t.Fatalf("defaults: %+v %v", a, err)
	}
	w.cfg.OverridePolicy = connect.OverrideNone
	if _, err := newTaskAdmin(w, id, log, map[string]string{"admin.override.retries": "2"}); err == nil || !strings.Contains(err.Error(), "admin.override.retries") {
		t.Fatalf("policy None: %v", err)
	}
	for _, bad := range []string{"-1", "x"} {
		if _, _, err := AdminOverrides(map[string]string{"default.api.timeout.ms": bad}); err == nil {
			t.Errorf("default.api.timeout.ms=%s accepted", bad)
		}
	}
	if _, unknown, err := AdminOverrides(map[string]string{"client.id": "x", "metadata.max.age.ms": "1"}); err != nil || len(unknown) != 1 || unknown[0] != "metadata.max.age.ms" {
		t.Fatalf("unknown keys %v, %v", unknown, err)
	}
}
