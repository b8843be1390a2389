package server

// AddRaftVoter (key 80, v0-v1) and RemoveRaftVoter (key 81, v0), KIP-853:
// changes of the metadata quorum's voters, forwarded as they are to the
// active controller, as Kafka's brokers forward the Admin client's
// addRaftVoter and removeRaftVoter.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleAddRaftVoter(req *kmsg.AddRaftVoterRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	out.ErrorCode, out.ErrorMessage = code, msg
	return out
}

func (b *Broker) handleRemoveRaftVoter(req *kmsg.RemoveRaftVoterRequest) kmsg.Response {
	resp, code, msg := b.forward(req, 0)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	out.ErrorCode, out.ErrorMessage = code, msg
	return out
}
