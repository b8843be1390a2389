package transform

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
)

const (
	transformsPackage = "org.apache.kafka.connect.transforms."
	predicatesPackage = "org.apache.kafka.connect.transforms.predicates."
)

// Register adds the built-in transforms and predicates to r under Kafka's
// class names (and their simple names, e.g. "InsertField$Value"). It fails
// when a name is taken already.
func Register(r *connect.Registry) error {
	var plugins []connect.Plugin
	tr := func(name string, newT func() connect.Transformation) {
		plugins = append(plugins, connect.Plugin{Class: transformsPackage + name, Type: connect.PluginTransformation, Version: Version,
			New: func() any { return newT() }})
	}
	for _, s := range []side{onKey, onValue} {
		tr("InsertField"+s.suffix(), func() connect.Transformation { return &InsertField{side: s} })
		tr("ReplaceField"+s.suffix(), func() connect.Transformation { return &ReplaceField{side: s} })
		tr("MaskField"+s.suffix(), func() connect.Transformation { return &MaskField{side: s} })
		tr("ExtractField"+s.suffix(), func() connect.Transformation { return &ExtractField{side: s} })
		tr("HoistField"+s.suffix(), func() connect.Transformation { return &HoistField{side: s} })
		tr("Cast"+s.suffix(), func() connect.Transformation { return &Cast{side: s} })
		tr("TimestampConverter"+s.suffix(), func() connect.Transformation { return &TimestampConverter{side: s} })
		tr("Flatten"+s.suffix(), func() connect.Transformation { return &Flatten{side: s} })
		tr("SetSchemaMetadata"+s.suffix(), func() connect.Transformation { return &SetSchemaMetadata{side: s} })
	}
	tr("ValueToKey", func() connect.Transformation { return &ValueToKey{} })
	tr("TimestampRouter", func() connect.Transformation { return &TimestampRouter{} })
	tr("RegexRouter", func() connect.Transformation { return &RegexRouter{} })
	tr("Filter", func() connect.Transformation { return &Filter{} })
	tr("InsertHeader", func() connect.Transformation { return &InsertHeader{} })
	tr("DropHeaders", func() connect.Transformation { return &DropHeaders{} })
	for name, newP := range map[string]func() connect.Predicate{
		"TopicNameMatches":  func() connect.Predicate { return &TopicNameMatches{} },
		"HasHeaderKey":      func() connect.Predicate { return &HasHeaderKey{} },
		"RecordIsTombstone": func() connect.Predicate { return &RecordIsTombstone{} },
	} {
		plugins = append(plugins, connect.Plugin{Class: predicatesPackage + name, Type: connect.PluginPredicate, Version: Version,
			New: func() any { return newP() }})
	}
	for _, p := range plugins {
		if err := r.Register(p); err != nil {
			return fmt.Errorf("transform: register %s: %w", p.Class, err)
		}
	}
	return nil
}

// NewInsertField returns an unconfigured InsertField$Key (key) or
// InsertField$Value, for callers that build transforms without a registry.
func NewInsertField(key bool) *InsertField { return &InsertField{side: side(key)} }

// NewReplaceField returns an unconfigured ReplaceField$Key or $Value.
func NewReplaceField(key bool) *ReplaceField { return &ReplaceField{side: side(key)} }

// NewMaskField returns an unconfigured MaskField$Key or $Value.
func NewMaskField(key bool) *MaskField { return &MaskField{side: side(key)} }

// NewExtractField returns an unconfigured ExtractField$Key or $Value.
func NewExtractField(key bool) *ExtractField { return &ExtractField{side: side(key)} }

// NewHoistField returns an unconfigured HoistField$Key or $Value.
func NewHoistField(key bool) *HoistField { return &HoistField{side: side(key)} }

// NewCast returns an unconfigured Cast$Key or $Value.
func NewCast(key bool) *Cast { return &Cast{side: side(key)} }

// NewSetSchemaMetadata returns an unconfigured SetSchemaMetadata$Key or
// $Value.
func NewSetSchemaMetadata(key bool) *SetSchemaMetadata { return &SetSchemaMetadata{side: side(key)} }
