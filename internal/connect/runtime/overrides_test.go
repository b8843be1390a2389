package runtime

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
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
	for _, bad := range []map[string]string{{"p.acks": "2"}, {"p.enable.idempotence": "maybe"}, {"p.auto.offset.reset": "sideways"}} {
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
