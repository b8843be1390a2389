// Package server is the Kafka protocol front end of a node: it accepts TCP
// connections, reads size-prefixed requests, dispatches them to one handler
// per API (files named NN_api.go after the API key) and writes responses in
// request order. Fetch record sets go from the segment files to the socket
// with sendfile(2) on Linux TCP connections (a pread copy elsewhere, and
// for record sets under 16 KiB), never through the response encoder.
//
// Invariants: responses on a connection are written in the order requests
// arrived; a request's effects (appends, topic changes) happen in arrival
// order, except that group coordinator requests (JoinGroup, OffsetCommit,
// ...) run from the connection's writer, so they take effect after every
// earlier request and in order among themselves, but possibly after later
// produce or topic requests of the same connection; an acks!=0 produce is answered only after its data is as durable as
// the topic's flush settings promise; every connection has a bounded number
// of requests in flight and an idle timeout; a bad request closes only its
// own connection; the segment files a fetch response pinned are released
// once it is written or dropped, whatever happens to the connection.
package server
