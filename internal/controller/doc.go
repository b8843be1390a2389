// Package controller is the active controller: it owns every change to
// the cluster's metadata. Requests that change metadata (CreateTopics,
// DeleteTopics, CreatePartitions, config changes, producer-ID blocks) are
// validated against the current image, turned into metadata records and
// committed through the Quorum; each node's metadata.Loader then replays
// the committed batch, and its publishers (partition manager, coordinators)
// react to the delta. Replica assignment and topic IDs are decided here.
//
// Invariants: operations run one at a time (Controller.mu), so the image an
// operation validates against is the image its records apply to; a batch
// is dry-run on a delta before it is proposed, so the metadata log never
// holds a record that does not replay; a change is acknowledged only once
// its batch is committed (durable on the quorum) and applied locally.
//
// A standalone node is a one-voter quorum (LocalQuorum): the same records,
// the same log (__cluster_metadata-0 in the segment format of every
// partition), the same replay, with commit meaning "fsynced on this node".
package controller
