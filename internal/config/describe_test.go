package config

import (
	"reflect"
	"testing"
)

func findEntry(t *testing.T, entries []Entry, name string) Entry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return Entry{}
}

func val(e Entry) string {
	if e.Value == nil {
		return "<null>"
	}
	return *e.Value
}

// syn is a compact synonym for comparisons; value "<null>" means nil.
type syn struct {
	name, value string
	source      Source
}

func syns(e Entry) []syn {
	var out []syn
	for _, s := range e.Synonyms {
		v := "<null>"
		if s.Value != nil {
			v = *s.Value
		}
		out = append(out, syn{s.Name, v, s.Source})
	}
	return out
}

func TestKafkaCodes(t *testing.T) {
	// DescribeConfigs sends these numbers on the wire; they must be Kafka's.
	codes := map[string][2]int{
		"DYNAMIC_TOPIC_CONFIG": {int(SourceDynamicTopic), 1}, "STATIC_BROKER_CONFIG": {int(SourceStaticBroker), 4},
		"DEFAULT_CONFIG": {int(SourceDefault), 5}, "BOOLEAN": {int(TypeBoolean), 1}, "STRING": {int(TypeString), 2},
		"INT": {int(TypeInt), 3}, "SHORT": {int(TypeShort), 4}, "LONG": {int(TypeLong), 5}, "DOUBLE": {int(TypeDouble), 6},
		"LIST": {int(TypeList), 7}, "CLASS": {int(TypeClass), 8}, "PASSWORD": {int(TypePassword), 9},
		"SET": {int(OpSet), 0}, "DELETE": {int(OpDelete), 1}, "APPEND": {int(OpAppend), 2}, "SUBTRACT": {int(OpSubtract), 3},
	}
	for name, c := range codes {
		if c[0] != c[1] {
			t.Errorf("%s = %d, want %d", name, c[0], c[1])
		}
	}
}

func TestDescribeTopic(t *testing.T) {
	props := map[string]string{"log.retention.hours": "24", "min.insync.replicas": "2"}
	b := mustLoad(t, props)
	entries := DescribeTopic(b, map[string]string{"segment.bytes": " 1048576 ", "min.insync.replicas": "3", "bogus": "x"})
	if len(entries) != len(Registry().TopicKeys()) {
		t.Errorf("%d entries, want one per topic key", len(entries))
	}
	tests := []struct {
		name   string
		value  string
		source Source
		syns   []syn
	}{
		{"retention.ms", "86400000", SourceStaticBroker, []syn{
			{"log.retention.hours", "24", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}},
		{"segment.bytes", "1048576", SourceDynamicTopic, []syn{
			{"segment.bytes", "1048576", SourceDynamicTopic}, {"log.segment.bytes", "1073741824", SourceDefault}}},
		{"segment.ms", "604800000", SourceDefault, []syn{{"log.roll.hours", "168", SourceDefault}}},
		{"flush.messages", "1", SourceDefault, []syn{{"log.flush.interval.messages", "1", SourceDefault}}},
		{"flush.ms", "9223372036854775807", SourceDefault, []syn{{"log.flush.scheduler.interval.ms", "9223372036854775807", SourceDefault}}},
		{"min.insync.replicas", "3", SourceDynamicTopic, []syn{
			{"min.insync.replicas", "3", SourceDynamicTopic}, {"min.insync.replicas", "2", SourceStaticBroker},
			{"min.insync.replicas", "1", SourceDefault}}},
		{"max.message.bytes", "1048588", SourceDefault, []syn{{"message.max.bytes", "1048588", SourceDefault}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := findEntry(t, entries, tc.name)
			if val(e) != tc.value || e.Source != tc.source || e.ReadOnly || e.Sensitive {
				t.Errorf("value %s source %v readOnly %v sensitive %v; want %s %v false false",
					val(e), e.Source, e.ReadOnly, e.Sensitive, tc.value, tc.source)
			}
			if got := syns(e); !reflect.DeepEqual(got, tc.syns) {
				t.Errorf("synonyms = %v, want %v", got, tc.syns)
			}
		})
	}
	if e := findEntry(t, entries, "cleanup.policy"); e.Type != TypeList || e.Doc == "" {
		t.Errorf("cleanup.policy type %v doc %q", e.Type, e.Doc)
	}
	if nilB := DescribeTopic(nil, nil); len(nilB) != len(entries) {
		t.Errorf("DescribeTopic(nil) gave %d entries", len(nilB))
	}
}

func TestDescribeBroker(t *testing.T) {
	props := map[string]string{"log.retention.minutes": "30", "ssl.keystore.password": "secret", "num.partitions": "6", "unknown.key": "x"}
	b, _, err := LoadBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	entries := DescribeBroker(b, props)
	tests := []struct {
		name      string
		value     string
		source    Source
		sensitive bool
		syns      []syn
	}{
		// Kafka lists the whole ms/minutes/hours family as synonyms and takes
		// the source from the first one present.
		{"log.retention.ms", "<null>", SourceStaticBroker, false, []syn{
			{"log.retention.minutes", "30", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}},
		{"log.retention.hours", "168", SourceStaticBroker, false, []syn{
			{"log.retention.minutes", "30", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}},
		{"num.partitions", "6", SourceStaticBroker, false, []syn{
			{"num.partitions", "6", SourceStaticBroker}, {"num.partitions", "1", SourceDefault}}},
		{"log.dirs", "<null>", SourceDefault, false, nil},
		{"node.id", "1", SourceDefault, false, []syn{{"node.id", "1", SourceDefault}}},
		{"ssl.keystore.password", "<null>", SourceStaticBroker, true, []syn{{"ssl.keystore.password", "<null>", SourceStaticBroker}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := findEntry(t, entries, tc.name)
			if val(e) != tc.value || e.Source != tc.source || e.Sensitive != tc.sensitive || !e.ReadOnly {
				t.Errorf("value %s source %v sensitive %v readOnly %v; want %s %v %v true",
					val(e), e.Source, e.Sensitive, e.ReadOnly, tc.value, tc.source, tc.sensitive)
			}
			if got := syns(e); !reflect.DeepEqual(got, tc.syns) {
				t.Errorf("synonyms = %v, want %v", got, tc.syns)
			}
		})
	}
	for _, e := range entries {
		if e.Name == "unknown.key" || e.Name == "segment.bytes" {
			t.Errorf("unexpected entry %s", e.Name)
		}
	}
	// nil props means the ones b was loaded from.
	if !reflect.DeepEqual(DescribeBroker(b, nil), entries) {
		t.Error("DescribeBroker(b, nil) differs from DescribeBroker(b, props)")
	}
}
