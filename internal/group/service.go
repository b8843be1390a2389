package group

// Service is the shell the server calls: one coordinator Runtime per
// __consumer_offsets partition this node serves, each running a Coordinator.
// It routes every group to its partition (PartitionFor), splits batched
// requests (DescribeGroups, DeleteGroups, OffsetFetch v8+, ListGroups)
// across partitions and merges the answers in request order, and turns the
// runtime's errors into the codes clients expect (CodeFor). It starts no
// goroutine of its own; the Runtimes own theirs. Service.mu guards the map of
// Runtimes only and is never held while calling into a Runtime.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// ErrAlreadyLoaded is returned by Load for a partition already served.
var ErrAlreadyLoaded = errors.New("group: partition already loaded")

// ErrNoSuchPartition is returned for a partition outside
// offsets.topic.num.partitions.
var ErrNoSuchPartition = errors.New("group: no such __consumer_offsets partition")

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Group configures every Coordinator (its Partition is set per
	// partition); Group.NumPartitions is offsets.topic.num.partitions.
	Group Config
	// Runtime configures every Runtime (Topic and Partition are set).
	Runtime coordinator.Config
}

// Service serves the group coordinator partitions of one node.
type Service struct {
	cfg ServiceConfig
	log *slog.Logger

	mu       sync.RWMutex // guards runtimes
	runtimes map[int32]*coordinator.Runtime[*Coordinator]
}

// NewService returns a Service serving no partition yet.
func NewService(cfg ServiceConfig, logger *slog.Logger) *Service {
	cfg.Group = cfg.Group.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: logger, runtimes: make(map[int32]*coordinator.Runtime[*Coordinator])}
}

// NumPartitions is offsets.topic.num.partitions.
func (s *Service) NumPartitions() int32 { return s.cfg.Group.NumPartitions }

// PartitionFor is the __consumer_offsets partition of a group.
func (s *Service) PartitionFor(groupID string) int32 {
	return PartitionFor(groupID, s.cfg.Group.NumPartitions)
}

// Load starts serving a partition: its Runtime replays the partition through
// loader, then appends through appender. Requests for its groups get
// COORDINATOR_LOAD_IN_PROGRESS until the replay is done. The Runtime stops
// on Unload, Close, or when ctx ends.
func (s *Service) Load(ctx context.Context, partition int32, appender coordinator.Appender, loader coordinator.Loader) error {
	if partition < 0 || partition >= s.cfg.Group.NumPartitions {
		return fmt.Errorf("load %s-%d: %w", OffsetsTopic, partition, ErrNoSuchPartition)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runtimes[partition]; ok {
		return fmt.Errorf("load %s-%d: %w", OffsetsTopic, partition, ErrAlreadyLoaded)
	}
	gcfg := s.cfg.Group
	gcfg.Partition = partition
	rcfg := s.cfg.Runtime
	rcfg.Topic, rcfg.Partition = OffsetsTopic, partition
	rt, err := coordinator.New(rcfg, coordinator.Deps[*Coordinator]{
		NewCore:  func() *Coordinator { return New(gcfg) },
		Appender: appender,
		Loader:   loader,
		Logger:   s.log,
	})
	if err != nil {
		return fmt.Errorf("load %s-%d: %w", OffsetsTopic, partition, err)
	}
	rt.Start(ctx)
	s.runtimes[partition] = rt
	return nil
}

// Unload stops serving a partition (leadership moved, or shutdown); its
// parked requests are answered NOT_COORDINATOR.
func (s *Service) Unload(partition int32) error {
	s.mu.Lock()
	rt := s.runtimes[partition]
	delete(s.runtimes, partition)
	s.mu.Unlock()
	if rt == nil {
		return nil
	}
	return rt.Close()
}

// Close unloads every partition.
func (s *Service) Close() error {
	s.mu.Lock()
	rts := s.runtimes
	s.runtimes = make(map[int32]*coordinator.Runtime[*Coordinator])
	s.mu.Unlock()
	var errs []error
	for _, p := range slices.Sorted(maps.Keys(rts)) {
		errs = append(errs, rts[p].Close())
	}
	return errors.Join(errs...)
}

// Status reports the state of a partition's Runtime; StatusClosed if it is
// not served here.
func (s *Service) Status(partition int32) coordinator.Status {
	if rt := s.runtime(partition); rt != nil {
		return rt.Status()
	}
	return coordinator.StatusClosed
}

func (s *Service) runtime(partition int32) *coordinator.Runtime[*Coordinator] {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.runtimes[partition]
}

func (s *Service) loadedPartitions() []int32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.runtimes))
}

// submit queues op on the partition of groupID.
func (s *Service) submit(partition int32, op coordinator.Op[*Coordinator]) (*coordinator.Pending, error) {
	rt := s.runtime(partition)
	if rt == nil {
		return nil, coordinator.ErrNotCoordinator
	}
	return rt.Submit(op)
}

// do runs op on the partition of groupID and waits for its response.
func (s *Service) do(ctx context.Context, groupID string, op coordinator.Op[*Coordinator]) (any, error) {
	p, err := s.submit(s.PartitionFor(groupID), op)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// JoinGroup (key 11). The response may take up to the rebalance timeout.
func (s *Service) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client Client) *kmsg.JoinGroupResponse {
	if req.Group == "" {
		return joinError(req.Version, errInvalidGroupID, req.MemberID)
	}
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.JoinGroup(req, client, now)
	})
	if err != nil {
		return joinError(req.Version, CodeFor(err), req.MemberID)
	}
	return resp.(*kmsg.JoinGroupResponse)
}

// SyncGroup (key 14). The response may wait for the leader's SyncGroup.
func (s *Service) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	if req.Group == "" {
		return syncError(req.Version, errInvalidGroupID)
	}
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.SyncGroup(req, now)
	})
	if err != nil {
		return syncError(req.Version, CodeFor(err))
	}
	return resp.(*kmsg.SyncGroupResponse)
}

// Heartbeat (key 12).
func (s *Service) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	if req.Group == "" {
		return heartbeatResponse(req.Version, errInvalidGroupID)
	}
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.Heartbeat(req, now)
	})
	if err != nil {
		return heartbeatResponse(req.Version, CodeFor(err))
	}
	return resp.(*kmsg.HeartbeatResponse)
}

// LeaveGroup (key 13).
func (s *Service) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	if req.Group == "" {
		r := leaveResponse(req.Version)
		r.ErrorCode = errInvalidGroupID
		return r
	}
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.LeaveGroup(req, now)
	})
	if err != nil {
		r := leaveResponse(req.Version)
		r.ErrorCode = CodeFor(err)
		return r
	}
	return resp.(*kmsg.LeaveGroupResponse)
}

// ConsumerGroupHeartbeat (key 68).
func (s *Service) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, client Client) *kmsg.ConsumerGroupHeartbeatResponse {
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.ConsumerGroupHeartbeat(req, client, now)
	})
	if err != nil {
		r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
		r.Version, r.ErrorCode = req.Version, CodeFor(err)
		return r
	}
	return resp.(*kmsg.ConsumerGroupHeartbeatResponse)
}

// OffsetCommit (key 8), v0-v9 (topics by name).
func (s *Service) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.OffsetCommit(req, now)
	})
	if err != nil {
		return commitResponse(req, CodeFor(err))
	}
	return resp.(*kmsg.OffsetCommitResponse)
}

// OffsetDelete (key 47).
func (s *Service) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	fail := func(code int16) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteResponse()
		r.Version, r.ErrorCode = req.Version, code
		return r
	}
	if req.Group == "" {
		return fail(errInvalidGroupID)
	}
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.OffsetDelete(req, now)
	})
	if err != nil {
		return fail(CodeFor(err))
	}
	return resp.(*kmsg.OffsetDeleteResponse)
}

// TxnOffsetCommit (key 28): a transaction's offsets, pending until its
// marker (see txn_offsets.go). The caller has added the group's partition
// to the transaction and verified it with the transaction coordinator.
func (s *Service) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
		return c.TxnOffsetCommit(req, now)
	})
	if err != nil {
		r := txnCommitResponse(req, CodeFor(err))
		return r
	}
	return resp.(*kmsg.TxnOffsetCommitResponse)
}

// CompleteTransaction applies a transaction marker just written to
// __consumer_offsets partition: the producer's pending offsets there are
// committed or dropped. While the partition loads it waits (the load may
// not have read the marker), up to ctx; a partition not served here has
// nothing to do (its next load replays the marker).
func (s *Service) CompleteTransaction(ctx context.Context, partition int32, producerID int64, commit bool) error {
	for {
		rt := s.runtime(partition)
		if rt == nil {
			return nil
		}
		_, err := rt.Do(ctx, func(c *Coordinator, now time.Time) coordinator.Result {
			return c.CompleteTransaction(producerID, commit, now)
		})
		if !errors.Is(err, coordinator.ErrLoadInProgress) {
			if errors.Is(err, coordinator.ErrNotCoordinator) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
