package partition

import (
	"time"
)

// ReadReplica is what a leader knows of a follower a consumer could be
// sent to read from (KIP-392): Kafka's ReplicaView.
type ReadReplica struct {
	ID            int32
	LogEndOffset  int64
	SinceCaughtUp time.Duration // since the follower last caught up to this leader
}

// ReadReplicas returns, while this replica leads, the followers a consumer
// at fetchOffset may be redirected to, as Kafka's findPreferredReadReplica
// filters them: in the ISR (a lagging follower would keep the consumer
// behind) and holding fetchOffset (its log start at or before it, its log
// end at or past it: followers run retention on their own, so a consumer
// at the leader's log start must not be sent where that offset is gone).
// ok is false unless this replica leads.
func (p *Partition) ReadReplicas(fetchOffset int64, now time.Time) (replicas []ReadReplica, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replica.readReplicas(fetchOffset, now)
}

func (r *Replica) readReplicas(fetchOffset int64, now time.Time) ([]ReadReplica, bool) {
	if r.role != RoleLeader {
		return nil, false
	}
	var out []ReadReplica
	for _, id := range r.isr {
		f := r.followers[id]
		if f == nil || f.leo < fetchOffset || f.leo < 0 || f.logStart < 0 || f.logStart > fetchOffset {
			continue
		}
		since := now.Sub(f.lastCaughtUpTime)
		if f.lastCaughtUpTime.IsZero() {
			since = time.Duration(1<<63 - 1)
		}
		out = append(out, ReadReplica{ID: id, LogEndOffset: f.leo, SinceCaughtUp: since})
	}
	return out, true
}

// followerLogStart records the log start offset follower id reported in
// its fetch (the leader checks it in readReplicas); a no-op unless leading.
func (r *Replica) followerLogStart(id int32, logStart int64) {
	if f := r.followers[id]; f != nil && r.role == RoleLeader {
		f.logStart = logStart
	}
}
