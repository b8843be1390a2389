package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// chainStep is one transform with its optional predicate.
type chainStep struct {
	alias     string
	class     string
	t         connect.Transformation
	predicate connect.Predicate
	negate    bool
}

// transformChain applies a connector's transforms in order (Kafka
// Connect's TransformationChain). The transform package will offer one
// too; this one is kept small so the runtime depends on the core API only.
type transformChain []chainStep

// buildChain reads transforms=a,b, transforms.a.type, transforms.a.* and
// transforms.a.predicate/negate with predicates=p, predicates.p.type,
// predicates.p.* and instantiates the plugins through reg.
func buildChain(reg *connect.Registry, cfg map[string]string) (transformChain, error) {
	preds := map[string]connect.Predicate{}
	for _, alias := range splitList(cfg[connect.KeyPredicates]) {
		prefix := "predicates." + alias + "."
		class := cfg[prefix+"type"]
		p, ok := reg.Lookup(class)
		if !ok || p.Type != connect.PluginPredicate {
			return nil, fmt.Errorf("predicate %s: class %q not found", alias, class)
		}
		pred, ok := p.New().(connect.Predicate)
		if !ok {
			return nil, fmt.Errorf("predicate %s: %s is not a predicate", alias, class)
		}
		if err := pred.Configure(withPrefix(cfg, prefix)); err != nil {
			return nil, fmt.Errorf("predicate %s (%s): %w", alias, class, err)
		}
		preds[alias] = pred
	}
	var chain transformChain
	for _, alias := range splitList(cfg[connect.KeyTransforms]) {
		prefix := "transforms." + alias + "."
		class := cfg[prefix+"type"]
		p, ok := reg.Lookup(class)
		if !ok || p.Type != connect.PluginTransformation {
			return nil, fmt.Errorf("transform %s: class %q not found", alias, class)
		}
		t, ok := p.New().(connect.Transformation)
		if !ok {
			return nil, fmt.Errorf("transform %s: %s is not a transformation", alias, class)
		}
		props := withPrefix(cfg, prefix)
		step := chainStep{alias: alias, class: p.Class, t: t}
		if name := props["predicate"]; name != "" {
			if step.predicate = preds[name]; step.predicate == nil {
				return nil, fmt.Errorf("transform %s: predicate %q is not in predicates", alias, name)
			}
			if v := props["negate"]; v != "" {
				neg, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("transform %s: negate=%q: %w", alias, v, err)
				}
				step.negate = neg
			}
		}
		// Kafka hands the transform its prefixed keys less the
		// predicate's, which belong to the runtime.
		delete(props, "predicate")
		delete(props, "negate")
		if err := t.Configure(props); err != nil {
			return nil, fmt.Errorf("transform %s (%s): %w", alias, class, err)
		}
		chain = append(chain, step)
	}
	return chain, nil
}

// apply runs r through the chain with op's retries and tolerance per
// step; keep is false when a transform dropped the record or a tolerated
// error skipped it (err then nil).
func (c transformChain) apply(op *retryOperator, ctx *errorContext, r connect.Record) (connect.Record, bool, error) {
	for _, s := range c {
		var out connect.Record
		var keep bool
		ok, err := op.execute(ctx, stageTransformation, s.class, func() error {
			if s.predicate != nil {
				match, err := s.predicate.Test(r)
				if err != nil {
					return fmt.Errorf("predicate of transform %s: %w", s.alias, err)
				}
				if match == s.negate {
					out, keep = r, true
					return nil
				}
			}
			var err error
			out, keep, err = s.t.Apply(r)
			return err
		})
		if err != nil || !ok || !keep {
			return connect.Record{}, false, err
		}
		r = out
	}
	return r, true, nil
}

// withPrefix returns the keys of cfg under prefix, the prefix removed.
func withPrefix(cfg map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" {
			out[rest] = v
		}
	}
	return out
}

// splitList parses a Kafka LIST value.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
