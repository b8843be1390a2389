package controller

// Brokers' lifecycle, as Kafka's cluster control manager keeps it: a broker
// registers (fenced), is unfenced once it heartbeats with its metadata
// caught up, is fenced when its heartbeats stop for
// broker.session.timeout.ms, and shuts down under control (its leaderships
// moved away first). Heartbeat times live in the active controller's
// memory only; a controller that becomes active gives every broker a full
// session before fencing it.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

// brokerSession is the active controller's view of one broker's session.
type brokerSession struct {
	lastHeartbeat time.Time
	// caughtUpOffset: the broker is caught up once its metadata offset
	// reaches this (the image's offset when it registered).
	caughtUpOffset int64
	shuttingDown   bool
	// disk is the broker's latest disk report (disk.go), received at
	// diskAt; nil until its heartbeats carry one.
	disk   *DiskReport
	diskAt time.Time
}

// session returns (creating) the session state of a broker; c.hbMu held.
func (c *Controller) session(id int32, now time.Time) *brokerSession {
	s := c.sessions[id]
	if s == nil {
		// A session this controller did not see registered (it became
		// active since): the broker counts as caught up only once its
		// metadata reaches what this controller has now, never at once.
		s = &brokerSession{lastHeartbeat: now, caughtUpOffset: c.loader.Image().Offset}
		c.sessions[id] = s
	}
	return s
}

func (c *Controller) handleBrokerRegistration(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	epoch, err := c.RegisterBrokerRequest(ctx, req)
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		return resp
	}
	resp.BrokerEpoch = epoch
	return resp
}

// RegisterBrokerRequest registers a broker from its BrokerRegistration
// request: fenced, with a new broker epoch, until its heartbeats show its
// metadata caught up.
func (c *Controller) RegisterBrokerRequest(ctx context.Context, req *kmsg.BrokerRegistrationRequest) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	if req.ClusterID != img.ClusterID {
		return 0, fmt.Errorf("%w: broker %d belongs to cluster %s, this is %s", kerr.InconsistentClusterID, req.BrokerID, req.ClusterID, img.ClusterID)
	}
	now := time.Now()
	old := img.Broker(req.BrokerID)
	c.hbMu.Lock()
	if old != nil && old.IncarnationID != req.IncarnationID && !old.Fenced {
		if s := c.sessions[req.BrokerID]; s != nil && now.Sub(s.lastHeartbeat) < c.sessionTimeout() {
			c.hbMu.Unlock()
			return 0, fmt.Errorf("%w: broker %d is registered by another live process", kerr.DuplicateBrokerRegistration, req.BrokerID)
		}
	}
	c.hbMu.Unlock()
	epoch := img.Offset + 1
	if old != nil {
		epoch = max(epoch, old.Epoch+1)
	}
	r := &metadata.RegisterBrokerRecord{BrokerID: req.BrokerID, IncarnationID: req.IncarnationID, BrokerEpoch: epoch,
		Rack: req.Rack, Fenced: true}
	for _, l := range req.Listeners {
		r.Endpoints = append(r.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol})
	}
	recs := []metadata.Record{r}
	if old != nil && !old.Fenced {
		// A re-registration (the broker restarted): it leads nothing and is
		// in no ISR until it catches up again.
		recs = append(recs, c.moveAway(img, req.BrokerID, false)...)
	}
	if err := c.commit(ctx, recs); err != nil {
		return 0, err
	}
	c.hbMu.Lock()
	ns := &brokerSession{lastHeartbeat: now, caughtUpOffset: img.Offset}
	if prev := c.sessions[req.BrokerID]; prev != nil {
		// The disk is the same disk: its last report stands until the
		// next, which the broker sends at once (Lifecycle.Start).
		ns.disk, ns.diskAt = prev.disk, prev.diskAt
	}
	c.sessions[req.BrokerID] = ns
	c.hbMu.Unlock()
	c.logger.Info("registered broker", "node_id", req.BrokerID, "broker_epoch", epoch)
	return epoch, nil
}

func (c *Controller) handleBrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	img := c.loader.Image()
	b := img.Broker(req.BrokerID)
	if b == nil || b.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp
	}
	now := time.Now()
	disk, hasDisk, diskErr := diskReportOf(req)
	if diskErr != nil {
		c.logger.Debug("ignoring a broker's disk report", "node_id", req.BrokerID, "err", diskErr)
	}
	c.hbMu.Lock()
	s := c.session(req.BrokerID, now)
	s.lastHeartbeat = now
	if hasDisk {
		s.disk, s.diskAt = &disk, now
	}
	caughtUp := req.CurrentMetadataOffset >= s.caughtUpOffset
	s.shuttingDown = s.shuttingDown || req.WantShutdown
	shutting := s.shuttingDown
	c.hbMu.Unlock()
	resp.IsCaughtUp = caughtUp
	resp.IsFenced = b.Fenced
	switch {
	case shutting:
		done, err := c.controlledShutdown(ctx, req.BrokerID)
		if err != nil {
			resp.ErrorCode = protocol.ErrorCode(err)
			return resp
		}
		resp.ShouldShutdown = done
		resp.IsFenced = done
	case b.Fenced && caughtUp && !req.WantFence:
		if err := c.unfence(ctx, req.BrokerID, req.BrokerEpoch); err != nil {
			resp.ErrorCode = protocol.ErrorCode(err)
			return resp
		}
		resp.IsFenced = false
	}
	return resp
}

// unfence lets a caught-up broker lead and join ISRs again, and elects it
// where a partition has no leader and it may lead.
func (c *Controller) unfence(ctx context.Context, id int32, epoch int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	if b := img.Broker(id); b == nil || !b.Fenced || b.Epoch != epoch {
		return nil
	}
	recs := []metadata.Record{&metadata.UnfenceBrokerRecord{ID: id, Epoch: epoch}}
	d := metadata.NewDelta(img)
	if err := d.Replay(recs[0]); err != nil {
		return err
	}
	recs = append(recs, c.electOffline(d.Apply())...)
	if err := c.commit(ctx, recs); err != nil {
		return err
	}
	c.logger.Info("unfenced broker", "node_id", id, "partition_changes", len(recs)-1)
	return nil
}

// fence removes a broker whose session expired from every ISR and
// leadership.
func (c *Controller) fence(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	b := img.Broker(id)
	if b == nil || b.Fenced {
		return nil
	}
	recs := append([]metadata.Record{&metadata.FenceBrokerRecord{ID: id, Epoch: b.Epoch}}, c.moveAway(img, id, false)...)
	if err := c.commit(ctx, recs); err != nil {
		return err
	}
	c.logger.Warn("fenced broker: its session expired", "node_id", id, "partition_changes", len(recs)-1)
	return nil
}

// controlledShutdown moves a stopping broker's leaderships away and takes
// it out of every ISR; it reports done once the broker leads nothing, and
// fences it then.
func (c *Controller) controlledShutdown(ctx context.Context, id int32) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.loader.Image()
	b := img.Broker(id)
	if b == nil {
		return true, nil
	}
	recs := c.moveAway(img, id, true)
	if len(recs) > 0 {
		if err := c.commit(ctx, recs); err != nil {
			return false, err
		}
		img = c.loader.Image()
	}
	if c.leadsMovable(img, id) {
		return false, nil
	}
	if !img.Broker(id).Fenced {
		if err := c.commit(ctx, []metadata.Record{&metadata.FenceBrokerRecord{ID: id, Epoch: b.Epoch}}); err != nil {
			return false, err
		}
	}
	c.logger.Info("controlled shutdown of broker done", "node_id", id)
	return true, nil
}

// leadsMovable reports whether a broker leads a partition that another
// live ISR member could lead instead. Partitions with no such replica keep
// their leader to the end (moving them would take them offline), so they do
// not hold a controlled shutdown back.
func (c *Controller) leadsMovable(img *metadata.Image, id int32) bool {
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			if p.Leader != id {
				continue
			}
			for _, r := range p.ISR {
				if r != id && c.live(img, r) {
					return true
				}
			}
		}
	}
	return false
}

func (c *Controller) sessionTimeout() time.Duration {
	if d := c.cfg.Broker.BrokerSessionTimeout; d > 0 {
		return d
	}
	return 1500 * time.Millisecond
}

// Run is the active controller's timer loop: it fences brokers whose
// sessions expired and, with auto.leader.rebalance.enable, moves
// leaderships back to preferred replicas, and with balancer.enable runs the
// continuous balancer (balancer.go). Only the active controller works: a
// standby's ticks do nothing. It returns when ctx ends.
func (c *Controller) Run(ctx context.Context, active func() bool) {
	tick := time.NewTicker(c.sessionTimeout() / 4)
	defer tick.Stop()
	wasActive := false
	lastRebalance := time.Now()
	var bal balancerState
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			isActive := active()
			if !isActive {
				wasActive = false
				continue
			}
			if !wasActive {
				// Newly active: every broker gets a full session, except a
				// voter this node has not heard from for longer (the old
				// active controller, mostly, whose silence is why this
				// node leads now): its session counts from its last word.
				c.hbMu.Lock()
				c.sessions = map[int32]*brokerSession{}
				if rq, ok := c.quorum.(*RaftQuorum); ok {
					for _, b := range c.loader.Image().Brokers() {
						if at, heard := rq.LastHeard(b.ID); heard && b.ID != rq.cfg.NodeID {
							c.sessions[b.ID] = &brokerSession{lastHeartbeat: at, caughtUpOffset: c.loader.Image().Offset}
						}
					}
				}
				c.hbMu.Unlock()
				wasActive = true
				// The balancer starts anew: its first look is one interval
				// on, and gone brokers' grace counts from now.
				bal = balancerState{last: now}
			}
			c.expireSessions(ctx, now)
			c.balanceTick(ctx, &bal, now)
			if c.cfg.Broker.AutoLeaderRebalanceEnable && now.Sub(lastRebalance) >= c.cfg.Broker.LeaderImbalanceCheckInterval {
				lastRebalance = now
				if _, err := c.electPreferred(ctx, nil); err != nil {
					c.logger.Warn("preferred leader election failed", "err", err)
				}
			}
		}
	}
}

func (c *Controller) expireSessions(ctx context.Context, now time.Time) {
	img := c.loader.Image()
	var expired []int32
	c.hbMu.Lock()
	for _, b := range img.Brokers() {
		if b.Fenced {
			continue
		}
		if s := c.session(b.ID, now); now.Sub(s.lastHeartbeat) > c.sessionTimeout() {
			expired = append(expired, b.ID)
		}
	}
	c.hbMu.Unlock()
	slices.Sort(expired)
	for _, id := range expired {
		if err := c.fence(ctx, id); err != nil {
			c.logger.Warn("fencing a broker failed", "node_id", id, "err", err)
		}
	}
}
