package node

import (
	"strconv"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/quota"
)

// throttles are a broker's two replication quotas (Kafka's
// QuotaFactory leader and follower ReplicationQuotaManagers): the leader
// one is consulted by the fetch handler, the follower one by the replica
// fetchers. Their bounds follow the dynamic broker configs of the metadata
// log, as Kafka's BrokerConfigHandler applies them.
type throttles struct {
	b                *config.Broker
	id               string
	leader, follower *quota.Replication
}

func newThrottles(b *config.Broker) *throttles {
	t := &throttles{
		b: b, id: strconv.Itoa(int(b.NodeID)),
		leader:   quota.NewReplication(b.ReplicationQuotaWindowNum, b.ReplicationQuotaWindowSize),
		follower: quota.NewReplication(b.ReplicationQuotaWindowNum, b.ReplicationQuotaWindowSize),
	}
	t.leader.SetBound(b.LeaderReplicationThrottledRate)
	t.follower.SetBound(b.FollowerReplicationThrottledRate)
	return t
}

// publish sets the bounds from this broker's dynamic configs, then the
// cluster default's, then the static ones (a metadata publisher: the
// replay at start-up applies what was set before).
func (t *throttles) publish(_ *metadata.Delta, img *metadata.Image) {
	l, f := t.b.ReplicationThrottleRates(img.BrokerConfigs(t.id), img.BrokerConfigs(""))
	t.leader.SetBound(l)
	t.follower.SetBound(f)
}
