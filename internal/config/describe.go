package config

import "maps"

// Entry is one config in a DescribeConfigs answer, in Kafka's terms.
type Entry struct {
	Name string
	// Value is nil for a null value and for sensitive (password) keys.
	Value *string
	// Source is where Value comes from (the first synonym's source).
	Source Source
	// ReadOnly is set for broker keys that change only with a restart
	// (all but the replication throttle rates).
	ReadOnly bool
	// Sensitive marks passwords, whose values are never returned.
	Sensitive bool
	// Type is the key's type; its value is Kafka's ConfigType code.
	Type Type
	// Doc is the key's documentation (callers drop it unless asked).
	Doc string
	// Synonyms lists every place the value could come from, highest
	// precedence first: topic override, then broker key(s), then defaults.
	Synonyms []Synonym
}

// Synonym is one candidate source of a described value.
type Synonym struct {
	Name   string
	Value  *string // nil for sensitive keys
	Source Source
}

// DescribeTopic describes every topic key for a topic with the given
// overrides, as Kafka's DescribeConfigs does for a TOPIC resource: an
// override is DYNAMIC_TOPIC_CONFIG; otherwise the value comes from the
// broker's properties (STATIC_BROKER_CONFIG) or defaults (DEFAULT_CONFIG).
// Entries are sorted by name; unknown override keys are skipped. A nil
// Broker means all broker defaults.
func DescribeTopic(b *Broker, overrides map[string]string) []Entry {
	b = orDefaults(b)
	if b == nil {
		return nil
	}
	var out []Entry
	for _, k := range b.table.TopicKeys() {
		var syns []Synonym
		value, over := overrides[k.Name]
		if over {
			value = trim(value)
			syns = append(syns, Synonym{Name: k.Name, Value: ptr(value), Source: SourceDynamicTopic})
		} else {
			value = b.topicDefaults[k.Name]
		}
		for _, bk := range b.table.BrokerSynonyms(k.Name) {
			syns = append(syns, synonymsOf(bk, b.static)...)
		}
		out = append(out, entry(k, ptr(value), syns, false))
	}
	return out
}

// DescribeBroker describes every broker key as Kafka's DescribeConfigs does
// for a BROKER resource. props are the static properties the broker was
// loaded from (nil means those b was built with); a key's value is its
// configured value or its default, and its synonyms are the keys of the same
// family (log.retention.ms/minutes/hours) with their configured and default
// values. Entries are sorted by name.
func DescribeBroker(b *Broker, props map[string]string) []Entry {
	return DescribeBrokerDynamic(b, props, nil, nil)
}

// DescribeBrokerDynamic is DescribeBroker with the dynamic overrides of
// the metadata log: perBroker (the broker's own, DYNAMIC_BROKER_CONFIG)
// and cluster (the "" resource, DYNAMIC_DEFAULT_BROKER_CONFIG), which
// take precedence over the static value, in that order, as in Kafka.
// Keys that can change at run time (BrokerDynamic) are not read-only.
func DescribeBrokerDynamic(b *Broker, props, perBroker, cluster map[string]string) []Entry {
	b = orDefaults(b)
	if b == nil {
		return nil
	}
	static := b.static
	if props != nil {
		static = map[string]string{}
		for name, v := range props {
			if k, ok := b.table.Lookup(name); ok && k.IsBroker() {
				static[name] = trim(v)
			}
		}
	}
	var out []Entry
	for _, k := range b.table.BrokerKeys() {
		var value *string
		if v, ok := static[k.Name]; ok {
			value = ptr(v)
		} else if k.Default != "" {
			value = ptr(k.Default)
		}
		var syns []Synonym
		if k.BrokerDynamic() {
			if v, ok := cluster[k.Name]; ok {
				value = ptr(trim(v))
				syns = append(syns, Synonym{Name: k.Name, Value: value, Source: SourceDynamicDefaultBroker})
			}
			if v, ok := perBroker[k.Name]; ok {
				value = ptr(trim(v))
				syns = append([]Synonym{{Name: k.Name, Value: value, Source: SourceDynamicBroker}}, syns...)
			}
		}
		for _, g := range b.table.brokerGroup(k) {
			syns = append(syns, synonymsOf(g, static)...)
		}
		out = append(out, entry(k, value, syns, !k.BrokerDynamic()))
	}
	return out
}

// entry assembles an Entry, hiding sensitive values.
func entry(k Key, value *string, syns []Synonym, readOnly bool) Entry {
	src := SourceDefault
	if len(syns) > 0 {
		src = syns[0].Source
	}
	if k.Sensitive() {
		value = nil
		for i := range syns {
			syns[i].Value = nil
		}
	}
	return Entry{Name: k.Name, Value: value, Source: src, ReadOnly: readOnly, Sensitive: k.Sensitive(),
		Type: k.Type, Doc: k.Doc, Synonyms: syns}
}

// synonymsOf returns a broker key's configured value (STATIC_BROKER_CONFIG)
// and its non-null default (DEFAULT_CONFIG), in that order.
func synonymsOf(k Key, static map[string]string) []Synonym {
	var out []Synonym
	if v, ok := static[k.Name]; ok {
		out = append(out, Synonym{Name: k.Name, Value: ptr(v), Source: SourceStaticBroker})
	}
	if k.Default != "" {
		out = append(out, Synonym{Name: k.Name, Value: ptr(k.Default), Source: SourceDefault})
	}
	return out
}

// orDefaults returns b, or a Broker with every default when b is nil
// (defaults always load; nil is returned only if they did not).
func orDefaults(b *Broker) *Broker {
	if b != nil {
		return b
	}
	d, _, err := LoadBroker(nil)
	if err != nil {
		return nil
	}
	return d
}

func ptr(s string) *string { return &s }

// cloneOrEmpty copies m, returning an empty map for nil.
func cloneOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
