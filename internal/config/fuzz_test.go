package config

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseProperties checks that ParseProperties never panics and that
// whatever it accepts survives FormatProperties and a second parse
// unchanged. Seeds live in testdata/fuzz/FuzzParseProperties.
func FuzzParseProperties(f *testing.F) {
	f.Add([]byte("a=b\n# c\nd : e \\\n  f\n"))
	f.Add([]byte("k\\u00e9y=\\uD83D\\uDE00\r\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseProperties(bytes.NewReader(data))
		if err != nil {
			return
		}
		again, err := ParseProperties(bytes.NewReader(FormatProperties(m)))
		if err != nil {
			t.Fatalf("reparse of formatted %q: %v", m, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the map:\n got %q\nwant %q", again, m)
		}
	})
}

// FuzzLoadBroker checks that any single key=value (plus one topic override)
// either loads or fails with an error wrapping ErrInvalidConfig, and that
// describing and resolving a loaded broker never panics.
func FuzzLoadBroker(f *testing.F) {
	f.Add("log.retention.hours", "-5", "retention.ms", "10")
	f.Add("listeners", "PLAINTEXT://[::1]:0,X://:1", "cleanup.policy", "compact,,delete")
	f.Add("controller.quorum.voters", "1@a:1,1@b:2", "segment.bytes", "2147483648")
	f.Add("offsets.retention.minutes", "2147483647", "min.cleanable.dirty.ratio", "1e-400")
	f.Fuzz(func(t *testing.T, key, value, topicKey, topicValue string) {
		b, _, err := LoadBroker(map[string]string{key: value})
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("LoadBroker(%q=%q): error %v does not wrap ErrInvalidConfig", key, value, err)
			}
			return
		}
		overrides := map[string]string{topicKey: topicValue}
		DescribeBroker(b, nil)
		DescribeTopic(b, overrides)
		_, terr := b.TopicConfig(overrides)
		verr := ValidateTopicConfigs(overrides)
		// With broker defaults only, resolving and validating must agree.
		if len(b.Static()) == 0 && (terr == nil) != (verr == nil) {
			t.Fatalf("TopicConfig err %v but ValidateTopicConfigs err %v", terr, verr)
		}
		if _, err := IncrementalAlter(overrides, []AlterOp{{Key: topicKey, Op: OpAppend, Value: topicValue}}); err != nil &&
			!errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("IncrementalAlter: %v", err)
		}
	})
}
