package server

// FindCoordinator (key 10), v0-v6; v4+ looks up a batch of keys. Groups
// (key type 0) are coordinated here, by the __consumer_offsets partition
// their ID hashes to (group.PartitionFor, Kafka's formula): this node is
// answered while that partition is loaded or loading here (requests to a
// loading partition then get COORDINATOR_LOAD_IN_PROGRESS, as from Kafka),
// COORDINATOR_NOT_AVAILABLE otherwise (load failed, or shutting down).
//
// Departure from Kafka: transactions (key type 1) are not coordinated yet,
// so they get COORDINATOR_NOT_AVAILABLE with a message saying so; share
// groups (key type 2) and unknown types get INVALID_REQUEST.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func (b *Broker) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		c := b.findCoordinator(req.CoordinatorType, req.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(req.CoordinatorType, key))
	}
	return resp
}

func (b *Broker) findCoordinator(keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	fail := func(code *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode, c.ErrorMessage = code.Code, &msg
		return c
	}
	switch keyType {
	case 0:
	case 1:
		return fail(kerr.CoordinatorNotAvailable, "transactions are not supported yet")
	default:
		return fail(kerr.InvalidRequest, fmt.Sprintf("coordinator type %d is not supported", keyType))
	}
	p := b.groups.PartitionFor(key)
	switch st := b.groups.Status(p); st {
	case coordinator.StatusActive, coordinator.StatusLoading:
		c.NodeID, c.Host, c.Port = b.cfg.NodeID, b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
		return c
	default:
		return fail(kerr.CoordinatorNotAvailable, fmt.Sprintf("__consumer_offsets-%d is %s on this broker", p, st))
	}
}
