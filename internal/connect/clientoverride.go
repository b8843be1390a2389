package connect

import (
	"fmt"
	"slices"
	"strings"
)

// WorkerClientOverridePolicy is the worker key naming which of a
// connector's Kafka client settings (KIP-458) it may override.
const WorkerClientOverridePolicy = "connector.client.config.override.policy"

// The prefixes of a connector's Kafka client overrides (KIP-458): its
// source tasks' producer, its sink tasks' consumer (and dead-letter
// queue producer), and its admin client.
const (
	ProducerOverridePrefix = "producer.override."
	ConsumerOverridePrefix = "consumer.override."
	AdminOverridePrefix    = "admin.override."
)

// ClientOverridePolicy is connector.client.config.override.policy: All
// (Kafka's default since 3.0) lets a connector override any client key,
// None none, Principal only the keys naming who the client is.
type ClientOverridePolicy string

// The policies Kafka ships.
const (
	OverrideAll       ClientOverridePolicy = "All"
	OverrideNone      ClientOverridePolicy = "None"
	OverridePrincipal ClientOverridePolicy = "Principal"
)

// principalKeys are what the Principal policy allows, as Kafka's
// PrincipalConnectorClientConfigOverridePolicy.
var principalKeys = []string{"sasl.jaas.config", "sasl.mechanism", "security.protocol"}

// ParseClientOverridePolicy reads the worker key's value: a policy's name
// or Kafka's class name for it (…policy.AllConnectorClientConfigOverridePolicy);
// empty is All.
func ParseClientOverridePolicy(v string) (ClientOverridePolicy, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return OverrideAll, nil
	}
	name := v[strings.LastIndexByte(v, '.')+1:]
	name = strings.TrimSuffix(name, "ConnectorClientConfigOverridePolicy")
	for _, p := range []ClientOverridePolicy{OverrideAll, OverrideNone, OverridePrincipal} {
		if strings.EqualFold(name, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s=%q: want All, None or Principal", WorkerClientOverridePolicy, v)
}

// Allows reports whether the policy lets a connector set key (without
// its prefix); the empty policy is All.
func (p ClientOverridePolicy) Allows(key string) bool {
	switch p {
	case OverrideNone:
		return false
	case OverridePrincipal:
		return slices.Contains(principalKeys, key)
	default:
		return true
	}
}

// CheckClientOverrides adds to infos one result, with its error, for
// each client override in config the policy refuses, as Kafka's
// AbstractHerder.validateClientOverrides: a connector is created only
// when every override it carries is allowed.
//
// Only the prefixes of the connector's clients are checked, as in Kafka:
// producer and admin for a source, consumer and admin for a sink (any of
// them for a connector of unknown type). The runtime applies no others.
func CheckClientOverrides(infos ConfigInfos, policy ClientOverridePolicy, typ ConnectorType, config map[string]string) ConfigInfos {
	prefixes := []string{ProducerOverridePrefix, ConsumerOverridePrefix, AdminOverridePrefix}
	switch typ {
	case SourceType:
		prefixes = []string{ProducerOverridePrefix, AdminOverridePrefix}
	case SinkType:
		prefixes = []string{ConsumerOverridePrefix, AdminOverridePrefix}
	}
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, prefix := range prefixes {
			key, ok := strings.CutPrefix(k, prefix)
			if !ok || policy.Allows(key) {
				continue
			}
			v := config[k]
			infos.Configs = append(infos.Configs, ConfigInfo{
				Definition: ConfigKey{Name: k, Type: ConfigString, Importance: Low,
					Doc: "A Kafka client setting of this connector (KIP-458)."}.KeyInfo(),
				Value: ConfigValue{Name: k, Value: &v, RecommendedValues: []string{}, Visible: true,
					Errors: []string{fmt.Sprintf("The '%s' policy does not allow '%s' to be overridden in the connector configuration.", policy, key)}},
			})
			infos.ErrorCount++
		}
	}
	return infos
}
