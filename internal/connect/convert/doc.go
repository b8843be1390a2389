// Package convert holds Fjord Connect's built-in converters under Kafka
// Connect's class names: JsonConverter, StringConverter,
// ByteArrayConverter, the number converters (LongConverter,
// IntegerConverter, DoubleConverter) and SimpleHeaderConverter, the
// default header converter. Register adds them to a connect.Registry.
//
// Invariant: the bytes a converter writes are the bytes Kafka Connect's
// converter of the same name writes for the same data (so a topic can be
// shared with Java workers), and what FromConnectData writes,
// ToConnectData reads back to an equal schema and value. Converters hold
// only their configuration: they are safe to share once configured.
package convert
