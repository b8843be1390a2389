// Package config is Fjord's configuration: the one registry of Kafka
// configuration keys (broker and topic), a java.util.Properties parser for
// server.properties files, typed broker and topic configuration, and the
// helpers behind DescribeConfigs and IncrementalAlterConfigs.
//
// Keys are Kafka's wherever Kafka has one, with Kafka's types, defaults,
// validators and precedence (log.retention.ms > log.retention.minutes >
// log.retention.hours; log.roll.ms > log.roll.hours; -1 meaning unlimited).
// Fjord departs from Kafka's defaults in a few documented places, most
// importantly log.flush.interval.messages=1: an acknowledged write has been
// fsynced (with group commit), unlike Kafka's page-cache default.
//
// Invariants this package keeps:
//   - There is no package-level mutable state: [Registry] builds a fresh,
//     read-only [Table] on each call, and every result is a new value.
//   - [LoadBroker] either returns a fully validated [Broker] or an error that
//     names the offending key and value; unknown keys are warnings, never
//     errors, so a Kafka server.properties file loads as is.
//   - Every topic key's default is supplied by one or more broker keys
//     ([Key.TopicKey]); [Registry]'s topic defaults equal what LoadBroker
//     derives from the broker defaults (a test checks this).
//   - Parsers never panic on any input (fuzzed), and input size is bounded
//     ([MaxPropertiesBytes]).
//   - Errors about values wrap [ErrInvalidConfig]; the protocol layer maps it
//     to Kafka's INVALID_CONFIG.
//
// docs/config.md is generated from the registry by [GenerateDocs] and
// golden-tested, so the reference cannot drift from the code.
package config
