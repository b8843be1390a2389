package connect

import (
	"strings"
	"testing"
)

func TestParseClientOverridePolicy(t *testing.T) {
	for in, want := range map[string]ClientOverridePolicy{
		"": OverrideAll, "All": OverrideAll, "none": OverrideNone, " Principal ": OverridePrincipal,
		"org.apache.kafka.connect.connector.policy.NoneConnectorClientConfigOverridePolicy":      OverrideNone,
		"org.apache.kafka.connect.connector.policy.PrincipalConnectorClientConfigOverridePolicy": OverridePrincipal,
	} {
		if got, err := ParseClientOverridePolicy(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseClientOverridePolicy("Some"); err == nil || !strings.Contains(err.Error(), WorkerClientOverridePolicy) {
		t.Errorf("an unknown policy: %v", err)
	}
	if errs := WorkerConfigDef(Standalone).Validate(map[string]string{WorkerOffsetFile: "x", WorkerClientOverridePolicy: "Some"}); !hasError(errs, WorkerClientOverridePolicy) {
		t.Errorf("the worker key accepts an unknown policy: %+v", errs)
	}
}

func hasError(values []ConfigValue, key string) bool {
	for _, v := range values {
		if v.Name == key && len(v.Errors) > 0 {
			return true
		}
	}
	return false
}

func TestCheckClientOverrides(t *testing.T) {
	config := map[string]string{
		"connector.class":                     "X",
		"producer.override.sasl.mechanism":    "PLAIN",
		"consumer.override.auto.offset.reset": "latest",
		"admin.override.security.protocol":    "SASL_SSL",
		"producer.overrides.acks":             "1", // not an override: no "override." prefix
	}
	for policy, refused := range map[ClientOverridePolicy][]string{
		OverrideAll:       nil,
		OverridePrincipal: {"consumer.override.auto.offset.reset"},
		OverrideNone:      {"admin.override.security.protocol", "consumer.override.auto.offset.reset", "producer.override.sasl.mechanism"},
	} {
		infos := CheckClientOverrides(ConfigInfos{ErrorCount: 1}, policy, UnknownType, config)
		var got []string
		for _, c := range infos.Configs {
			if len(c.Value.Errors) != 1 || c.Definition.Name != c.Value.Name {
				t.Errorf("%s: %+v", policy, c)
			}
			got = append(got, c.Value.Name)
		}
		if strings.Join(got, ",") != strings.Join(refused, ",") || infos.ErrorCount != 1+len(refused) {
			t.Errorf("%s refused %v (%d errors), want %v", policy, got, infos.ErrorCount, refused)
		}
	}
	infos := CheckClientOverrides(ConfigInfos{}, OverridePrincipal, UnknownType, config)
	if msg := infos.Configs[0].Value.Errors[0]; msg != "The 'Principal' policy does not allow 'auto.offset.reset' to be overridden in the connector configuration." {
		t.Errorf("message %q", msg)
	}
}

// A source's consumer keys and a sink's producer keys are not its
// clients': they are neither checked nor applied.
func TestCheckClientOverrides_ByConnectorType(t *testing.T) {
	config := map[string]string{"producer.override.acks": "1", "consumer.override.auto.offset.reset": "latest"}
	for typ, want := range map[ConnectorType]string{SourceType: "producer.override.acks", SinkType: "consumer.override.auto.offset.reset"} {
		infos := CheckClientOverrides(ConfigInfos{}, OverrideNone, typ, config)
		if len(infos.Configs) != 1 || infos.Configs[0].Value.Name != want {
			t.Errorf("%s: %+v", typ, infos.Configs)
		}
	}
}
