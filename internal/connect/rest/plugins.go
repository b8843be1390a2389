package rest

import (
	"net/http"
	"slices"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

func (h *Handler) listPlugins(c *call) (int, any, error) {
	// Kafka's connectorsOnly defaults to true; only an explicit false
	// (any case) lists converters, transforms and predicates too.
	var out []connect.PluginInfo
	if v := c.r.URL.Query().Get("connectorsOnly"); strings.EqualFold(v, "false") {
		out = h.herder.Plugins().List()
	} else {
		out = h.herder.Plugins().List(connect.PluginSource, connect.PluginSink)
	}
	if out == nil {
		out = []connect.PluginInfo{}
	}
	// Kafka lists by kind (sinks, sources, transforms, predicates,
	// converters, header converters), each kind by class name; List
	// sorted by class, and the stable sort keeps that within a kind.
	slices.SortStableFunc(out, func(a, b connect.PluginInfo) int { return kindRank(a.Type) - kindRank(b.Type) })
	return http.StatusOK, out, nil
}

func kindRank(t connect.PluginType) int {
	switch t {
	case connect.PluginSink:
		return 0
	case connect.PluginSource:
		return 1
	case connect.PluginTransformation:
		return 2
	case connect.PluginPredicate:
		return 3
	case connect.PluginConverter:
		return 4
	case connect.PluginHeaderConverter:
		return 5
	}
	return 6
}

// configurable is what every plugin with declared keys implements
// (connectors, transforms, predicates; converters may).
type configurable interface {
	Config() connect.ConfigDef
}

func (h *Handler) pluginConfig(c *call) (int, any, error) {
	name := c.r.PathValue("plugin")
	p, ok := h.herder.Plugins().Lookup(name)
	if !ok {
		return 0, nil, notFound("Unknown plugin %s.", name)
	}
	out := []connect.ConfigKeyInfo{}
	if cf, ok := p.New().(configurable); ok {
		for _, k := range cf.Config() {
			out = append(out, k.KeyInfo())
		}
	}
	return http.StatusOK, out, nil
}

// normalizedPluginName drops a trailing "Connector" so that a class
// name, its simple name and its short alias compare as Kafka compares
// them in the validate endpoint.
func normalizedPluginName(name string) string {
	if s, ok := strings.CutSuffix(name, "Connector"); ok && s != "" {
		return s
	}
	return name
}

func (h *Handler) validate(c *call) (int, any, error) {
	plugin := c.r.PathValue("plugin")
	config, err := decodeConfig(c.body)
	if err != nil {
		return 0, nil, err
	}
	if included, ok := config[connect.KeyConnectorClass]; ok &&
		!strings.HasSuffix(normalizedPluginName(included), normalizedPluginName(plugin)) {
		return 0, nil, badRequest("Included connector type %s does not match request type %s", included, plugin)
	}
	infos, err := h.herder.ValidateConnectorConfig(c.ctx, config)
	if err != nil {
		return 0, nil, wrap(err, "validating connector config")
	}
	return http.StatusOK, infos, nil
}
