package transform

import (
	"errors"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

func registry(t *testing.T) *connect.Registry {
	r := connect.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegister_KafkaClassNames(t *testing.T) {
	r := registry(t)
	for _, name := range []string{
		"org.apache.kafka.connect.transforms.InsertField$Value", "InsertField$Key", "org.apache.kafka.connect.transforms.ReplaceField$Value",
		"org.apache.kafka.connect.transforms.MaskField$Key", "org.apache.kafka.connect.transforms.ValueToKey", "ExtractField$Value",
		"org.apache.kafka.connect.transforms.HoistField$Key", "org.apache.kafka.connect.transforms.TimestampRouter",
		"org.apache.kafka.connect.transforms.RegexRouter", "org.apache.kafka.connect.transforms.Filter", "Cast$Value",
	} {
		p, ok := r.Lookup(name)
		if !ok || p.Type != connect.PluginTransformation {
			t.Fatalf("%s: %+v", name, p)
		}
		if _, ok := p.New().(connect.Transformation); !ok {
			t.Fatalf("%s is not a Transformation", name)
		}
	}
	for _, name := range []string{"TopicNameMatches", "HasHeaderKey", "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"} {
		p, ok := r.Lookup(name)
		if _, isPred := p.New().(connect.Predicate); !ok || !isPred {
			t.Fatalf("%s", name)
		}
	}
	if err := Register(r); err == nil {
		t.Fatal("registered twice")
	}
}

// TestChain runs a chain as a connector configures it: hoist the value,
// insert the topic, route by regex, drop tombstones by predicate, and
// skip the router for records with a header (negated predicate).
func TestChain(t *testing.T) {
	props := map[string]string{
		"name": "c", "connector.class": "X",
		"transforms":                          "dropTombstones, hoist,insert,route",
		"transforms.dropTombstones.type":      "org.apache.kafka.connect.transforms.Filter",
		"transforms.dropTombstones.predicate": "isTombstone",
		"transforms.hoist.type":               "HoistField$Value",
		"transforms.hoist.field":              "line",
		"transforms.insert.type":              "org.apache.kafka.connect.transforms.InsertField$Value",
		"transforms.insert.topic.field":       "topic",
		"transforms.insert.offset.field":      "offset",
		"transforms.route.type":               "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":              "(.*)",
		"transforms.route.replacement":        "$1-copy",
		"transforms.route.predicate":          "noSkip",
		"transforms.route.negate":             "true",
		"predicates":                          "isTombstone,noSkip",
		"predicates.isTombstone.type":         "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
		"predicates.noSkip.type":              "HasHeaderKey",
		"predicates.noSkip.name":              "skip-route",
	}
	c, err := NewChain(registry(t), props)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Stages()) != 4 || c.Stages()[0].Alias != "dropTombstones" || c.Stages()[3].Class != "org.apache.kafka.connect.transforms.RegexRouter" {
		t.Fatalf("%+v", c.Stages())
	}
	in := connect.SinkRecord{Record: rec(nil, nil, connect.StringSchema, "hello"), KafkaOffset: 17}
	out, keep, err := c.ApplySink(in)
	if err != nil || !keep {
		t.Fatal(err)
	}
	if out.Topic != "orders-copy" || fieldsOf(out.Value) != "struct{line:string=hello topic:string?=orders offset:int64?=17}" || out.KafkaOffset != 17 {
		t.Fatalf("%s %s", out.Topic, fieldsOf(out.Value))
	}
	if in.Value != "hello" || in.Topic != "orders" {
		t.Fatal("the input record changed")
	}
	in.Headers = []connect.Header{{Key: "skip-route"}}
	if out, _, _ := c.ApplySink(in); out.Topic != "orders" {
		t.Fatalf("negated predicate: %s", out.Topic)
	}
	if _, keep, err := c.ApplySink(connect.SinkRecord{Record: rec(nil, "k", nil, nil)}); err != nil || keep {
		t.Fatalf("tombstone kept: %v", err)
	}
	// Apply (no offset) fails at the stage that needs one, naming it.
	if _, _, err := c.Apply(in.Record); err == nil || !strings.Contains(err.Error(), "transform insert (org.apache.kafka.connect.transforms.InsertField$Value)") {
		t.Fatal(err)
	}
	empty, err := NewChain(registry(t), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if out, keep, err := empty.Apply(in.Record); err != nil || !keep || out.Topic != "orders" {
		t.Fatal("the empty chain changed the record")
	}
}

func TestChain_ConfigErrors(t *testing.T) {
	base := func(extra map[string]string) map[string]string {
		p := map[string]string{"transforms": "a", "transforms.a.type": "ValueToKey", "transforms.a.fields": "id"}
		for k, v := range extra {
			if v == "" {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{base(map[string]string{"transforms.a.type": ""}), `Missing required configuration "transforms.a.type" which has no default value.`},
		{base(map[string]string{"transforms.a.type": "com.example.Nope"}), "Invalid value com.example.Nope for configuration transforms.a.type: Class com.example.Nope could not be found."},
		{base(map[string]string{"transforms.a.type": "TopicNameMatches"}), "Class TopicNameMatches could not be found."},
		{base(map[string]string{"transforms": "a,a"}), "Duplicate alias provided."},
		{base(map[string]string{"transforms.a.fields": ""}), `transform a: ValueToKey: Missing required configuration "fields"`},
		{base(map[string]string{"transforms.a.predicate": "p"}), "Invalid value p for configuration transforms.a.predicate"},
		{base(map[string]string{"transforms.a.negate": "yes"}), "Expected value to be either true or false"},
		{base(map[string]string{"predicates": "p"}), `Missing required configuration "predicates.p.type"`},
		{base(map[string]string{"predicates": "p", "predicates.p.type": "HasHeaderKey"}), `predicate p: HasHeaderKey: Missing required configuration "name"`},
		{base(map[string]string{"predicates": "p", "predicates.p.type": "Filter"}), "Class Filter could not be found."},
	} {
		_, err := NewChain(registry(t), tc.props)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v:\n got %v\nwant %s", tc.props, err, tc.want)
		}
	}
}

func TestEnrichedConfig(t *testing.T) {
	def := EnrichedConfig(registry(t), map[string]string{
		"transforms": "a,b", "transforms.a.type": "RegexRouter", "transforms.b.type": "Unknown",
		"predicates": "p", "predicates.p.type": "TopicNameMatches",
	})
	for _, name := range []string{"transforms.a.type", "transforms.a.regex", "transforms.a.replacement", "transforms.a.predicate", "transforms.a.negate", "transforms.b.type", "predicates.p.type", "predicates.p.pattern"} {
		if def.Key(name) == nil {
			t.Errorf("%s missing", name)
		}
	}
	res := def.Validate(map[string]string{"transforms.a.type": "RegexRouter", "transforms.b.type": "Unknown", "predicates.p.type": "TopicNameMatches"})
	if connect.ErrorCount(res) != 3 { // regex, replacement, pattern required
		t.Errorf("%d errors: %+v", connect.ErrorCount(res), res)
	}
}
