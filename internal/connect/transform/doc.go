// Package transform holds Fjord Connect's built-in single-message
// transforms and predicates under Kafka Connect's class names
// (org.apache.kafka.connect.transforms.InsertField$Value, ...,
// org.apache.kafka.connect.transforms.predicates.TopicNameMatches), and
// Chain, which builds a connector's ordered transforms from its
// transforms.* and predicates.* keys and runs them.
//
// Invariants: a transform never changes the record, struct, map or schema
// it is given (it builds new ones: earlier stages and retries may still
// hold the old); each transform works on schema'd values (*connect.Struct
// with a struct schema) and schemaless ones (map[string]any) as Kafka's
// does, and passes tombstones through where Kafka's does. Transforms keep
// no state beyond their configuration and a cache of derived schemas.
package transform
