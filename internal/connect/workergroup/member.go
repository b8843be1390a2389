// Package workergroup is a Connect worker's membership in its group (the
// workers sharing group.id): it joins through the broker's group
// coordinator with Connect's protocol type and protocols, runs the
// assignor when it is the leader, and hands each assignment to the worker,
// heartbeating in between, as Kafka Connect's WorkerGroupMember and
// WorkerCoordinator do. The broker treats the protocol's bytes as opaque;
// they are internal/connect/distributed's, Kafka's format.
//
// Invariants: an assignment is handed over only for the generation it was
// computed in; after a rebalance is announced (REBALANCE_IN_PROGRESS) the
// member rejoins before its next heartbeat, so a worker never keeps work
// past the rebalance timeout unknowingly; one goroutine (Run) owns the
// membership.
package workergroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/connect/distributed"
)

// Config is a member's group settings (Kafka's worker keys).
type Config struct {
	GroupID           string
	SessionTimeout    time.Duration // session.timeout.ms
	RebalanceTimeout  time.Duration // rebalance.timeout.ms
	HeartbeatInterval time.Duration // heartbeat.interval.ms
	// Protocol is connect.protocol: eager ("default"), "compatible" or
	// "sessioned"; the member offers it and the ones below it, and the
	// coordinator picks the highest all members offer.
	Protocol string
	Logger   *slog.Logger
}

// Handler is the worker's side of the membership.
type Handler interface {
	// State is what the worker tells the group when it joins: its URL,
	// its config topic offset and what it runs now (the version is set
	// by the member from the protocol chosen).
	State() distributed.WorkerState
	// Assign runs on the leader: it returns each member's assignment
	// (by member ID) from their join metadata.
	Assign(ctx context.Context, leaderID string, version int16, members map[string]distributed.WorkerState) (map[string]distributed.LeaderAssignment, error)
	// Assigned hands the worker its assignment for generation.
	Assigned(ctx context.Context, a distributed.LeaderAssignment, generation int32, memberID string)
	// Revoked tells the worker that its membership ended (the session
	// expired or the member left): under the eager protocol, everything
	// it runs is to be stopped.
	Revoked(ctx context.Context)
}

// Member is a worker's membership; Run drives it.
type Member struct {
	cfg     Config
	cl      *kgo.Client
	handler Handler
	rejoin  chan struct{}

	memberID   string
	generation int32
}

// New returns a member of cfg.GroupID through cl.
func New(cfg Config, cl *kgo.Client, h Handler) *Member {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Protocol == "" {
		cfg.Protocol = distributed.ProtocolSessioned
	}
	return &Member{cfg: cfg, cl: cl, handler: h, rejoin: make(chan struct{}, 1), generation: -1}
}

// RequestRejoin asks for a new rebalance soon (the worker revoked work,
// or the leader saw the configuration change).
func (m *Member) RequestRejoin() {
	select {
	case m.rejoin <- struct{}{}:
	default:
	}
}

// versions lists the protocols offered, most preferred first.
func (m *Member) versions() []struct {
	name    string
	version int16
} {
	all := []struct {
		name    string
		version int16
	}{{distributed.ProtocolSessioned, 2}, {distributed.ProtocolCompatible, 1}, {distributed.ProtocolEager, 0}}
	for i, p := range all {
		if p.name == m.cfg.Protocol {
			return all[i:]
		}
	}
	return all[len(all)-1:]
}

// Run joins and stays in the group until ctx ends, then leaves it.
func (m *Member) Run(ctx context.Context) error {
	defer m.leave()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := m.joinAndSync(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			err = m.heartbeat(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errRejoin) {
			m.cfg.Logger.Warn("worker group membership", "group", m.cfg.GroupID, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return nil
}

// errRejoin ends a heartbeat loop for a new join.
var errRejoin = errors.New("rejoin the group")

func (m *Member) joinAndSync(ctx context.Context) error {
	state := m.handler.State()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.MemberID, join.ProtocolType = m.cfg.GroupID, m.memberID, distributed.ProtocolType
	join.SessionTimeoutMillis = int32(m.cfg.SessionTimeout / time.Millisecond)
	join.RebalanceTimeoutMillis = int32(m.cfg.RebalanceTimeout / time.Millisecond)
	for _, p := range m.versions() {
		s := state
		s.Version = p.version
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p.name, distributed.EncodeMetadata(s)
		join.Protocols = append(join.Protocols, jp)
	}
	var resp *kmsg.JoinGroupResponse
	for {
		r, err := join.RequestWith(ctx, m.cl)
		if err != nil {
			return fmt.Errorf("join group %s: %w", m.cfg.GroupID, err)
		}
		if errors.Is(kerr.ErrorForCode(r.ErrorCode), kerr.MemberIDRequired) {
			join.MemberID, m.memberID = r.MemberID, r.MemberID
			continue
		}
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) {
				m.memberID = ""
			}
			return fmt.Errorf("join group %s: %w", m.cfg.GroupID, err)
		}
		resp = r
		break
	}
	m.memberID, m.generation = resp.MemberID, resp.Generation
	var version int16
	for _, p := range m.versions() {
		if resp.Protocol != nil && *resp.Protocol == p.name {
			version = p.version
		}
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = m.cfg.GroupID, resp.Generation, resp.MemberID
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr(distributed.ProtocolType), resp.Protocol
	if resp.LeaderID == resp.MemberID {
		members := map[string]distributed.WorkerState{}
		for _, mem := range resp.Members {
			s, err := distributed.DecodeMetadata(mem.ProtocolMetadata)
			if err != nil {
				return fmt.Errorf("member %s's join metadata: %w", mem.MemberID, err)
			}
			members[mem.MemberID] = s
		}
		out, err := m.handler.Assign(ctx, resp.MemberID, version, members)
		if err != nil {
			return fmt.Errorf("assigning connectors and tasks: %w", err)
		}
		for id, a := range out {
			a.Version = version
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = id, distributed.EncodeAssignment(a)
			sync.GroupAssignment = append(sync.GroupAssignment, ga)
		}
	}
	sresp, err := sync.RequestWith(ctx, m.cl)
	if err != nil {
		return fmt.Errorf("sync group %s: %w", m.cfg.GroupID, err)
	}
	if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
			m.memberID, m.generation = "", -1
		}
		return fmt.Errorf("sync group %s: %w", m.cfg.GroupID, err)
	}
	a, err := distributed.DecodeAssignment(sresp.MemberAssignment)
	if err != nil {
		return err
	}
	// Heartbeats go on while the worker stops and starts work: stopping
	// revoked tasks can take longer than the session, and a member that
	// sends none meanwhile is evicted, which starts another rebalance.
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan error, 1)
	go func() { hbDone <- m.heartbeat(hbCtx) }()
	m.handler.Assigned(ctx, a, resp.Generation, resp.MemberID)
	stopHB()
	if err := <-hbDone; errors.Is(err, errRejoin) {
		m.RequestRejoin() // a rebalance was announced meanwhile (or asked for)
	}
	return nil
}

// heartbeat keeps the membership until a rebalance is asked for (by the
// coordinator or RequestRejoin) or ctx ends.
func (m *Member) heartbeat(ctx context.Context) error {
	t := time.NewTicker(m.cfg.HeartbeatInterval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.rejoin:
			return errRejoin
		case <-t.C:
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = m.cfg.GroupID, m.generation, m.memberID
		hctx, cancel := context.WithTimeout(ctx, m.cfg.SessionTimeout)
		r, err := hb.RequestWith(hctx, m.cl)
		cancel()
		if err != nil {
			if time.Since(lastOK) > m.cfg.SessionTimeout {
				// Cut off from the coordinator for longer than the
				// session: the group has given this worker's work to
				// the others, so it must stop running it.
				m.memberID, m.generation = "", -1
				m.handler.Revoked(ctx)
				return errRejoin
			}
			continue // the next heartbeat retries
		}
		lastOK = time.Now()
		switch err := kerr.ErrorForCode(r.ErrorCode); {
		case err == nil:
		case errors.Is(err, kerr.RebalanceInProgress):
			return errRejoin
		case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
			// The session ended: the worker may no longer run anything.
			m.memberID, m.generation = "", -1
			m.handler.Revoked(ctx)
			return errRejoin
		default:
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// leave leaves the group (a clean shutdown: the others rebalance at once).
func (m *Member) leave() {
	if m.memberID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = m.cfg.GroupID, m.memberID
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m.memberID
	req.Members = append(req.Members, lm)
	_, _ = req.RequestWith(ctx, m.cl)
	m.memberID = ""
}
