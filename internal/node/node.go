// Package node assembles one Fjord process from its configuration and its
// roles (process.roles): a controller node runs a voter of the metadata
// quorum and serves the controller listener; a broker node keeps the
// metadata (as a voter's loader, or as an observer fetching from the
// controllers), hosts partitions, registers and heartbeats with the
// active controller, runs the group coordinator (over __consumer_offsets)
// and serves the Kafka listener. A node with no controller.quorum.voters
// is standalone: both roles, one voter, nothing else to configure.
//
// Invariant: Close undoes Start completely (listeners closed, goroutines
// stopped, logs flushed and checkpointed), so a node can be restarted on the
// same folder in the same process, as tests do. The group coordinator stops
// after the listener (no request can reach it any more), the metadata
// quorum or observer before the partitions (no delta reaches a closed
// partition manager), and the partitions last.
package node

import (
	"context"

	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/metrics"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/replication"
	"github.com/fjordstream/fjord/internal/server"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Config is what a node is built from.
type Config struct {
	// Broker is the parsed configuration.
	Broker *config.Broker
	// Props are the raw properties it was parsed from (for DescribeConfigs).
	Props map[string]string
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// Listener, when set, is used instead of opening the first broker
	// (non-controller) listener.
	Listener net.Listener
	// FS holds the data folder (log.dirs): every file the node keeps
	// (meta.properties, the metadata log, every partition's files) is
	// reached through it. Nil is the operating system's; tests give a
	// vfs.MemFS to cut the power under a running node. The public fjord
	// package does not expose it: package vfs is internal.
	FS vfs.FS
	// LogLevel, when set, is the level of Logger's handler: PUT
	// /admin/log-level on the http.listeners changes it while the node
	// runs. Nil: the level cannot be changed.
	LogLevel *slog.LevelVar
	// DiskUsage, when set, measures the broker's disks for the continuous
	// balancer's disk trigger instead of statfs on the data folder (tests
	// fake a full disk with it).
	DiskUsage controller.DiskUsage
}

// Node is one running Fjord process (broker and controller roles).
type Node struct {
	cfg    Config
	logger *slog.Logger

	dataDir string
	loader  *metadata.Loader
	parts   *partition.Manager
	budgets requestBudgets // request memory bounds, shared by the listeners
	groups  *group.Service
	srvs    []*server.Server // one per broker listener; the first is the bootstrap
	broker  *server.Broker   // the request handlers (nil on a controller-only node)

	// Metadata and the controller, by role: a controller node runs a
	// quorum voter (quorum, ctrl, ctrlSrv serving the controller
	// listener, transport to the other voters); a broker-only node an
	// observer. client reaches the other controllers.
	quorum    *controller.RaftQuorum
	ctrl      *controller.Controller
	ctrlSrv   *controller.Server
	transport *controller.PeerTransport
	client    *controller.Client
	observer  *controller.Observer
	channel   *controller.Channel
	lifecycle *controller.Lifecycle
	repl      *replication.Manager
	throttles *throttles // the replication quotas (brokers only)

	// Metrics and health: the node's own registry and the HTTP
	// listeners serving it (http.listeners); ready once Start finished,
	// closing from the beginning of Close (/readyz).
	registry *prometheus.Registry
	// nodeRegistry is /metrics/node: the same metrics without the
	// per-partition and per-group series, cheap at any partition count.
	nodeRegistry *prometheus.Registry
	nodeWide     *nodeCollector // the collector registered there
	httpSrvs     []*metrics.Server
	collector    *nodeCollector             // registered once Start finished
	httpAddrs    atomic.Pointer[[]net.Addr] // the bound http.listeners, published once
	// scrapeMu is held (read) by a scrape's collectors; Close takes it
	// (write) once closing is set, so no scrape walks what it closes.
	scrapeMu       sync.RWMutex
	groupCollector *groupCollector // likewise, on brokers
	logIO          log.IOStats     // bytes the hosted logs wrote and read
	rebalances     rebalanceStats  // the group coordinators' rebalances
	ready          atomic.Bool
	closing        atomic.Bool
	requestLog     atomic.Bool                 // request.log.enable, then /admin/request-log
	console        atomic.Pointer[nodeConsole] // http.console.enable: set once Start finished

	abort atomic.Bool // Abort: no controlled shutdown
	// dirFailure carries the data directory's first storage failure to
	// watchDir; failed is closed, and failErr set, once the broker role
	// stopped because of it (Failed, Err).
	dirFailure chan error
	failed     chan struct{}
	failErr    error
	cancel     context.CancelFunc
	wg         sync.WaitGroup // maintenance loop
	once       sync.Once
}

// New validates the configuration; Start does the work.
func New(cfg Config) (*Node, error) {
	if cfg.Broker == nil {
		return nil, errors.New("node: no configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS()
	}
	if len(cfg.Broker.LogDirs) == 0 {
		return nil, errors.New("node: log.dirs is empty")
	}
	dir, err := filepath.Abs(cfg.Broker.LogDirs[0])
	if err != nil {
		return nil, fmt.Errorf("node: log.dirs: %w", err)
	}
	return &Node{cfg: cfg, logger: cfg.Logger, dataDir: dir, dirFailure: make(chan error, 1), failed: make(chan struct{})}, nil
}

// DataDir is the folder holding the node's data.
func (n *Node) DataDir() string { return n.dataDir }

// Addr is the advertised bootstrap address (host:port): the node's first
// broker listener.
func (n *Node) Addr() string {
	if len(n.srvs) == 0 {
		return ""
	}
	l, _ := n.clientListener()
	c := n.advertisedFor(l, n.srvs[0].Addr())
	return net.JoinHostPort(c.host, strconv.Itoa(int(c.port)))
}

type endpoint struct {
	host string
	port int32
}

// advertisedFor is the address a broker listener is advertised at:
// advertised.listeners' entry of the same name (port 0 meaning the bound
// port), else the bound address, a wildcard host advertised as localhost.
func (n *Node) advertisedFor(l config.Listener, boundAddr net.Addr) endpoint {
	bound := boundAddr.(*net.TCPAddr)
	for _, a := range n.cfg.Broker.AdvertisedListeners {
		if a.Name == l.Name {
			port := int32(a.Port)
			if port == 0 {
				port = int32(bound.Port)
			}
			return endpoint{a.Host, port}
		}
	}
	host := l.Host
	switch {
	case host == "" && !n.standalone():
		// Every interface, in a cluster: Kafka advertises the machine's
		// host name (other machines cannot reach "localhost").
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	case host == "" || host == "0.0.0.0" || host == "::":
		host = "localhost" // a standalone node, for local clients
	}
	return endpoint{host, int32(bound.Port)}
}

// clean is the log cleaner: it compacts the dirtiest compacted log, one at
// a time, its I/O bounded by log.cleaner.io.max.bytes.per.second, and sleeps
// log.cleaner.backoff.ms when there is nothing to clean or a clean failed.
func (n *Node) clean(ctx context.Context) {
	b := n.cfg.Broker
	throttle := log.NewThrottle(b.LogCleanerIOMaxBytesPerSecond)
	backoff := max(b.LogCleanerBackoff, 100*time.Millisecond)
	for ctx.Err() == nil {
		p, stats, err := n.parts.CleanDirtiest(ctx, time.Now(), throttle)
		switch {
		case err != nil && ctx.Err() == nil:
			n.logger.Error("log cleaner failed", "err", err)
		case stats.Cleaned:
			n.logger.Info("cleaned log", "topic", p.ID.Topic, "partition", p.ID.Partition,
				"segments_before", stats.SegmentsBefore, "segments_after", stats.SegmentsAfter,
				"records_read", stats.RecordsRead, "records_kept", stats.RecordsKept,
				"tombstones_removed", stats.TombstonesRemoved, "bytes_read", stats.BytesRead)
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// maintain rolls, flushes and applies retention on a timer. Rolling and
// flush.ms are checked every second; retention every
// log.retention.check.interval.ms.
func (n *Node) maintain(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	interval := n.cfg.Broker.LogRetentionCheckInterval
	lastRetention := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due := interval > 0 && now.Sub(lastRetention) >= interval
			if due {
				lastRetention = now
			}
			n.parts.Maintain(now, due)
		}
	}
}

// resolveClusterID finds the cluster this data folder belongs to: the
// one in meta.properties, else (a folder of a release before the metadata
// log) the legacy JSON image's, else cluster.id, else a new random ID. A
// configured cluster.id that disagrees with the folder is refused.
func (n *Node) resolveClusterID() (string, error) {
	want := n.cfg.Broker.ClusterID
	props, err := n.readMetaProperties()
	if err != nil {
		return "", err
	}
	have := props["cluster.id"]
	if have == "" {
		legacy, _, err := metadata.ReadLegacySnapshot(n.cfg.FS, filepath.Join(n.dataDir, controller.MetadataLogDir))
		switch {
		case err == nil:
			have = legacy
		case !errors.Is(err, metadata.ErrNoLegacySnapshot):
			return "", err
		}
	}
	switch {
	case have != "" && want != "" && have != want:
		return "", fmt.Errorf("the data folder %s belongs to cluster %s, but cluster.id is %s", n.dataDir, have, want)
	case have != "":
		return have, nil
	case want != "":
		return want, nil
	case !n.standalone():
		// Empty folders of a new cluster agree on its ID with no format
		// step: it is derived from the voter set they all configure.
		return clusterIDFromVoters(n.cfg.Broker.ControllerQuorumVoters), nil
	}
	return metadata.NewTopicID().String(), nil
}

// clusterIDFromVoters derives a cluster ID from controller.quorum.voters
// (IDs and addresses, in ID order), as a base64 UUID like Kafka's.
func clusterIDFromVoters(voters []config.Voter) string {
	vs := slices.Clone(voters)
	slices.SortFunc(vs, func(a, b config.Voter) int { return int(a.ID - b.ID) })
	h := sha256.New()
	for _, v := range vs {
		fmt.Fprintf(h, "%d@%s;", v.ID, v.Address())
	}
	var id metadata.TopicID
	copy(id[:], h.Sum(nil))
	id[6] = (id[6] & 0x0f) | 0x40
	id[8] = (id[8] & 0x3f) | 0x80
	return id.String()
}

// readMetaProperties reads meta.properties (nil when there is none).
func (n *Node) readMetaProperties() (map[string]string, error) {
	b, err := vfs.ReadFile(n.cfg.FS, filepath.Join(n.dataDir, "meta.properties"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("meta.properties: %w", err)
	}
	props, err := config.ParseProperties(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("meta.properties: %w", err)
	}
	return props, nil
}

// checkMetaProperties writes meta.properties on first start and refuses a
// folder that belongs to another node or cluster, as Kafka does.
func (n *Node) checkMetaProperties(clusterID string) error {
	path := filepath.Join(n.dataDir, "meta.properties")
	want := map[string]string{
		"version":    "1",
		"node.id":    strconv.Itoa(int(n.cfg.Broker.NodeID)),
		"cluster.id": clusterID,
	}
	props, err := n.readMetaProperties()
	if err != nil {
		return err
	}
	if props == nil {
		text := "#Written by Fjord. Do not edit.\nversion=1\nnode.id=" + want["node.id"] + "\ncluster.id=" + want["cluster.id"] + "\n"
		return metadata.WriteFileAtomic(n.cfg.FS, path, []byte(text))
	}
	for _, k := range []string{"node.id", "cluster.id"} {
		if props[k] != want[k] {
			return fmt.Errorf("%s: %s is %q but this node has %q; the folder belongs to another node or cluster", path, k, props[k], want[k])
		}
	}
	return nil
}

func (n *Node) closeQuorum() error {
	var errs []error
	if n.lifecycle != nil {
		n.lifecycle.Close()
	}
	if n.ctrlSrv != nil {
		errs = append(errs, n.ctrlSrv.Close())
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.observer != nil {
		errs = append(errs, n.observer.Close())
	}
	if n.client != nil {
		n.client.Close()
	}
	if n.quorum != nil {
		errs = append(errs, n.quorum.Close())
	}
	return errors.Join(errs...)
}

// Abort stops the node as Close does, but without a controlled shutdown:
// its leaderships move only once the controller fences it.
func (n *Node) Abort() error {
	n.abort.Store(true)
	return n.Close()
}

// Close stops serving and closes every partition (flushing and writing
// clean-shutdown checkpoints). It is safe to call more than once.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.closing.Store(true)
		if n.collector != nil {
			n.registry.Unregister(n.collector)
			n.nodeRegistry.Unregister(n.nodeWide)
		}
		if n.groupCollector != nil {
			n.registry.Unregister(n.groupCollector)
		}
		n.scrapeMu.Lock() // a scrape in progress finishes; later ones see closing
		n.scrapeMu.Unlock()
		if nc := n.console.Swap(nil); nc != nil {
			// Before the listeners: its sampler reads through them.
			nc.c.Close()
			nc.cl.Close()
		}
		n.controlledShutdown()
		for _, s := range n.srvs {
			err = errors.Join(err, s.Close())
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		// The quorum (or observer) stops before the partitions: no delta
		// may reach a closed partition manager.
		err = errors.Join(err, n.closeGroups(), n.closeQuorum())
		if n.repl != nil {
			n.repl.Close()
		}
		err = errors.Join(err, n.closeParts(), n.closeHTTP())
	})
	return err
}

func (n *Node) closeGroups() error {
	var err error
	if n.broker != nil {
		// The transaction coordinator first: its markers may go to
		// __consumer_offsets partitions.
		err = n.broker.CloseTransactions()
	}
	if n.groups == nil {
		return err
	}
	return errors.Join(err, n.groups.Close())
}

// rebalanceStats counts group rebalances by protocol.
type rebalanceStats struct{ classic, consumer atomic.Int64 }

// groupConfig maps the broker's group and offsets keys to the coordinator's
// settings.
func groupConfig(b *config.Broker, topics consumergroup.Topics, rebalances *rebalanceStats) group.ServiceConfig {
	return group.ServiceConfig{
		Group: group.Config{
			NumPartitions:                 b.OffsetsTopicNumPartitions,
			MinSessionTimeout:             b.GroupMinSessionTimeout,
			MaxSessionTimeout:             b.GroupMaxSessionTimeout,
			InitialRebalanceDelay:         b.GroupInitialRebalanceDelay,
			NoInitialRebalanceDelay:       b.GroupInitialRebalanceDelay <= 0,
			MaxSize:                       int(b.GroupMaxSize),
			OffsetsRetention:              b.OffsetsRetention,
			OffsetsRetentionCheckInterval: b.OffsetsRetentionCheckInterval,
			Consumer: consumergroup.Config{
				SessionTimeout:    b.GroupConsumerSessionTimeout,
				HeartbeatInterval: b.GroupConsumerHeartbeat,
				MaxSize:           int(b.GroupConsumerMaxSize),
				Assignors:         b.GroupConsumerAssignors,
				Rebalances:        &rebalances.consumer,
			},
			Rebalances: &rebalances.classic,
			Topics:     topics,
		},
		Runtime: coordinator.Config{},
	}
}

func (n *Node) closeParts() error {
	if n.parts == nil {
		return nil
	}
	return n.parts.Close()
}
