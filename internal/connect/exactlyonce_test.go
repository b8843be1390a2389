package connect

import (
	"strings"
	"testing"
)

// eosConnector says what its config's "eos" key says.
type eosConnector struct{ fakeConnector }

func (eosConnector) ExactlyOnceSupport(p map[string]string) ExactlyOnceSupport {
	if p["eos"] == "yes" {
		return ExactlyOnceSupported
	}
	return ExactlyOnceUnsupported
}

// KIP-618's preflight checks, with Kafka's messages: required needs an
// enabled worker and a connector that says it is supported; connector
// boundaries need a connector that can define them; a connector's own
// offsets topic is refused rather than ignored.
func TestValidateConfig_ExactlyOnce(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(Plugin{Class: "Plain", Type: PluginSource, Version: "1", New: func() any { return fakeConnector{} }})
	r.MustRegister(Plugin{Class: "Eos", Type: PluginSource, Version: "1", New: func() any { return eosConnector{} }})
	errorsOf := func(cfg map[string]string, mode ExactlyOnceMode) string {
		t.Helper()
		cfg["name"] = "c"
		infos, _ := ValidateConfig(r, cfg, ValidateOptions{ExactlyOnce: mode})
		var out []string
		for _, c := range infos.Configs {
			for _, e := range c.Value.Errors {
				out = append(out, c.Value.Name+": "+e)
			}
		}
		return strings.Join(out, "\n")
	}
	for _, tc := range []struct {
		cfg  map[string]string
		mode ExactlyOnceMode
		want string // a substring of the errors; "" for none
	}{
		{map[string]string{"connector.class": "Eos", "eos": "yes", "exactly.once.support": "required"}, ExactlyOnceEnabled, ""},
		{map[string]string{"connector.class": "Eos", "eos": "yes", "exactly.once.support": "required"}, ExactlyOnceDisabled, "does not have exactly-once source support enabled"},
		{map[string]string{"connector.class": "Eos", "eos": "no", "exactly.once.support": "required"}, ExactlyOnceEnabled, "does not support exactly-once semantics"},
		{map[string]string{"connector.class": "Plain", "exactly.once.support": "required"}, ExactlyOnceEnabled, "does not implement the API required for preflight validation"},
		{map[string]string{"connector.class": "Plain", "exactly.once.support": "requested"}, ExactlyOnceEnabled, ""},
		{map[string]string{"connector.class": "Plain", "transaction.boundary": "connector"}, ExactlyOnceEnabled, "connector-defined transaction boundaries"},
		{map[string]string{"connector.class": "Plain", "transaction.boundary": "connector"}, ExactlyOnceDisabled, ""},
		{map[string]string{"connector.class": "Plain", "transaction.boundary": "sometimes"}, ExactlyOnceEnabled, "String must be one of: poll, interval, connector"},
		{map[string]string{"connector.class": "Plain", "transaction.boundary": "interval", "transaction.boundary.interval.ms": "-1"}, ExactlyOnceEnabled, "at least 0"},
		{map[string]string{"connector.class": "Plain", "offsets.storage.topic": "mine"}, ExactlyOnceDisabled, "offsets.storage.topic"},
	} {
		got := errorsOf(tc.cfg, tc.mode)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%v (worker %s): errors %q, want %q", tc.cfg, tc.mode, got, tc.want)
		}
	}
	if _, err := ParseWorkerConfig(Distributed, map[string]string{"group.id": "g", "config.storage.topic": "a", "offset.storage.topic": "b",
		"status.storage.topic": "c", "exactly.once.source.support": "sometimes"}); err == nil || !strings.Contains(err.Error(), "disabled, preparing, enabled") {
		t.Errorf("a bad exactly.once.source.support: %v", err)
	}
	c := ParseExactlyOnceConfig(map[string]string{"transaction.boundary": "INTERVAL", "transaction.boundary.interval.ms": "250"})
	if c.Boundary != BoundaryInterval || c.IntervalMs != 250 || c.Required {
		t.Errorf("parsed %+v", c)
	}
}
