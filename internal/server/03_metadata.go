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

func (b *Broker) handleMetadata(req *kmsg.MetadataRequest, listener string) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.meta.Image()
	resp.Brokers = b.liveBrokers(img, listener)
	resp.ClusterID = &img.ClusterID
	resp.ControllerID = b.controllerID()

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range img.TopicNames() {
			resp.Topics = append(resp.Topics, b.describeTopic(img, img.Topic(name), listener, req.Version))
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
		resp.Topics = append(resp.Topics, b.describeTopic(img, t, listener, req.Version))
	}
	return resp
}

// describeTopic describes a topic to a client on listener. A partition
// whose live leader has no endpoint on that listener is answered without a
// leader, LISTENER_NOT_FOUND (LEADER_NOT_AVAILABLE before v6), as Kafka
// does: the client could not reach it.
func (b *Broker) describeTopic(img *metadata.Image, t *metadata.Topic, listener string, version int16) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic, st.TopicID, st.IsInternal = &name, t.ID, metadata.IsInternal(t.Name)
	st.AuthorizedOperations = -2147483648
	for _, p := range t.Partitions {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition, sp.Leader, sp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		sp.Replicas, sp.ISR = p.Replicas, p.ISR
		for _, r := range p.Replicas {
			if br := img.Broker(r); br == nil || br.Fenced {
				sp.OfflineReplicas = append(sp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 {
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
		} else if !b.reachableOn(img, p.Leader, listener) {
			sp.Leader, sp.ErrorCode = -1, kerr.LeaderNotAvailable.Code
			if version >= 6 {
				sp.ErrorCode = kerr.ListenerNotFound.Code
			}
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

// liveBrokers lists the registered, unfenced brokers with their endpoint
// on listener (the listener the client connected to) and rack, this node
// always included (with its advertised address) so a client can reach the
// node it asked. A broker without that listener is left out, as Kafka
// does.
func (b *Broker) liveBrokers(img *metadata.Image, listener string) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	self := false
	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		if br.ID == b.cfg.NodeID {
			self = true
			if !b.reachableOn(img, br.ID, listener) {
				continue // a listener this node serves but does not advertise
			}
			mb.Host, mb.Port = b.self(listener)
		} else if e, ok := endpointOn(br, listener); ok {
			mb.Host, mb.Port = e.Host, int32(e.Port)
		} else {
			continue
		}
		mb.NodeID, mb.Rack = br.ID, br.Rack
		out = append(out, mb)
	}
	if !self && b.reachableOn(img, b.cfg.NodeID, listener) {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = b.cfg.NodeID
		mb.Host, mb.Port = b.self(listener)
		out = append(out, mb)
	}
	return out
}

// reachableOn reports whether a client on listener can reach broker id: a
// live broker with an endpoint on that listener (this node: one it
// advertises). A fenced or unknown leader is another matter (the
// partition's own error), so it counts as reachable here.
func (b *Broker) reachableOn(img *metadata.Image, id int32, listener string) bool {
	if listener == "" {
		return true
	}
	if id == b.cfg.NodeID {
		_, ok := b.cfg.Advertised[listener]
		return ok || len(b.cfg.Advertised) == 0
	}
	br := img.Broker(id)
	if br == nil || br.Fenced {
		return true
	}
	_, ok := endpointOn(br, listener)
	return ok
}

// self returns this node's advertised address on listener (its first
// broker listener's when the name is not one of its own).
func (b *Broker) self(listener string) (string, int32) {
	if e, ok := b.cfg.Advertised[listener]; ok {
		return e.Host, int32(e.Port)
	}
	return b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
}

// endpointOn returns a broker's endpoint on the named listener; an unnamed
// listener (a server built without one) takes the broker's first.
func endpointOn(br *metadata.Broker, listener string) (metadata.Endpoint, bool) {
	for _, e := range br.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	if listener == "" && len(br.Endpoints) > 0 {
		return br.Endpoints[0], true
	}
	return metadata.Endpoint{}, false
}

// endpoint returns a live broker's endpoint on listener.
func (b *Broker) endpoint(id int32, listener string) (metadata.Endpoint, bool) {
	br := b.meta.Image().Broker(id)
	if br == nil || br.Fenced {
		return metadata.Endpoint{}, false
	}
	return endpointOn(br, listener)
}
