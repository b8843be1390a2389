// Package replication copies partitions from their leaders: per leader
// broker, a fetcher loop sends Kafka Fetch requests as a replica (ReplicaID
// set), appends what it gets byte for byte (partition.AppendAsFollower),
// makes it durable, and only then asks for more, so the fetch offset a
// leader sees is what this follower holds on disk: the leader's high
// watermark never counts an unsynced copy (Fjord's durability default, now
// on every replica). Before fetching in a new leader epoch a follower asks
// the leader where its log diverges (OffsetForLeaderEpoch, KIP-101) and
// truncates there, so no replica keeps a record the leader does not have.
// Leaders' ISR changes go to the controller as AlterPartition requests.
//
// Every goroutine (one per fetcher, one ISR sender) ends on Close; every
// queue is bounded.
package replication
