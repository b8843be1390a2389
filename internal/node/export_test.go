package node

import "github.com/fjordstream/fjord/internal/partition"

// PartitionForTest returns the replica of topic-p this node hosts (nil if
// none): tests write what no client may yet (transactional batches).
func (n *Node) PartitionForTest(topic string, p int32) *partition.Partition {
	return n.parts.Get(partition.ID{Topic: topic, Partition: p})
}
