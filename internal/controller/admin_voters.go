package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

// handleAddRaftVoter answers AddRaftVoter (KIP-853): the voter's endpoint
// is its listener named as this node's controller listener (or its only
// one), and the answer comes once it is a voter, within the request's
// timeout.
func (c *Controller) handleAddRaftVoter(ctx context.Context, req *kmsg.AddRaftVoterRequest) *kmsg.AddRaftVoterResponse {
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	fail := func(err error) *kmsg.AddRaftVoterResponse {
		resp.ErrorCode = errOf(err).Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp
	}
	rq, err := c.voterQuorum(req.ClusterID)
	if err != nil {
		return fail(err)
	}
	v := metadata.Voter{ID: req.VoterID, DirectoryID: req.VoterDirectoryID}
	for _, l := range req.Listeners {
		if len(c.cfg.Broker.ControllerListenerNames) > 0 && l.Name == c.cfg.Broker.ControllerListenerNames[0] || len(req.Listeners) == 1 {
			v.Host, v.Port = l.Host, l.Port
		}
	}
	if v.Host == "" {
		return fail(fmt.Errorf("%w: no listener of voter %d is named %v", kerr.InvalidRequest, req.VoterID, c.cfg.Broker.ControllerListenerNames))
	}
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
	if err := rq.AddVoter(ctx, v); err != nil {
		return fail(err)
	}
	c.logger.Info("added a voter to the metadata quorum", "node", v.ID, "endpoint", fmt.Sprintf("%s:%d", v.Host, v.Port))
	return resp
}

// handleRemoveRaftVoter answers RemoveRaftVoter (KIP-853). When this node
// is the voter to remove it hands its leadership over and returns
// ErrHandedOver, so that forwarding sends the request again to the next
// active controller.
func (c *Controller) handleRemoveRaftVoter(ctx context.Context, req *kmsg.RemoveRaftVoterRequest) (*kmsg.RemoveRaftVoterResponse, error) {
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	fail := func(err error) (*kmsg.RemoveRaftVoterResponse, error) {
		if errors.Is(err, ErrHandedOver) {
			return nil, err
		}
		resp.ErrorCode = errOf(err).Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp, nil
	}
	rq, err := c.voterQuorum(req.ClusterID)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := requestCtx(ctx, int32(adminVoterTimeout.Milliseconds()))
	defer cancel()
	if err := rq.RemoveVoter(ctx, req.VoterID, req.VoterDirectoryID); err != nil {
		return fail(err)
	}
	c.logger.Info("removed a voter from the metadata quorum", "node", req.VoterID)
	return resp, nil
}

// adminVoterTimeout bounds a RemoveRaftVoter, which has no timeout field.
const adminVoterTimeout = 30 * time.Second

// voterQuorum returns the raft quorum whose voters change, refusing a
// request meant for another cluster.
func (c *Controller) voterQuorum(clusterID *string) (*RaftQuorum, error) {
	rq, ok := c.quorum.(*RaftQuorum)
	if !ok {
		return nil, fmt.Errorf("%w: this controller has no raft quorum", kerr.UnsupportedVersion)
	}
	if id := c.loader.Image().ClusterID; clusterID != nil && *clusterID != "" && id != "" && *clusterID != id {
		return nil, fmt.Errorf("%w: the request is for cluster %s, this is %s", kerr.InconsistentClusterID, *clusterID, id)
	}
	return rq, nil
}
