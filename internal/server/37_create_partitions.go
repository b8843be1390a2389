package server

// CreatePartitions (key 37), v0-v3: raises a topic's partition count, with
// optional explicit assignments for the new partitions, or validates only.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := b.addPartitions(rt, req.ValidateOnly)
		st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) addPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	var assignments [][]int32
	if rt.Assignment != nil {
		assignments = make([][]int32, len(rt.Assignment))
		for i, a := range rt.Assignment {
			assignments[i] = a.Replicas
		}
	}
	ctx, cancel := adminCtx(0)
	defer cancel()
	return b.ctrl.CreatePartitions(ctx, rt.Topic, rt.Count, assignments, validateOnly)
}
