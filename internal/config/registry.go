package config

import (
	"slices"
	"strings"
)

// Key describes one configuration key: its Kafka name, type, default,
// validator and documentation. Keys are values; the registry hands out
// copies, so nothing a caller does to a Key changes the registry.
type Key struct {
	// Name is Kafka's key, e.g. "log.segment.bytes".
	Name string
	// Type is the value's type; its numeric value is Kafka's ConfigType.
	Type Type
	// Default is the default as Kafka prints it; "" means null (no value).
	Default string
	// Doc is a short description in Fjord's words.
	Doc string
	// Scope says whether the key is set on the broker, on topics or both.
	Scope Scope
	// TopicKey, on a broker key, names the topic key whose default this key
	// supplies (log.segment.bytes -> segment.bytes). Several broker keys may
	// supply one topic key; the first one set wins, in table order
	// (log.retention.ms, log.retention.minutes, log.retention.hours). Keys
	// valid in both scopes carry their own name.
	TopicKey string
	// Validator checks parsed values; nil accepts any value of the type.
	Validator Validator
	// Dynamic keys can change without a restart. Topic keys are dynamic
	// (per-topic overrides); of the broker-only keys, the replication
	// throttle rates are (per broker ID and cluster-wide), and
	// cordoned.log.dirs (per broker ID), the rest static.
	Dynamic bool
	// Importance is Kafka's ranking, used to order nothing but the docs.
	Importance Importance
	// Note, when set, says how Fjord departs from Kafka for this key.
	Note string
}

// IsBroker reports whether the key may appear in the broker's properties.
func (k Key) IsBroker() bool { return k.Scope&ScopeBroker != 0 }

// IsTopic reports whether the key may be set per topic.
func (k Key) IsTopic() bool { return k.Scope&ScopeTopic != 0 }

// Sensitive reports whether the value must never be shown (passwords).
func (k Key) Sensitive() bool { return k.Type == TypePassword }

// Parse parses and validates raw for this key. The error is an *Error naming
// the key and value.
func (k Key) Parse(raw string) (any, error) {
	v, err := parseTyped(k.Type, raw)
	if err == nil && k.Validator != nil {
		err = k.Validator.Validate(v)
	}
	if err != nil {
		return nil, &Error{Key: k.Name, Value: raw, Reason: err.Error(), Secret: k.Sensitive()}
	}
	return v, nil
}

// Table is the read-only registry of keys. Build it with [Registry].
type Table struct {
	keys   []Key
	byName map[string]int
}

// Registry returns the table of every key Fjord knows. Each call builds a
// new table (there is no package-level state); callers that look keys up
// often keep the table they got.
func Registry() *Table {
	keys := slices.Concat(brokerKeys(), topicKeys())
	t := &Table{keys: keys, byName: make(map[string]int, len(keys))}
	for i, k := range keys {
		t.byName[k.Name] = i
	}
	return t
}

// Keys returns a copy of all keys: broker keys first, in table order, then
// topic-only keys.
func (t *Table) Keys() []Key { return slices.Clone(t.keys) }

// Lookup returns the key with the given name.
func (t *Table) Lookup(name string) (Key, bool) {
	i, ok := t.byName[name]
	if !ok {
		return Key{}, false
	}
	return t.keys[i], true
}

// BrokerKeys returns the keys valid in the broker's properties, sorted by name.
func (t *Table) BrokerKeys() []Key { return t.filterSorted(Key.IsBroker) }

// TopicKeys returns the keys valid as topic overrides, sorted by name.
func (t *Table) TopicKeys() []Key { return t.filterSorted(Key.IsTopic) }

func (t *Table) filterSorted(keep func(Key) bool) []Key {
	var out []Key
	for _, k := range t.keys {
		if keep(k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// BrokerSynonyms returns, in precedence order, the broker keys that supply
// the default of topicKey (for retention.ms: log.retention.ms,
// log.retention.minutes, log.retention.hours).
func (t *Table) BrokerSynonyms(topicKey string) []Key {
	var out []Key
	for _, k := range t.keys {
		if k.IsBroker() && k.TopicKey == topicKey {
			out = append(out, k)
		}
	}
	return out
}

// brokerGroup returns the broker keys that describe the same setting as the
// broker key k (the ms/minutes/hours family), as Kafka lists them as
// synonyms of each other in DescribeConfigs. Other keys stand alone.
func (t *Table) brokerGroup(k Key) []Key {
	if k.TopicKey == "" {
		return []Key{k}
	}
	return t.BrokerSynonyms(k.TopicKey)
}

// BrokerDynamic reports whether a broker key may be changed while the node
// runs (IncrementalAlterConfigs on a BROKER resource). Keys valid in both
// scopes are dynamic per topic only.
func (k Key) BrokerDynamic() bool { return k.Dynamic && k.Scope == ScopeBroker }
