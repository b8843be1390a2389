package server

// Rack-aware reads (KIP-392). With replica.selector.class set to Kafka's
// RackAwareReplicaSelector, a leader answers a consumer's Fetch v11+ that
// names a Rack, when the leader is not in that rack and an in-sync, live
// follower is, with that follower as PreferredReadReplica and no records
// (Kafka's ReplicaManager.findPreferredReadReplica and
// RackAwareReplicaSelector): the client fetches from it next. Followers
// serve such fetches (see fetchFromFollower) up to their own high
// watermark.

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/partition"
)

// preferredReadRackMinVersion is the first Fetch version with RackID and
// PreferredReadReplica: older consumers cannot be redirected, so they read
// from the leader only (Kafka's FetchParams.fetchOnlyFromLeader).
const preferredReadRackMinVersion = 11

// fetchFromFollower reports whether a fetch may be served by a follower
// replica: a consumer's (replica < 0) Fetch v11+, as Kafka's
// fetchOnlyFromLeader is false only for consumers with client metadata.
func fetchFromFollower(req *kmsg.FetchRequest, replica int32) bool {
	return replica < 0 && req.Version >= preferredReadRackMinVersion
}

// readCandidate is a replica the selector may choose: Kafka's ReplicaView
// with its endpoint's rack.
type readCandidate struct {
	id            int32
	rack          string // "" when the broker has none
	logEndOffset  int64
	sinceCaughtUp time.Duration
}

// selectRackAware is Kafka's RackAwareReplicaSelector over the in-sync,
// live followers holding the fetch offset: the leader (-1) when the client
// names no rack, when the leader is in the client's rack or when no
// candidate is; otherwise the most caught-up candidate in the client's
// rack (the highest log end offset, then the one that caught up most
// recently, then the highest ID, ReplicaView.comparator's order).
func selectRackAware(clientRack, leaderRack string, cands []readCandidate) int32 {
	if clientRack == "" || leaderRack == clientRack {
		return -1
	}
	best := -1
	for i, c := range cands {
		if c.rack != clientRack {
			continue
		}
		if best < 0 || better(c, cands[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1
	}
	return cands[best].id
}

// better orders candidates as Kafka's ReplicaView.comparator (max wins).
func better(a, b readCandidate) bool {
	if a.logEndOffset != b.logEndOffset {
		return a.logEndOffset > b.logEndOffset
	}
	if a.sinceCaughtUp != b.sinceCaughtUp {
		return a.sinceCaughtUp < b.sinceCaughtUp
	}
	return a.id > b.id
}

// preferredReadReplica returns the replica a consumer's fetch of part (this
// node leads it) at fetchOffset should go to, or -1 (read here). The
// candidates are the in-sync followers holding fetchOffset that are
// registered, unfenced and reachable on the client's listener (Kafka's
// getPartitionReplicaEndpoints leaves the others out).
func (b *Broker) preferredReadReplica(req *kmsg.FetchRequest, part *partition.Partition, fetchOffset int64, listener string) int32 {
	if req.Version < preferredReadRackMinVersion || req.Rack == "" ||
		b.cfg.Broker.ReplicaSelectorClass != config.RackAwareReplicaSelector {
		return -1
	}
	if fetchOffset < part.LogStartOffset() {
		// Below the leader's log start the leader answers
		// OFFSET_OUT_OF_RANGE itself; each follower's own log start is
		// checked in ReadReplicas.
		return -1
	}
	img := b.meta.Image()
	leaderRack := ""
	if self := img.Broker(b.cfg.NodeID); self != nil && self.Rack != nil {
		leaderRack = *self.Rack
	} else if self == nil {
		leaderRack = b.cfg.Broker.BrokerRack
	}
	if leaderRack == req.Rack {
		return -1
	}
	reps, ok := part.ReadReplicas(fetchOffset, b.now())
	if !ok {
		return -1
	}
	// Replicas a reassignment is removing would send the consumer back
	// once it completes: not offered (Kafka offers them; this is cheap).
	var removing []int32
	if t := img.Topic(part.ID.Topic); t != nil && int(part.ID.Partition) < len(t.Partitions) {
		removing = t.Partitions[part.ID.Partition].RemovingReplicas
	}
	cands := make([]readCandidate, 0, len(reps))
	for _, r := range reps {
		br := img.Broker(r.ID)
		if br == nil || br.Fenced || br.InControlledShutdown || br.Rack == nil || slices.Contains(removing, r.ID) {
			continue
		}
		if _, ok := endpointOn(br, listener); !ok && listener != "" {
			continue
		}
		cands = append(cands, readCandidate{id: r.ID, rack: *br.Rack, logEndOffset: r.LogEndOffset, sinceCaughtUp: r.SinceCaughtUp})
	}
	return selectRackAware(req.Rack, leaderRack, cands)
}
