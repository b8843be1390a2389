// Package metadata holds the cluster's metadata: topics with their IDs,
// partitions, replica assignments and config overrides, the cluster ID and
// the producer-ID counter. Readers get an immutable Image; every change builds
// a new Image and is made durable before it is published, so a reader never
// sees a change that a crash could undo.
//
// In standalone mode the Store persists the image as one snapshot file
// written atomically (temp file, fsync, rename, fsync of the folder). The
// distributed mode will feed the same Image from the Raft metadata log.
package metadata
