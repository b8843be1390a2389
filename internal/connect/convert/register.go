package convert

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
)

// Version is the version the REST API reports for the built-in converters.
const Version = "1.0.0"

// Kafka Connect's class names of the converters here.
const (
	JSONConverterClass         = "org.apache.kafka.connect.json.JsonConverter"
	StringConverterClass       = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayConverterClass    = "org.apache.kafka.connect.converters.ByteArrayConverter"
	LongConverterClass         = "org.apache.kafka.connect.converters.LongConverter"
	IntegerConverterClass      = "org.apache.kafka.connect.converters.IntegerConverter"
	DoubleConverterClass       = "org.apache.kafka.connect.converters.DoubleConverter"
	SimpleHeaderConverterClass = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
)

// Register adds the built-in converters and SimpleHeaderConverter to r. It
// fails when a name is taken already (Register called twice).
func Register(r *connect.Registry) error {
	for _, p := range []connect.Plugin{
		{Class: JSONConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &JSONConverter{} }},
		{Class: StringConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &StringConverter{} }},
		{Class: ByteArrayConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &ByteArrayConverter{} }},
		{Class: LongConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &NumberConverter{kind: connect.TypeInt64} }},
		{Class: IntegerConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &NumberConverter{kind: connect.TypeInt32} }},
		{Class: DoubleConverterClass, Type: connect.PluginConverter, Version: Version, New: func() any { return &NumberConverter{kind: connect.TypeFloat64} }},
		{Class: SimpleHeaderConverterClass, Type: connect.PluginHeaderConverter, Version: Version, New: func() any { return &SimpleHeaderConverter{} }},
	} {
		if err := r.Register(p); err != nil {
			return fmt.Errorf("convert: register %s: %w", p.Class, err)
		}
	}
	return nil
}
