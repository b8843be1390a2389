package server

// FindCoordinator (key 10), v0-v6; v4+ looks up a batch of keys. A group
// (key type 0) is coordinated by the leader of the __consumer_offsets
// partition its ID hashes to, a transactional ID (key type 1) by the
// leader of its __transaction_state partition (coordinator.PartitionFor,
// Kafka's formula); either topic is created by the first lookup that
// needs it. When the leader is this node, it is answered while the
// partition is loaded or loading here (requests to a loading partition
// then get COORDINATOR_LOAD_IN_PROGRESS, as from Kafka); another leader is
// answered with its registered endpoint; no leader (or a coordinator that
// failed to load, or a node shutting down) is COORDINATOR_NOT_AVAILABLE.
// Share groups (key type 2) and unknown types get INVALID_REQUEST.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleFindCoordinator(req *kmsg.FindCoordinatorRequest, listener string) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		c := b.findCoordinator(req.CoordinatorType, req.CoordinatorKey, listener)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(req.CoordinatorType, key, listener))
	}
	return resp
}

func (b *Broker) findCoordinator(keyType int8, key, listener string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	fail := func(code *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode, c.ErrorMessage = code.Code, &msg
		return c
	}
	var (
		topic  string
		p      int32
		ensure func() (*metadata.Topic, error)
		status func(int32) coordinator.Status
	)
	switch keyType {
	case 0:
		topic, p, ensure, status = group.OffsetsTopic, b.groups.PartitionFor(key), b.ensureOffsetsTopic, b.groups.Status
	case 1:
		if key == "" {
			return fail(kerr.InvalidRequest, "an empty transactional ID")
		}
		topic, p, ensure, status = txn.StateTopic, b.txns.PartitionFor(key), b.ensureTxnTopic, b.txns.Status
	default:
		return fail(kerr.InvalidRequest, fmt.Sprintf("coordinator type %d is not supported", keyType))
	}
	if b.meta.Image().Topic(topic) == nil {
		if _, err := ensure(); err != nil {
			return fail(kerr.CoordinatorNotAvailable, err.Error())
		}
		// The new partitions are empty: their coordinators load at once.
		// Answer when this key's is ready, so a client's first request is
		// not refused as loading.
		deadline := time.Now().Add(2 * time.Second)
		for status(p) == coordinator.StatusLoading && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	leader := int32(-1)
	if t := b.meta.Image().Topic(topic); t != nil && int(p) < len(t.Partitions) {
		leader = t.Partitions[p].Leader
	}
	if leader != b.cfg.NodeID {
		ep, ok := b.endpoint(leader, listener)
		if !ok {
			return fail(kerr.CoordinatorNotAvailable, fmt.Sprintf("%s-%d has no live leader", topic, p))
		}
		c.NodeID, c.Host, c.Port = leader, ep.Host, int32(ep.Port)
		return c
	}
	switch st := status(p); st {
	case coordinator.StatusActive, coordinator.StatusLoading:
		c.Host, c.Port = b.self(listener)
		c.NodeID = b.cfg.NodeID
		return c
	default:
		return fail(kerr.CoordinatorNotAvailable, fmt.Sprintf("%s-%d is %s on this broker", topic, p, st))
	}
}
