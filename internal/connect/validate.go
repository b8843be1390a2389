package connect

import (
	"fmt"
	"slices"
	"strings"
)

// ValidateOptions carry what of the worker's configuration validation
// depends on.
type ValidateOptions struct {
	// TopicCreationDisabled is the worker's topic.creation.enable=false:
	// a source connector's topic.creation.* keys are then ignored, not
	// checked, as in Kafka.
	TopicCreationDisabled bool
	// ExactlyOnce is the worker's exactly.once.source.support (empty:
	// disabled), which KIP-618's preflight checks depend on.
	ExactlyOnce ExactlyOnceMode
}

// ValidateConfig validates a connector configuration as Kafka Connect's
// AbstractHerder.validateConnectorConfig does: the common keys, the
// source's or sink's, the connector's own (its ConfigDef, then its
// ConnectorValidator), and each transform's and predicate's keys under
// their aliases. It returns the REST API's ConfigInfos (ErrorCount 0:
// valid) and the connector's type. A connector.class the registry does not
// know is one error on that key.
func ValidateConfig(reg *Registry, config map[string]string, opts ValidateOptions) (ConfigInfos, ConnectorType) {
	class := config[KeyConnectorClass]
	typ := UnknownType
	var conn Connector
	if class != "" {
		if c, t, err := reg.NewConnector(class); err == nil {
			conn, typ = c, t
		}
	}
	def := CommonConfig()
	switch typ {
	case SourceType:
		def = SourceConfig()
	case SinkType:
		def = SinkConfig()
	}
	groups := []string{}
	addGroup := func(g string) {
		if g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	var infos []ConfigInfo
	add := func(d ConfigDef, values []ConfigValue) {
		for i, k := range d {
			addGroup(k.Group)
			infos = append(infos, ConfigInfo{Definition: k.KeyInfo(), Value: values[i]})
		}
	}
	add(def, def.Validate(config))
	if class != "" && conn == nil {
		for i := range infos {
			if infos[i].Value.Name == KeyConnectorClass {
				infos[i].Value.Errors = append(infos[i].Value.Errors,
					fmt.Sprintf("Invalid value %s for configuration connector.class: Class %s could not be found.", class, class))
			}
		}
	}
	if typ == SinkType {
		infos = checkSinkTopics(infos, config)
	}
	if typ == SourceType && !opts.TopicCreationDisabled {
		infos = checkTopicCreation(infos, config)
	}
	if typ == SourceType {
		infos = checkExactlyOnce(infos, conn, config, opts.ExactlyOnce)
	}
	if conn != nil {
		own := conn.Config()
		values := own.Validate(config)
		if v, ok := conn.(ConnectorValidator); ok {
			values = mergeValues(values, v.Validate(config))
		}
		add(own, values)
	}
	for _, kind := range []struct {
		list, prefix string
		want         PluginType
	}{{KeyTransforms, "transforms.", PluginTransformation}, {KeyPredicates, "predicates.", PluginPredicate}} {
		for _, alias := range splitList(config[kind.list]) {
			infos = append(infos, aliasInfos(reg, config, kind.prefix+alias+".", kind.want, addGroup)...)
		}
	}
	out := ConfigInfos{Name: class, Groups: groups, Configs: infos}
	for _, c := range infos {
		out.ErrorCount += len(c.Value.Errors)
	}
	return out, typ
}

// aliasInfos validates one transform's or predicate's keys (prefix is
// "transforms.X."): its type must name a plugin of the wanted kind, and
// its own keys are validated under the prefix.
func aliasInfos(reg *Registry, config map[string]string, prefix string, want PluginType, addGroup func(string)) []ConfigInfo {
	group := strings.TrimSuffix(prefix, ".")
	addGroup(group)
	typeKey := ConfigKey{Name: prefix + "type", Type: ConfigClass, Default: NoDefault, Importance: High, Group: group,
		Doc: "Class for the '" + group + "' " + string(want) + "."}
	v := ConfigDef{typeKey}.Validate(config)
	out := []ConfigInfo{{Definition: typeKey.KeyInfo(), Value: v[0]}}
	name := config[prefix+"type"]
	if name == "" {
		return out
	}
	p, ok := reg.Lookup(name)
	if !ok || p.Type != want {
		out[0].Value.Errors = append(out[0].Value.Errors, fmt.Sprintf("Invalid value %s for configuration %stype: Class %s could not be found.", name, prefix, name))
		return out
	}
	var def ConfigDef
	switch inst := p.New().(type) {
	case Transformation:
		def = inst.Config()
	case Predicate:
		def = inst.Config()
	}
	own := WithPrefix(config, prefix)
	values := def.Validate(own)
	for i, k := range def {
		k.Name, k.Group = prefix+k.Name, group
		values[i].Name = k.Name
		out = append(out, ConfigInfo{Definition: k.KeyInfo(), Value: values[i]})
	}
	return out
}

// checkSinkTopics adds Kafka's errors for a sink that names neither or both
// of topics and topics.regex.
func checkSinkTopics(infos []ConfigInfo, config map[string]string) []ConfigInfo {
	topics, regex := strings.TrimSpace(config[KeyTopics]), strings.TrimSpace(config[KeyTopicsRegex])
	var msg string
	switch {
	case topics == "" && regex == "":
		msg = "Must configure one of topics or topics.regex"
	case topics != "" && regex != "":
		msg = "topics and topics.regex are mutually exclusive options, but both are set."
	}
	if msg == "" {
		return infos
	}
	for i := range infos {
		if infos[i].Value.Name == KeyTopics || infos[i].Value.Name == KeyTopicsRegex {
			infos[i].Value.Errors = append(infos[i].Value.Errors, msg)
		}
	}
	return infos
}

// mergeValues adds the errors of extra to the results of the same keys,
// and appends results for keys base lacks.
func mergeValues(base, extra []ConfigValue) []ConfigValue {
	for _, e := range extra {
		i := slices.IndexFunc(base, func(b ConfigValue) bool { return b.Name == e.Name })
		if i < 0 {
			continue // a key the ConfigDef does not declare has no definition to show
		}
		base[i].Errors = append(base[i].Errors, e.Errors...)
	}
	return base
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
