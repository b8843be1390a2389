package server

// DescribeCluster (key 60), v0-v1. One broker (this node), which is also the
// controller in standalone mode.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeCluster(req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterID = b.meta.Image().ClusterID
	resp.ControllerID = b.cfg.NodeID
	resp.EndpointType = 1
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
	resp.Brokers = append(resp.Brokers, br)
	resp.ClusterAuthorizedOperations = -2147483648
	return resp
}
