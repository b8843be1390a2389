package rest

import (
	"net/http"
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
	return http.StatusOK, out, nil
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
