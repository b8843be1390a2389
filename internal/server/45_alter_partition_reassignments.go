package server

// AlterPartitionReassignments (45, v0-v1) and ListPartitionReassignments
// (46, v0): forwarded to the active controller, which decides and answers
// them from its metadata image (internal/controller/reassign.go), as
// Kafka's brokers forward them (KIP-590). A broker that cannot reach the
// controller answers every partition with the forwarding error.

import "github.com/twmb/franz-go/pkg/kmsg"

func (b *Broker) handleAlterPartitionReassignments(req *kmsg.AlterPartitionAssignmentsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	out.ErrorCode, out.ErrorMessage = code, msg
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, code, msg
			st.Partitions = append(st.Partitions, sp)
		}
		out.Topics = append(out.Topics, st)
	}
	return out
}

func (b *Broker) handleListPartitionReassignments(req *kmsg.ListPartitionReassignmentsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	out.ErrorCode, out.ErrorMessage = code, msg
	return out
}
