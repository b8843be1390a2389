package server

// Metadata (key 3), v0-v13. One broker: this node, also the controller.
// Topics: v0 sends an empty list for "all"; v1+ sends null for "all". v10+
// returns topic IDs and v12+ looks topics up by ID. Unknown topics are
// created when auto.create.topics.enable is on and the request allows it:
// always for v0-v3 (no AllowAutoTopicCreation field, as Kafka), by the flag
// for v4+. Unlike Kafka, creation is synchronous, so the topic is answered
// complete in the same response instead of with LEADER_NOT_AVAILABLE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleMetadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.meta.Image()
	resp.Brokers = b.liveBrokers(img)
	resp.ClusterID = &img.ClusterID
	resp.ControllerID = b.controllerID()

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range img.TopicNames() {
			resp.Topics = append(resp.Topics, b.describeTopic(img.Topic(name)))
		}
		return resp
	}
	autoCreate := b.cfg.Broker.AutoCreateTopicsEnable && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *metadata.Topic
		if rt.TopicID != ([16]byte{}) {
			t = img.TopicByID(rt.TopicID)
			if t == nil {
				st := kmsg.NewMetadataResponseTopic()
				st.TopicID, st.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		} else if rt.Topic != nil {
			t = img.Topic(*rt.Topic)
			if t == nil && autoCreate {
				var err error
				t, err = b.autoCreateTopic(*rt.Topic)
				if err != nil {
					st := kmsg.NewMetadataResponseTopic()
					st.Topic, st.ErrorCode = rt.Topic, protocol.ErrorCode(err)
					resp.Topics = append(resp.Topics, st)
					continue
				}
			}
		}
		if t == nil {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, kerr.UnknownTopicOrPartition.Code
			if rt.Topic != nil && metadata.ValidateTopicName(*rt.Topic) != nil {
				st.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		resp.Topics = append(resp.Topics, b.describeTopic(t))
	}
	return resp
}

func (b *Broker) describeTopic(t *metadata.Topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic, st.TopicID, st.IsInternal = &name, t.ID, metadata.IsInternal(t.Name)
	st.AuthorizedOperations = -2147483648
	for _, p := range t.Partitions {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition, sp.Leader, sp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		sp.Replicas, sp.ISR = p.Replicas, p.ISR
		for _, r := range p.Replicas {
			if br := b.meta.Image().Broker(r); br == nil || br.Fenced {
				sp.OfflineReplicas = append(sp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 {
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}

// autoCreateTopic creates a topic a client named in Metadata, with the
// broker's defaults (auto.create.topics.enable).
func (b *Broker) autoCreateTopic(name string) (*metadata.Topic, error) {
	ctx, cancel := adminCtx(0)
	defer cancel()
	return b.ensureTopic(ctx, name, -1, -1, nil)
}

// liveBrokers lists the registered, unfenced brokers with their client
// endpoint and rack, this node always included (with its advertised
// address) so a client can reach the node it asked.
func (b *Broker) liveBrokers(img *metadata.Image) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	self := false
	for _, br := range img.Brokers() {
		if br.Fenced || len(br.Endpoints) == 0 {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = br.ID, br.Endpoints[0].Host, int32(br.Endpoints[0].Port), br.Rack
		if br.ID == b.cfg.NodeID {
			mb.Host, mb.Port, self = b.cfg.AdvertisedHost, b.cfg.AdvertisedPort, true
		}
		out = append(out, mb)
	}
	if !self {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = b.cfg.NodeID, b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
		out = append(out, mb)
	}
	return out
}

// endpoint returns the client endpoint of a live broker.
func (b *Broker) endpoint(id int32) (metadata.Endpoint, bool) {
	br := b.meta.Image().Broker(id)
	if br == nil || br.Fenced || len(br.Endpoints) == 0 {
		return metadata.Endpoint{}, false
	}
	return br.Endpoints[0], true
}
