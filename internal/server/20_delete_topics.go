package server

// DeleteTopics (key 20), v0-v6. v6 may name topics by ID. Refused with
// TOPIC_DELETION_DISABLED when delete.topic.enable is false.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type ref struct {
		name string
		id   [16]byte
	}
	var refs []ref
	if req.Version >= 6 {
		for _, t := range req.Topics {
			r := ref{id: t.TopicID}
			if t.Topic != nil {
				r.name = *t.Topic
			}
			refs = append(refs, r)
		}
	} else {
		for _, n := range req.TopicNames {
			refs = append(refs, ref{name: n})
		}
	}
	for _, r := range refs {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.TopicID = r.id
		name, known := b.topicName(r.name, r.id)
		if name != "" {
			n := name
			st.Topic = &n
		}
		switch {
		case !known && r.id != ([16]byte{}):
			st.ErrorCode = kerr.UnknownTopicID.Code
		case !known:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			if t := b.meta.Image().Topic(name); t != nil {
				st.TopicID = t.ID
			}
			ctx, cancel := adminCtx(req.TimeoutMillis)
			err := b.ctrl.DeleteTopic(ctx, name)
			cancel()
			st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
