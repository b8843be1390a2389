package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

// Forwarder sends a Kafka request to the active controller (Channel).
type Forwarder interface {
	Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// LifecycleConfig describes the broker a Lifecycle registers.
type LifecycleConfig struct {
	NodeID    int32
	ClusterID string
	Endpoints []metadata.Endpoint
	Rack      *string
	// Interval is broker.heartbeat.interval.ms.
	Interval time.Duration
	// Disk, when set, measures the broker's disks for the continuous
	// balancer: at most every DiskInterval (DefaultDiskInterval when 0),
	// and the next heartbeat carries the report (disk.go).
	Disk         DiskUsage
	DiskInterval time.Duration
}

// Lifecycle is a broker's side of its session with the controller
// (Kafka's BrokerLifecycleManager): it registers (BrokerRegistration, 62),
// heartbeats with its metadata offset (BrokerHeartbeat, 63), registers
// again when the controller no longer knows its epoch, and on a
// controlled shutdown asks the controller to move its leaderships away.
type Lifecycle struct {
	cfg         LifecycleConfig
	fwd         Forwarder
	loader      *metadata.Loader
	logger      *slog.Logger
	incarnation [16]byte

	epoch    atomic.Int64
	fenced   atomic.Bool
	shutdown atomic.Bool // a controlled shutdown is under way

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewLifecycle returns the lifecycle of a broker with a fresh incarnation.
func NewLifecycle(cfg LifecycleConfig, fwd Forwarder, loader *metadata.Loader, logger *slog.Logger) *Lifecycle {
	l := &Lifecycle{cfg: cfg, fwd: fwd, loader: loader, logger: logger}
	_, _ = rand.Read(l.incarnation[:])
	l.epoch.Store(-1)
	l.fenced.Store(true)
	if l.cfg.Interval <= 0 {
		l.cfg.Interval = 250 * time.Millisecond
	}
	if l.cfg.DiskInterval <= 0 {
		l.cfg.DiskInterval = DefaultDiskInterval
	}
	return l
}

// Epoch returns the broker epoch of the current registration (-1: none).
func (l *Lifecycle) Epoch() int64 { return l.epoch.Load() }

// Fenced reports whether the controller last said this broker is fenced.
func (l *Lifecycle) Fenced() bool { return l.fenced.Load() }

// Register registers the broker, retrying until it succeeds or ctx ends.
func (l *Lifecycle) Register(ctx context.Context) error {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.Version = 3
	req.BrokerID, req.ClusterID, req.IncarnationID, req.Rack = l.cfg.NodeID, l.cfg.ClusterID, l.incarnation, l.cfg.Rack
	req.PreviousBrokerEpoch = l.epoch.Load()
	for _, e := range l.cfg.Endpoints {
		le := kmsg.NewBrokerRegistrationRequestListener()
		le.Name, le.Host, le.Port, le.SecurityProtocol = e.Name, e.Host, e.Port, e.SecurityProtocol
		req.Listeners = append(req.Listeners, le)
	}
	for {
		resp, err := l.fwd.Forward(ctx, req)
		if err == nil {
			r := resp.(*kmsg.BrokerRegistrationResponse)
			if err = kerr.ErrorForCode(r.ErrorCode); err == nil {
				l.epoch.Store(r.BrokerEpoch)
				l.fenced.Store(true)
				l.logger.Info("registered with the controller", "node_id", l.cfg.NodeID, "broker_epoch", r.BrokerEpoch, "endpoints", endpointList(l.cfg.Endpoints))
				return nil
			}
			if errors.Is(err, kerr.InconsistentClusterID) {
				return fmt.Errorf("registering broker %d: %w", l.cfg.NodeID, err)
			}
		}
		l.logger.Debug("registration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering broker %d: %w (last error: %v)", l.cfg.NodeID, ctx.Err(), err)
		case <-time.After(l.cfg.Interval):
		}
	}
}

// heartbeat sends one heartbeat, with disk's report when there is one; it
// returns the controller's answer.
func (l *Lifecycle) heartbeat(ctx context.Context, wantShutdown bool, disk *DiskReport) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = 1
	req.BrokerID, req.BrokerEpoch = l.cfg.NodeID, l.epoch.Load()
	req.CurrentMetadataOffset = l.loader.Image().Offset
	req.WantShutdown = wantShutdown
	if disk != nil {
		setDiskReport(req, *disk)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*l.cfg.Interval+time.Second)
	defer cancel()
	resp, err := l.fwd.Forward(ctx, req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.BrokerHeartbeatResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return r, err
	}
	l.fenced.Store(r.IsFenced)
	return r, nil
}

// Start heartbeats in the background until Close.
func (l *Lifecycle) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(l.cfg.Interval)
		defer t.Stop()
		var lastWarn time.Time
		// The disk measurement's memory is this goroutine's alone.
		var disk diskMeter
		for first := true; ; first = false {
			if !first { // the first heartbeat goes at once: it unfences
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			if l.shutdown.Load() {
				continue
			}
			_, err := l.heartbeat(ctx, false, disk.measure(l, time.Now()))
			if errors.Is(err, kerr.StaleBrokerEpoch) {
				// The controller lost this registration (we were fenced
				// and replaced, or the log was restored): register again.
				if err := l.Register(ctx); err != nil && ctx.Err() == nil {
					l.logger.Warn("re-registration failed", "err", err)
				}
				disk.last = time.Time{} // the next heartbeat reports the disks
			} else if err != nil && ctx.Err() == nil {
				// Cut off from the quorum: keep serving what is safe (the
				// partitions this broker still leads answer until the
				// controller fences it), and say why, once a second.
				if time.Since(lastWarn) >= time.Second {
					lastWarn = time.Now()
					l.logger.Warn("cannot reach the active controller; the controller will fence this broker if it lasts", "err", err)
				}
			}
		}
	}()
}

// diskMeter paces a broker's disk measurements (Lifecycle's heartbeat
// loop owns it).
type diskMeter struct {
	last     time.Time // when it last measured
	lastWarn time.Time // when it last logged a failed measurement
}

// measure returns a fresh report when DiskInterval has passed since the
// last measurement, else nil (the controller keeps the last one). Statfs
// and the partitions' sizes are cheap; a file system too slow to answer
// them would delay heartbeats, but its writes would hang the broker anyway.
func (m *diskMeter) measure(l *Lifecycle, now time.Time) *DiskReport {
	if l.cfg.Disk == nil || now.Sub(m.last) < l.cfg.DiskInterval {
		return nil
	}
	m.last = now
	r, err := l.cfg.Disk.DiskReport()
	if err != nil {
		if now.Sub(m.lastWarn) >= time.Minute {
			m.lastWarn = now
			l.logger.Warn("cannot measure the log directories' disk usage; the balancer's disk trigger does not see this broker", "err", err)
		}
		return nil
	}
	return &r
}

// WaitUnfenced returns once the controller has unfenced this broker.
func (l *Lifecycle) WaitUnfenced(ctx context.Context) error {
	for l.fenced.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting to be unfenced: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ControlledShutdown asks the controller to move this broker's leaderships
// away, heartbeating until it says the broker may stop (or ctx ends).
func (l *Lifecycle) ControlledShutdown(ctx context.Context) error {
	l.shutdown.Store(true)
	for {
		r, err := l.heartbeat(ctx, true, nil)
		if err == nil && r.ShouldShutdown {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controlled shutdown: %w", ctx.Err())
		case <-time.After(l.cfg.Interval):
		}
	}
}

// Close stops heartbeating.
func (l *Lifecycle) Close() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

// endpointList renders endpoints as NAME://host:port, comma-separated, as
// advertised.listeners spells them: what other brokers and clients will
// dial.
func endpointList(es []metadata.Endpoint) string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name + "://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	}
	return strings.Join(out, ",")
}
