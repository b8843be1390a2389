package server

// DescribeCluster (key 60), v0-v2: the live (registered, unfenced)
// brokers with their rack, and as controller the active controller when
// it is also a broker, else a live broker (as Kafka's brokers answer:
// clients cannot reach a dedicated controller). v1's EndpointType 1 asks
// for brokers, the only endpoints Fjord lists. v2's IncludeFencedBrokers
// (KIP-1073) adds the registered but fenced ones, marked IsFenced, so
// tools can tell a stopped broker from an unknown one.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeCluster(req *kmsg.DescribeClusterRequest, listener string) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	img := b.meta.Image()
	resp.ClusterID = img.ClusterID
	resp.EndpointType = 1
	for _, mb := range b.liveBrokers(img, listener) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	if req.IncludeFencedBrokers {
		for _, fb := range img.Brokers() {
			e, ok := endpointOn(fb, listener)
			if !fb.Fenced || !ok {
				continue
			}
			br := kmsg.NewDescribeClusterResponseBroker()
			br.NodeID, br.Host, br.Port, br.Rack, br.IsFenced = fb.ID, e.Host, int32(e.Port), fb.Rack, true
			resp.Brokers = append(resp.Brokers, br)
		}
	}
	resp.ControllerID = b.controllerID()
	resp.ClusterAuthorizedOperations = -2147483648
	return resp
}

// controllerID is the controller ID Metadata and DescribeCluster report:
// the active controller when it is a live broker, else this broker.
func (b *Broker) controllerID() int32 {
	id := b.ctrl.ActiveController()
	if br := b.meta.Image().Broker(id); br != nil && !br.Fenced {
		return id
	}
	return b.cfg.NodeID
}
