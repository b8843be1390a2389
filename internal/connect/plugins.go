package connect

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// PluginType is what kind of plugin a class is, as GET /connector-plugins
// names it.
type PluginType string

// Plugin types.
const (
	PluginSource          PluginType = "source"
	PluginSink            PluginType = "sink"
	PluginConverter       PluginType = "converter"
	PluginHeaderConverter PluginType = "header_converter"
	PluginTransformation  PluginType = "transformation"
	PluginPredicate       PluginType = "predicate"
)

// PluginInfo is one plugin as GET /connector-plugins lists it.
type PluginInfo struct {
	Class   string     `json:"class"`
	Type    PluginType `json:"type"`
	Version string     `json:"version"`
}

// Plugin is one registered plugin: its Kafka class name (the name users
// write in connector.class, key.converter, transforms.X.type), other names
// it answers to, and its constructor: it returns a Connector (source or
// sink), Converter, HeaderConverter, Transformation or Predicate.
type Plugin struct {
	Class   string
	Aliases []string
	Type    PluginType
	Version string
	New     func() any
}

// Registry holds the plugins a worker knows, by class name and alias,
// Kafka Connect's plugin path in Go: the built-in ones are registered at
// start-up. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	plugins []Plugin
	byName  map[string]int
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]int{}} }

// Register adds a plugin. Kafka Connect lets a connector be named by its
// class name, its simple name, or the simple name without its
// "Connector" suffix; Register adds the last two for a connector whose
// class has a package. A name taken already is an error.
func (r *Registry) Register(p Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := append([]string{p.Class}, p.Aliases...)
	if i := strings.LastIndex(p.Class, "."); i >= 0 {
		simple := p.Class[i+1:]
		names = append(names, simple)
		if p.Type == PluginSource || p.Type == PluginSink {
			if short, ok := strings.CutSuffix(simple, "Connector"); ok && short != "" {
				names = append(names, short)
			}
		}
	}
	for _, n := range names {
		if _, taken := r.byName[n]; taken {
			return fmt.Errorf("plugin name %q is registered twice", n)
		}
	}
	r.plugins = append(r.plugins, p)
	for _, n := range names {
		r.byName[n] = len(r.plugins) - 1
	}
	return nil
}

// MustRegister is Register for the built-in plugins, which never clash.
func (r *Registry) MustRegister(p Plugin) {
	if err := r.Register(p); err != nil {
		panic(err)
	}
}

// Lookup returns the plugin named name (class name or alias).
func (r *Registry) Lookup(name string) (Plugin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, ok := r.byName[strings.TrimSpace(name)]
	if !ok {
		return Plugin{}, false
	}
	return r.plugins[i], true
}

// List returns the plugins of the given types (all when none), sorted by
// class name.
func (r *Registry) List(types ...PluginType) []PluginInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []PluginInfo
	for _, p := range r.plugins {
		if len(types) == 0 || slices.Contains(types, p.Type) {
			out = append(out, PluginInfo{Class: p.Class, Type: p.Type, Version: p.Version})
		}
	}
	slices.SortFunc(out, func(a, b PluginInfo) int { return strings.Compare(a.Class, b.Class) })
	return out
}

// NewConnector returns a new instance of the connector named name and its
// type.
func (r *Registry) NewConnector(name string) (Connector, ConnectorType, error) {
	p, ok := r.Lookup(name)
	if !ok || (p.Type != PluginSource && p.Type != PluginSink) {
		return nil, UnknownType, fmt.Errorf("Failed to find any class that implements Connector and which name matches %s", name)
	}
	c, ok := p.New().(Connector)
	if !ok {
		return nil, UnknownType, fmt.Errorf("plugin %s is not a connector", p.Class)
	}
	return c, ConnectorType(p.Type), nil
}
