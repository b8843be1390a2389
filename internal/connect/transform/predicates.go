package transform

import (
	"fmt"
	"regexp"

	"github.com/fjordstream/fjord/internal/connect"
)

// TopicNameMatches is Kafka's TopicNameMatches predicate: true for a
// record whose topic the pattern matches whole.
type TopicNameMatches struct{ re *regexp.Regexp }

// Config declares the predicate's keys.
func (*TopicNameMatches) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "pattern", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.Medium,
		Validator: func(v any) error {
			if v.(string) == "" {
				return fmt.Errorf("String must be non-empty")
			}
			if _, err := regexp.Compile(v.(string)); err != nil {
				return fmt.Errorf("entry must be a valid regular expression: %v", err)
			}
			return nil
		},
		Doc: "A Java regular expression for matching against the name of a record's topic."}}
}

// Configure compiles the pattern.
func (p *TopicNameMatches) Configure(props map[string]string) error {
	parsed, err := parse("TopicNameMatches", p.Config(), props)
	if err != nil {
		return err
	}
	p.re, err = compileJavaRegex(parsed.String("pattern"))
	return err
}

// Test matches the topic.
func (p *TopicNameMatches) Test(r connect.Record) (bool, error) {
	return p.re.MatchString(r.Topic), nil
}

// HasHeaderKey is Kafka's HasHeaderKey predicate: true for a record with
// at least one header of the name.
type HasHeaderKey struct{ name string }

// Config declares the predicate's keys.
func (*HasHeaderKey) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "name", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.Medium,
		Validator: func(v any) error {
			if v.(string) == "" {
				return fmt.Errorf("String must be non-empty")
			}
			return nil
		},
		Doc: "The header name."}}
}

// Configure reads the name.
func (p *HasHeaderKey) Configure(props map[string]string) error {
	parsed, err := parse("HasHeaderKey", p.Config(), props)
	if err != nil {
		return err
	}
	p.name = parsed.String("name")
	return nil
}

// Test looks for the header.
func (p *HasHeaderKey) Test(r connect.Record) (bool, error) {
	_, ok := r.Header(p.name)
	return ok, nil
}

// RecordIsTombstone is Kafka's RecordIsTombstone predicate: true for a
// record with a null value.
type RecordIsTombstone struct{}

// Config declares the predicate's keys (none).
func (*RecordIsTombstone) Config() connect.ConfigDef { return connect.ConfigDef{} }

// Configure does nothing: the predicate has no settings.
func (*RecordIsTombstone) Configure(map[string]string) error { return nil }

// Test reports whether the value is null.
func (*RecordIsTombstone) Test(r connect.Record) (bool, error) { return r.Value == nil, nil }
