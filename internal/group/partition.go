package group

import "github.com/fjordstream/fjord/internal/coordinator"

// OffsetsTopic is the internal topic holding group metadata and offsets.
const OffsetsTopic = "__consumer_offsets"

// PartitionFor returns the __consumer_offsets partition of a group:
// Utils.abs(groupId.hashCode()) % numPartitions, exactly as Kafka computes
// it, so a group lands on the same partition as on a Kafka cluster with the
// same offsets.topic.num.partitions.
func PartitionFor(groupID string, numPartitions int32) int32 {
	return coordinator.PartitionFor(groupID, numPartitions)
}

// javaStringHashCode is Java's String.hashCode (coordinator.JavaStringHashCode).
func javaStringHashCode(s string) int32 { return coordinator.JavaStringHashCode(s) }
