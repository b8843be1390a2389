// Package fjord embeds a real Fjord broker in a Go program or test: the same
// storage engine, protocol server and metadata store as the `fjord server`
// command, started in-process on a free loopback port with a temporary data
// folder, and stopped cleanly by Close.
//
//	n, err := fjord.NewNode(fjord.WithConfig("num.partitions", "3"))
//	if err != nil { ... }
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Close()
//	client, _ := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
package fjord

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/node"
)

// Option configures a Node.
type Option func(*options)

type options struct {
	dataDir    string
	props      map[string]string
	logger     *slog.Logger
	basePort   int                           // NewCluster only
	nodeConfig func(i int) map[string]string // NewCluster only
}

// WithDataDir keeps the data in dir (Kafka's log.dirs) instead of a
// temporary folder; the folder is then left in place by Close, so a new Node
// on the same folder sees the same topics and records.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithConfig sets any broker key of server.properties, e.g.
// WithConfig("log.segment.bytes", "1048576") or
// WithConfig("auto.create.topics.enable", "false").
func WithConfig(key, value string) Option { return func(o *options) { o.props[key] = value } }

// WithLogger sends the broker's logs to logger (discarded by default).
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.logger = logger } }

// WithBasePort, for NewCluster, puts the listeners on fixed loopback ports
// instead of free ones: node i (0 to n-1) serves clients on port+i
// (listeners' PLAINTEXT) and the metadata quorum on port+n+i (CONTROLLER),
// so a cluster of 3 from 19092 uses 19092-19094 and 19095-19097. A port in
// use makes Start fail. NewNode ignores it.
func WithBasePort(port int) Option { return func(o *options) { o.basePort = port } }

// WithNodeConfig, for NewCluster, adds broker keys per node: fn(i) for node
// i (0 to n-1, node.id i+1) wins over WithConfig, e.g. broker.rack for a
// rack-aware cluster. The keys NewCluster sets itself (node.id, listeners,
// controller.quorum.voters, process.roles) cannot be overridden. NewNode
// ignores it.
func WithNodeConfig(fn func(i int) map[string]string) Option {
	return func(o *options) { o.nodeConfig = fn }
}

// Node is an embedded broker.
type Node struct {
	inner   *node.Node
	tempDir string
}

// NewNode builds a node from options. The default listener is
// PLAINTEXT://127.0.0.1:0 (a free port chosen by the OS), and an embedded
// node serves no metrics: WithConfig("http.listeners",
// "http://127.0.0.1:0") turns them on (see HTTPAddr).
func NewNode(opts ...Option) (*Node, error) {
	o := options{props: map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "http.listeners": ""}}
	for _, opt := range opts {
		opt(&o)
	}
	n := &Node{}
	if o.dataDir == "" {
		dir, err := os.MkdirTemp("", "fjord-")
		if err != nil {
			return nil, fmt.Errorf("fjord: temp data folder: %w", err)
		}
		o.dataDir, n.tempDir = dir, dir
	}
	o.props["log.dirs"] = o.dataDir
	b, warnings, err := config.LoadBroker(o.props)
	if err != nil {
		n.removeTemp()
		return nil, fmt.Errorf("fjord: %w", err)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	inner, err := node.New(node.Config{Broker: b, Props: o.props, Logger: logger})
	if err != nil {
		n.removeTemp()
		return nil, fmt.Errorf("fjord: %w", err)
	}
	n.inner = inner
	return n, nil
}

// Start recovers the data folder and starts serving.
func (n *Node) Start(ctx context.Context) error { return n.inner.Start(ctx) }

// Addr is the bootstrap address, host:port.
func (n *Node) Addr() string { return n.inner.Addr() }

// DataDir is the data folder.
func (n *Node) DataDir() string { return n.inner.DataDir() }

// HTTPAddr is the host:port serving /metrics, /healthz and /readyz (the
// first of http.listeners), or "" when there is none. Set once Start has
// begun.
func (n *Node) HTTPAddr() string {
	if a := n.inner.HTTPAddrs(); len(a) > 0 {
		return a[0].String()
	}
	return ""
}

// Failed is closed when the node stopped serving on its own: its data
// folder failed (a write or fsync error such as a full or broken disk), so
// it took every partition offline and, in a cluster, handed its
// leaderships to other brokers. Kafka halts the process then; an embedding
// program decides instead: Err says why, and Close releases the rest.
func (n *Node) Failed() <-chan struct{} { return n.inner.Failed() }

// Err is why Failed was closed; it wraps ErrLogDirFailed. Nil while the
// node is healthy.
func (n *Node) Err() error { return n.inner.Err() }

// ErrLogDirFailed is wrapped by Err when the data folder failed.
var ErrLogDirFailed = node.ErrLogDirFailed

// Close stops the broker and removes the temporary data folder, if the node
// made one.
func (n *Node) Close() error {
	err := n.inner.Close()
	n.removeTemp()
	return err
}

func (n *Node) removeTemp() {
	if n.tempDir != "" {
		_ = os.RemoveAll(n.tempDir)
	}
}
