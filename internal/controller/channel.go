package controller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

// Channel is how a broker reaches the active controller (Kafka's
// forwarding, KIP-590): directly when this node's own controller is active
// (a combined node), else over the quorum protocol. After a change it
// waits until the broker's own metadata has applied it, so the client's
// next request to this broker sees what it changed.
type Channel struct {
	local  *Controller      // nil on a broker-only node
	quorum *RaftQuorum      // nil on a broker-only node
	client *Client          // nil on a lone voter
	loader *metadata.Loader // the broker's metadata
}

// NewChannel returns a channel; local and quorum are this node's own
// controller (nil on a broker-only node), client reaches the others (nil
// when there are none).
func NewChannel(local *Controller, quorum *RaftQuorum, client *Client, loader *metadata.Loader) *Channel {
	return &Channel{local: local, quorum: quorum, client: client, loader: loader}
}

// Forward sends a Kafka request to the active controller and returns its
// response once this broker's metadata includes the result.
func (ch *Channel) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	for {
		if ch.local != nil && ch.quorum.Status().Active {
			resp, err := ch.local.Forward(ctx, req)
			if !errors.Is(err, ErrNotController) {
				return resp, err
			}
		}
		if ch.client == nil {
			if ch.quorum == nil {
				return nil, fmt.Errorf("%w: no controller to reach", ErrNotController)
			}
			// A lone voter becomes active by itself: wait for it.
			if err := ch.quorum.WaitActive(ctx); err != nil {
				return nil, err
			}
			continue
		}
		payload := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
		payload = binary.BigEndian.AppendUint16(payload, uint16(req.GetVersion()))
		payload = req.AppendTo(payload)
		out, err := ch.client.Call(ctx, MethodForward, payload)
		if err != nil {
			return nil, err
		}
		if len(out) < 8 {
			return nil, errors.New("short forwarded reply")
		}
		offset := int64(binary.BigEndian.Uint64(out))
		resp := req.ResponseKind()
		if err := resp.ReadFrom(out[8:]); err != nil {
			return nil, fmt.Errorf("controller's %s response: %w", kmsg.NameForKey(req.Key()), err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = ch.loader.WaitFor(wctx, offset)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
		return resp, nil
	}
}

// ActiveController returns the active controller's node ID as this node
// knows it (-1: unknown).
func (ch *Channel) ActiveController() int32 {
	if ch.quorum != nil {
		return ch.quorum.Status().Leader
	}
	if ch.client != nil {
		ch.client.mu.Lock()
		defer ch.client.mu.Unlock()
		return ch.client.leader
	}
	return -1
}

// Service answers the quorum protocol's calls on a controller node.
type Service struct {
	ctrl   *Controller
	quorum *RaftQuorum
	loader *metadata.Loader
}

// NewService returns the handler of a controller node's listener.
func NewService(ctrl *Controller, q *RaftQuorum, loader *metadata.Loader) *Service {
	return &Service{ctrl: ctrl, quorum: q, loader: loader}
}

// Forward implements Handler: only the active controller answers; the
// reply leads with the metadata offset the answer is at.
func (s *Service) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	st := s.quorum.Status()
	if !st.Active {
		return nil, fmt.Errorf("%w: the leader is %d", ErrNotController, st.Leader)
	}
	return s.ctrl.Forward(ctx, req)
}

// FetchMetadata implements Handler.
func (s *Service) FetchMetadata(ctx context.Context, node int32, from int64, maxBytes int32, wait time.Duration) ([]byte, error) {
	return s.quorum.FetchMetadata(ctx, node, from, maxBytes, wait)
}

// Offset implements Handler: the controller's applied metadata offset.
func (s *Service) Offset() int64 { return s.loader.Image().Offset }
