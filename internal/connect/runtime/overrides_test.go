package runtime

import (
	"slices"
	"testing"
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
