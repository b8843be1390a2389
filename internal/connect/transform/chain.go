package transform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// Stage is one configured transform of a chain: its alias (the name in
// transforms=...), class, and the predicate that gates it, if any.
type Stage struct {
	Alias     string
	Class     string
	Transform connect.Transformation
	// PredicateAlias names Predicate in predicates=...; empty when the
	// transform applies to every record.
	PredicateAlias string
	Predicate      connect.Predicate
	// Negate applies the transform to the records the predicate rejects.
	Negate bool
}

// Chain is a connector's transforms in order, built from its configuration
// as Kafka's ConnectorConfig.transformationStages does.
type Chain struct{ stages []Stage }

// ErrConfig is wrapped by every configuration error NewChain returns.
var ErrConfig = errors.New("invalid transforms configuration")

// NewChain builds the transforms a connector configuration names:
// transforms=a,b with transforms.a.type=<class or alias> and the
// transform's keys under transforms.a., optionally gated by
// transforms.a.predicate=p (and transforms.a.negate=true) where
// predicates=p and predicates.p.type=<class>. Unknown aliases, types and
// predicates and bad transform keys are errors naming the key.
func NewChain(reg *connect.Registry, props map[string]string) (*Chain, error) {
	preds := map[string]connect.Predicate{}
	predAliases, err := aliases(props, connect.KeyPredicates)
	if err != nil {
		return nil, err
	}
	for _, alias := range predAliases {
		prefix := connect.KeyPredicates + "." + alias + "."
		class, inst, err := instantiate(reg, props, prefix, connect.PluginPredicate)
		if err != nil {
			return nil, err
		}
		p, ok := inst.(connect.Predicate)
		if !ok {
			return nil, fmt.Errorf("%w: Invalid value %s for configuration %stype: Class %s does not implement Predicate", ErrConfig, class, prefix, class)
		}
		if err := p.Configure(withPrefix(props, prefix)); err != nil {
			return nil, fmt.Errorf("%w: predicate %s: %w", ErrConfig, alias, err)
		}
		preds[alias] = p
	}
	transformAliases, err := aliases(props, connect.KeyTransforms)
	if err != nil {
		return nil, err
	}
	c := &Chain{}
	for _, alias := range transformAliases {
		prefix := connect.KeyTransforms + "." + alias + "."
		class, inst, err := instantiate(reg, props, prefix, connect.PluginTransformation)
		if err != nil {
			return nil, err
		}
		t, ok := inst.(connect.Transformation)
		if !ok {
			return nil, fmt.Errorf("%w: Invalid value %s for configuration %stype: Class %s does not implement Transformation", ErrConfig, class, prefix, class)
		}
		if err := t.Configure(withPrefix(props, prefix)); err != nil {
			return nil, fmt.Errorf("%w: transform %s: %w", ErrConfig, alias, err)
		}
		st := Stage{Alias: alias, Class: class, Transform: t}
		if pa := strings.TrimSpace(props[prefix+"predicate"]); pa != "" {
			p, ok := preds[pa]
			if !ok {
				return nil, fmt.Errorf("%w: Invalid value %s for configuration %spredicate: no predicate %s is defined in predicates", ErrConfig, pa, prefix, pa)
			}
			st.PredicateAlias, st.Predicate = pa, p
		}
		if neg, ok := props[prefix+"negate"]; ok {
			switch strings.ToLower(strings.TrimSpace(neg)) {
			case "true":
				st.Negate = true
			case "false":
			default:
				return nil, fmt.Errorf("%w: Invalid value %s for configuration %snegate: Expected value to be either true or false", ErrConfig, neg, prefix)
			}
			if st.Predicate == nil && st.Negate {
				return nil, fmt.Errorf("%w: Invalid value %s for configuration %snegate: negate needs %spredicate", ErrConfig, neg, prefix, prefix)
			}
		}
		c.stages = append(c.stages, st)
	}
	return c, nil
}

// aliases reads a list key (transforms or predicates), refusing
// duplicates as Kafka does.
func aliases(props map[string]string, key string) ([]string, error) {
	v, err := (connect.ConfigKey{Name: key, Type: connect.ConfigList, Default: ""}).Parse(props)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range v.([]string) {
		if a == "" {
			continue
		}
		if seen[a] {
			return nil, fmt.Errorf("%w: Invalid value %s for configuration %s: Duplicate alias provided.", ErrConfig, props[key], key)
		}
		seen[a] = true
		out = append(out, a)
	}
	return out, nil
}

// instantiate looks up prefix+"type" in the registry as a plugin of kind.
func instantiate(reg *connect.Registry, props map[string]string, prefix string, kind connect.PluginType) (string, any, error) {
	class, ok := props[prefix+"type"]
	class = strings.TrimSpace(class)
	if !ok || class == "" {
		return "", nil, fmt.Errorf("%w: Missing required configuration %q which has no default value.", ErrConfig, prefix+"type")
	}
	p, found := reg.Lookup(class)
	if !found || p.Type != kind {
		return "", nil, fmt.Errorf("%w: Invalid value %s for configuration %stype: Class %s could not be found.", ErrConfig, class, prefix, class)
	}
	return p.Class, p.New(), nil
}

// withPrefix returns the keys under prefix with it removed (Kafka's
// originalsWithPrefix): the transform's own configuration.
func withPrefix(props map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out
}

// Stages returns the chain's stages in order (shared: do not change).
func (c *Chain) Stages() []Stage { return c.stages }

// Apply runs the stages in order on r; a stage whose predicate (negated
// when Negate) does not hold is skipped. It returns false when a stage
// dropped the record. Errors name the stage.
func (c *Chain) Apply(r connect.Record) (connect.Record, bool, error) {
	for _, st := range c.stages {
		run, err := st.applies(r)
		if err != nil {
			return r, false, err
		}
		if !run {
			continue
		}
		out, keep, err := st.Transform.Apply(r)
		if err != nil {
			return r, false, fmt.Errorf("transform %s (%s): %w", st.Alias, st.Class, err)
		}
		if !keep {
			return connect.Record{}, false, nil
		}
		r = out
	}
	return r, true, nil
}

// ApplySink is Apply for a sink record: stages that need the Kafka
// offset (SinkTransformation) get it, and the record's other sink fields
// are kept.
func (c *Chain) ApplySink(r connect.SinkRecord) (connect.SinkRecord, bool, error) {
	for _, st := range c.stages {
		run, err := st.applies(r.Record)
		if err != nil {
			return r, false, err
		}
		if !run {
			continue
		}
		var keep bool
		out := r
		if sink, ok := st.Transform.(SinkTransformation); ok {
			out, keep, err = sink.ApplySink(r)
		} else {
			out.Record, keep, err = st.Transform.Apply(r.Record)
		}
		if err != nil {
			return r, false, fmt.Errorf("transform %s (%s): %w", st.Alias, st.Class, err)
		}
		if !keep {
			return connect.SinkRecord{}, false, nil
		}
		r = out
	}
	return r, true, nil
}

func (st Stage) applies(r connect.Record) (bool, error) {
	if st.Predicate == nil {
		return true, nil
	}
	ok, err := st.Predicate.Test(r)
	if err != nil {
		return false, fmt.Errorf("predicate %s of transform %s: %w", st.PredicateAlias, st.Alias, err)
	}
	return ok != st.Negate, nil
}

// EnrichedConfig returns the keys the transforms and predicates of props
// add to a connector's configuration, prefixed as the user writes them
// (transforms.a.type, transforms.a.<key>, predicates.p.<key>), for the
// validate endpoint, as Kafka's ConnectorConfig.enrich does. Aliases whose
// type is unknown get only their type key.
func EnrichedConfig(reg *connect.Registry, props map[string]string) connect.ConfigDef {
	var out connect.ConfigDef
	add := func(listKey, group string, kind connect.PluginType, extra func(prefix string) connect.ConfigDef) {
		names, _ := aliases(props, listKey)
		for _, alias := range names {
			prefix := listKey + "." + alias + "."
			out = append(out, connect.ConfigKey{Name: prefix + "type", Type: connect.ConfigClass, Default: connect.NoDefault, Importance: connect.High,
				Group: group + ": " + alias, DisplayName: "Type", Doc: "Class for the '" + alias + "' " + string(kind) + "."})
			if extra != nil {
				out = append(out, extra(prefix)...)
			}
			p, ok := reg.Lookup(props[prefix+"type"])
			if !ok || p.Type != kind {
				continue
			}
			var def connect.ConfigDef
			switch inst := p.New().(type) {
			case connect.Transformation:
				def = inst.Config()
			case connect.Predicate:
				def = inst.Config()
			}
			for _, k := range def {
				k.Name = prefix + k.Name
				k.Group = group + ": " + alias
				out = append(out, k)
			}
		}
	}
	add(connect.KeyTransforms, "Transforms", connect.PluginTransformation, func(prefix string) connect.ConfigDef {
		return connect.ConfigDef{
			{Name: prefix + "predicate", Type: connect.ConfigString, Default: "", Importance: connect.Medium, Group: "Transforms", DisplayName: "Predicate",
				Doc: "The alias of a predicate used to determine whether to apply this transformation."},
			{Name: prefix + "negate", Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: "Transforms", DisplayName: "Negate",
				Doc: "Whether the configured predicate should be negated."},
		}
	})
	add(connect.KeyPredicates, "Predicates", connect.PluginPredicate, nil)
	return out
}
