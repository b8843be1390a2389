package fjord

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Cluster is an in-process cluster of real Fjord nodes for tests: every
// node a broker and a voter of the metadata quorum (combined mode), on
// loopback ports, each with its own data folder. It is what people start
// Kafka in containers for, without Docker.
//
//	c, _ := fjord.NewCluster(3)
//	_ = c.Start(ctx)
//	defer c.Close()
//	client, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
//
// Stop, Kill and Restart act on one node (index 0 to N-1) while the others
// keep serving. Kill stops a node without its controlled shutdown (its
// leaderships move only when the controller fences it); a real SIGKILL,
// with unsynced writes lost, needs a separate process (internal/fjordtest).
type Cluster struct {
	opts    options
	tempDir string
	dirs    []string
	ports   [][2]int // client, controller
	mu      sync.Mutex
	nodes   []*Node // nil while stopped
}

// NewCluster prepares a cluster of n nodes (1 to 9). Options apply to
// every node: WithConfig keys, WithLogger, and WithDataDir as the parent
// of the nodes' folders (node-1, node-2, ...), kept by Close (a new
// cluster on the same parent finds its data again); without it the
// folders are temporary and Close removes them. Two options are for
// clusters only: WithBasePort (fixed ports instead of free ones) and
// WithNodeConfig (keys per node, such as broker.rack).
func NewCluster(n int, opts ...Option) (*Cluster, error) {
	if n < 1 || n > 9 {
		return nil, fmt.Errorf("fjord: a cluster of %d nodes; 1 to 9 are supported", n)
	}
	o := options{props: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.basePort != 0 && (o.basePort < 1 || o.basePort+2*n-1 > 65535) {
		return nil, fmt.Errorf("fjord: base port %d: the cluster needs ports %d to %d", o.basePort, o.basePort, o.basePort+2*n-1)
	}
	c := &Cluster{opts: o, nodes: make([]*Node, n)}
	root := o.dataDir
	if root == "" {
		dir, err := os.MkdirTemp("", "fjord-cluster-")
		if err != nil {
			return nil, fmt.Errorf("fjord: temp data folder: %w", err)
		}
		root, c.tempDir = dir, dir
	}
	var ports portPicker
	defer ports.release()
	for i := range n {
		c.dirs = append(c.dirs, filepath.Join(root, "node-"+strconv.Itoa(i+1)))
		if o.basePort != 0 {
			c.ports = append(c.ports, [2]int{o.basePort + i, o.basePort + n + i})
			continue
		}
		cp, err := ports.pick()
		if err != nil {
			c.removeTemp()
			return nil, err
		}
		qp, err := ports.pick()
		if err != nil {
			c.removeTemp()
			return nil, err
		}
		c.ports = append(c.ports, [2]int{cp, qp})
	}
	return c, nil
}

// portPicker hands out free loopback ports and holds each until release,
// so the ports it gives are distinct (a port closed and asked for again
// may come back at once: two listeners of one cluster on one port).
type portPicker struct{ held []net.Listener }

func (p *portPicker) pick() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("fjord: free port: %w", err)
	}
	p.held = append(p.held, ln)
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// release closes the held ports for the nodes to bind.
func (p *portPicker) release() {
	for _, ln := range p.held {
		_ = ln.Close()
	}
	p.held = nil
}

// props returns node i's properties.
func (c *Cluster) props(i int) map[string]string {
	var voters []string
	for j, p := range c.ports {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", j+1, p[1]))
	}
	p := map[string]string{
		"process.roles":                    "broker,controller",
		"node.id":                          strconv.Itoa(i + 1),
		"controller.quorum.voters":         strings.Join(voters, ","),
		"controller.listener.names":        "CONTROLLER",
		"listeners":                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", c.ports[i][0], c.ports[i][1]),
		"listener.security.protocol.map":   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"offsets.topic.replication.factor": strconv.Itoa(min(3, len(c.ports))),
	}
	own := maps.Clone(p)
	for k, v := range c.opts.props {
		p[k] = v
	}
	if c.opts.nodeConfig != nil {
		maps.Copy(p, c.opts.nodeConfig(i))
	}
	for _, k := range []string{"process.roles", "node.id", "controller.quorum.voters", "controller.listener.names", "listeners"} {
		p[k] = own[k]
	}
	return p
}

func (c *Cluster) newNode(i int) (*Node, error) {
	opts := []Option{WithDataDir(c.dirs[i])}
	logger := c.opts.logger
	if logger != nil {
		opts = append(opts, WithLogger(logger.With("node_id", i+1)))
	}
	for k, v := range c.props(i) {
		opts = append(opts, WithConfig(k, v))
	}
	return NewNode(opts...)
}

// Start starts every node (they form the quorum together) and returns
// once each is serving.
//
// A brand-new cluster on free ports whose port was taken meanwhile by
// another process (free ports are picked before the nodes bind them) is
// started again on new ports, up to three times.
func (c *Cluster) Start(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		var wg sync.WaitGroup
		errs := make([]error, len(c.nodes))
		for i := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Restart(ctx, i)
			}()
		}
		wg.Wait()
		err := errors.Join(errs...)
		if err == nil {
			return nil
		}
		if attempt < 3 && c.tempDir != "" && c.opts.basePort == 0 && strings.Contains(err.Error(), "address already in use") {
			if rerr := c.fresh(); rerr == nil {
				continue
			}
		}
		_ = c.Close()
		return err
	}
}

// fresh stops every node, empties the nodes' temporary folders and picks
// new free ports: a first start that lost a port race begins again.
func (c *Cluster) fresh() error {
	for i := range c.nodes {
		_ = c.stop(i, true)
	}
	var ports portPicker
	defer ports.release()
	for i, dir := range c.dirs {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		cp, err := ports.pick()
		if err != nil {
			return err
		}
		qp, err := ports.pick()
		if err != nil {
			return err
		}
		c.ports[i] = [2]int{cp, qp}
	}
	return nil
}

// Restart starts node i (stopped or killed before) on its data folder.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	c.mu.Lock()
	if c.nodes[i] != nil {
		c.mu.Unlock()
		return fmt.Errorf("fjord: node %d is running", i+1)
	}
	c.mu.Unlock()
	n, err := c.newNode(i)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		_ = n.Close()
		return fmt.Errorf("fjord: node %d: %w", i+1, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return nil
}

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Addrs returns the bootstrap addresses of every node (running or not:
// clients skip the ones that do not answer).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.ports))
	for i, p := range c.ports {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p[0]))
	}
	return out
}

// ControllerAddrs returns the address of every node's controller listener
// (the metadata quorum's, controller.quorum.voters), by node index.
func (c *Cluster) ControllerAddrs() []string {
	out := make([]string, len(c.ports))
	for i, p := range c.ports {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p[1]))
	}
	return out
}

// DataDirs returns every node's data folder (log.dirs), by node index.
func (c *Cluster) DataDirs() []string { return slices.Clone(c.dirs) }

// Stop stops node i cleanly: its leaderships move first (controlled
// shutdown), then it closes.
func (c *Cluster) Stop(i int) error { return c.stop(i, false) }

// Kill stops node i without a controlled shutdown.
func (c *Cluster) Kill(i int) error { return c.stop(i, true) }

func (c *Cluster) stop(i int, abrupt bool) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	if abrupt {
		return n.inner.Abort()
	}
	return n.Close()
}

// Close stops every node (without controlled shutdowns: the whole cluster
// goes) and removes the temporary folders.
func (c *Cluster) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.stop(i, true)
		}()
	}
	wg.Wait()
	c.removeTemp()
	return errors.Join(errs...)
}

func (c *Cluster) removeTemp() {
	if c.tempDir != "" {
		_ = os.RemoveAll(c.tempDir)
	}
}
