// Package protocol is Fjord's sans-io Kafka wire layer: it splits a byte
// stream into size-prefixed frames, decodes request headers (v0-v2, flexible
// or not) into franz-go kmsg requests, encodes responses with the header
// version Kafka uses for them, holds the table of API versions Fjord
// implements, and maps internal errors to Kafka error codes in one place.
// Fetch responses can be encoded in pieces (AppendFetchResponse): every
// byte kmsg would write, with holes where the caller sends record sets of
// its own, so batches go from segment files to the socket without being
// copied into the frame.
//
// Invariants: nothing here touches a socket or a file; the pieces of a
// Fetch response with the record sets inserted are byte for byte kmsg's
// encoding of the same response; malformed input is reported as an error,
// never a panic; a request is only decoded when its key and version are in
// the implemented table, so ApiVersions advertises exactly what the
// handlers serve.
package protocol
