package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/metrics"
	"github.com/fjordstream/fjord/internal/netserve"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/replication"
	"github.com/fjordstream/fjord/internal/server"
)

// standalone reports a node with no quorum settings: both roles, a quorum
// of itself.
func (n *Node) standalone() bool { return len(n.cfg.Broker.ControllerQuorumVoters) == 0 }

// clientListener is the node's bootstrap listener: the first broker
// listener.
func (n *Node) clientListener() (config.Listener, bool) {
	ls := n.brokerListeners()
	if len(ls) == 0 {
		return config.Listener{}, false
	}
	return ls[0], true
}

// advertisedListeners are the broker listeners this node registers, each
// with the address it is advertised at before a bound port is known:
// advertised.listeners' entry of the same name, else the listener itself.
// When advertised.listeners is set, a listener it leaves out is served
// but not registered (clients and brokers learn only the advertised
// ones), as in Kafka.
func (n *Node) advertisedListeners() []config.Listener {
	b := n.cfg.Broker
	var out []config.Listener
	for _, l := range n.brokerListeners() {
		i := slices.IndexFunc(b.AdvertisedListeners, func(a config.Listener) bool { return a.Name == l.Name })
		switch {
		case i >= 0:
			out = append(out, b.AdvertisedListeners[i])
		case !n.advertisedSet():
			out = append(out, l)
		}
	}
	return out
}

// advertisedSet reports whether advertised.listeners was configured.
func (n *Node) advertisedSet() bool {
	v, _ := n.cfg.Broker.Value("advertised.listeners")
	return strings.TrimSpace(v) != ""
}

// brokerListeners are the listeners that are not controller listeners:
// each serves the Kafka API (clients, and other brokers on
// inter.broker.listener.name).
func (n *Node) brokerListeners() []config.Listener {
	b := n.cfg.Broker
	var out []config.Listener
	for _, l := range b.Listeners {
		if !slices.Contains(b.ControllerListenerNames, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// connectionQuotas are the node-wide limits of its broker listeners. An
// unset max.connections takes netserve.DefaultMaxConnections, derived from
// the descriptor limit, rather than Kafka's unbounded default.
func (n *Node) connectionQuotas() netserve.QuotaConfig {
	b := n.cfg.Broker
	qc := netserve.QuotaConfig{
		MaxConnections:      b.MaxConnections,
		MaxConnectionsPerIP: b.MaxConnectionsPerIP,
		MaxCreationRate:     b.MaxConnectionCreationRate,
	}
	if _, set := b.Static()["max.connections"]; !set {
		qc.MaxConnections = netserve.DefaultMaxConnections()
	}
	n.logger.Info("connection limits", "max.connections", qc.MaxConnections,
		"max.connections.per.ip", qc.MaxConnectionsPerIP, "max.connection.creation.rate", qc.MaxCreationRate)
	return qc
}

// controllerListener is the listener of the quorum protocol.
func (n *Node) controllerListener() (config.Listener, bool) {
	b := n.cfg.Broker
	for _, name := range b.ControllerListenerNames {
		for _, l := range b.Listeners {
			if l.Name == name {
				return l, true
			}
		}
	}
	return config.Listener{}, false
}

// sourceHost is the local IP this node dials other nodes from (quorum
// connections and follower fetches): the host of its client listener when
// that is a loopback address other than 127.0.0.1, else "" (the kernel
// chooses, as before). Loopback only, so a production node's routing is
// never touched; it lets several nodes on one machine each use their own
// 127.x address, so a test's fault proxy sees which node a connection comes
// from and can cut one node off in both directions (e2e/chaos).
func (n *Node) sourceHost() string {
	l, ok := n.clientListener()
	if !ok {
		return ""
	}
	ip := net.ParseIP(l.Host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil || ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return ""
	}
	return ip.String()
}

// checkRoles refuses role and quorum settings that cannot work together,
// naming the key.
func (n *Node) checkRoles() error {
	b := n.cfg.Broker
	switch {
	case n.standalone() && len(b.ControllerQuorumBootstrapServers) > 0:
		// Without voters the node would run as its own quorum, silently
		// ignoring the quorum it was pointed at.
		return errors.New("controller.quorum.bootstrap.servers: dynamic quorums (KIP-853) are not supported yet; list the voters in controller.quorum.voters")
	case n.standalone() && (!b.HasRole("broker") || !b.HasRole("controller")):
		return errors.New("controller.quorum.voters is empty: a node without voters is standalone and needs process.roles=broker,controller")
	case !b.HasRole("broker") && !b.HasRole("controller"):
		return errors.New("process.roles names neither broker nor controller")
	}
	if !n.standalone() && b.HasRole("controller") {
		if _, ok := n.controllerListener(); !ok {
			return errors.New("controller.listener.names: a controller node needs a controller listener in listeners")
		}
	}
	if b.HasRole("broker") {
		if _, ok := n.clientListener(); !ok {
			return errors.New("listeners: a broker needs a listener that is not a controller listener")
		}
	}
	// Settings Fjord cannot honour yet are refused, never ignored.
	if len(b.LogDirs) > 1 {
		return fmt.Errorf("log.dirs: %d folders given; Fjord serves one log directory per node for now", len(b.LogDirs))
	}
	for _, l := range b.Listeners {
		if l.SecurityProtocol != "PLAINTEXT" {
			return fmt.Errorf("listener.security.protocol.map: listener %s uses %s; Fjord serves PLAINTEXT listeners only for now", l.Name, l.SecurityProtocol)
		}
	}
	if !n.standalone() && b.HasRole("broker") {
		// Other brokers and clients on other machines dial what is
		// advertised: a wildcard address names no machine (a standalone
		// node advertises localhost for it, for local clients).
		for _, l := range n.advertisedListeners() {
			if l.Host == "0.0.0.0" || l.Host == "::" {
				return fmt.Errorf("advertised.listeners: listener %s would be advertised at the non-routable address %s; set advertised.listeners to an address other brokers and clients can reach", l.Name, l.Host)
			}
		}
	}
	return nil
}

// Start opens the data folder (recovering every partition and the
// metadata), joins or forms the metadata quorum, registers with the active
// controller, binds the listeners and starts serving.
func (n *Node) Start(ctx context.Context) (err error) {
	b := n.cfg.Broker
	if err := n.checkRoles(); err != nil {
		return err
	}
	if err := metadata.MkdirAll(n.cfg.FS, n.dataDir); err != nil {
		return fmt.Errorf("data folder %s: %w", n.dataDir, err)
	}
	n.registry, n.nodeRegistry = metrics.NewRegistry(), metrics.NewRegistry()
	if err := n.startHTTP(); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	var bound []net.Listener // the broker listeners, in brokerListeners' order
	defer func() {
		if err != nil {
			cancel()
			n.wg.Wait()
			if len(n.srvs) == 0 {
				for i, ln := range bound {
					if i > 0 || n.cfg.Listener == nil {
						_ = ln.Close()
					}
				}
			}
			n.closeGroups()
			n.closeQuorum()
			n.closeParts()
			n.closeHTTP()
		}
	}()
	clusterID, err := n.resolveClusterID()
	if err != nil {
		return err
	}
	if err := n.checkMetaProperties(clusterID); err != nil {
		return err
	}
	n.loader = metadata.NewLoader(metadata.NewImage(clusterID))
	isBroker := b.HasRole("broker")
	var startErr error
	starting := true
	if isBroker {
		n.budgets = newRequestBudgets(b)
		n.parts = partition.NewManager(partition.ManagerConfig{Dir: n.dataDir, NodeID: b.NodeID, ReplicaLagTimeMax: b.ReplicaLagTimeMax, FS: n.cfg.FS,
			Decompression: n.budgets.decompression, DecompressionBytes: n.budgets.decompression.Capacity(), OnDirFailure: n.dirFailed,
			OnFsync: n.fsyncObserver(), IO: &n.logIO}, n.logger)
		n.parts.SetProducerIDExpiration(b.ProducerIDExpiration)
		n.throttles = newThrottles(b)
		n.loader.Subscribe(metadata.PublisherFunc(n.throttles.publish))
		// Hosted replicas follow committed metadata: the replay of the
		// metadata log at start-up opens them through the same publisher
		// that later creates, changes and deletes them.
		n.loader.Subscribe(metadata.PublisherFunc(func(d *metadata.Delta, _ *metadata.Image) {
			if err := n.parts.ApplyDelta(d, b.TopicConfig, time.Now()); err != nil {
				n.logger.Error("applying metadata to the hosted partitions failed", "err", err)
				if starting && startErr == nil {
					startErr = err
				}
			}
		}))
	}
	started := time.Now()
	if err := n.startMetadata(ctx, loopCtx); err != nil {
		return err
	}
	starting = false
	if startErr != nil {
		return startErr
	}
	if !isBroker {
		n.registerCollector()
		n.ready.Store(true)
		return nil
	}
	n.logger.Info("loaded partitions", "partitions", len(n.parts.All()), "took", time.Since(started).Round(time.Millisecond))

	// Every broker listener is bound before registering: the endpoints
	// the controller publishes are reachable once this broker is unfenced.
	var endpoints []metadata.Endpoint
	advertised := map[string]metadata.Endpoint{}
	for i, l := range n.brokerListeners() {
		ln := n.cfg.Listener
		if i > 0 || ln == nil {
			if ln, err = server.Listen(l.Address()); err != nil {
				return fmt.Errorf("listeners: %s: %w", l.Name, err)
			}
		}
		bound = append(bound, ln)
		if n.advertisedSet() && !slices.ContainsFunc(b.AdvertisedListeners, func(a config.Listener) bool { return a.Name == l.Name }) {
			continue // served, not advertised
		}
		adv := n.advertisedFor(l, ln.Addr())
		e := metadata.Endpoint{Name: l.Name, Host: adv.host, Port: uint16(adv.port), SecurityProtocol: securityProtocolID(l.SecurityProtocol)}
		endpoints = append(endpoints, e)
		advertised[l.Name] = e
	}
	if len(endpoints) == 0 {
		return errors.New("advertised.listeners: names none of this broker's listeners")
	}
	n.lifecycle = controller.NewLifecycle(controller.LifecycleConfig{
		NodeID: b.NodeID, ClusterID: clusterID, Interval: b.BrokerHeartbeatInterval, Rack: rackOf(b),
		Endpoints: endpoints, Disk: n.diskUsage(),
	}, n.channel, n.loader, n.logger)
	if err := n.lifecycle.Register(ctx); err != nil {
		return err
	}
	n.lifecycle.Start()
	if err := n.lifecycle.WaitUnfenced(ctx); err != nil {
		return err
	}
	// Unfenced means caught up with the metadata as the controller had it
	// when this broker registered: only now is a folder whose topic the
	// image lacks known to be deleted (a voter's own log may end before
	// the quorum's commit).
	if err := n.parts.RemoveOrphans(n.loader.Image()); err != nil {
		n.logger.Warn("could not remove every orphaned partition folder", "err", err)
	}
	n.repl = replication.New(replication.Config{
		NodeID: b.NodeID, FetchMaxBytes: b.ReplicaFetchMaxBytes, ResponseMaxBytes: b.ReplicaFetchResponseMaxBytes,
		WaitMax: b.ReplicaFetchWaitMax, MinBytes: b.ReplicaFetchMinBytes, Backoff: b.ReplicaFetchBackoff, BrokerEpoch: n.lifecycle.Epoch,
		SourceHost: n.sourceHost(), Listener: b.InterBrokerListenerName, Fetchers: b.NumReplicaFetchers,
		Quota: n.throttles.follower,
	}, n.parts, n.loader, n.channel, n.logger)
	n.repl.Start()
	n.loader.SubscribeReplaying(metadata.PublisherFunc(n.repl.Publish)) // what the replay made followers, then every change
	n.groups = group.NewService(groupConfig(b, topicsView{n.loader}, &n.rebalances), n.logger)
	var brokerMetrics *server.Metrics
	if len(b.HTTPListeners) > 0 { // nobody could read them otherwise: record nothing
		brokerMetrics = server.NewMetrics(n.registry, n.nodeRegistry)
	}
	broker := server.NewBroker(server.Config{
		NodeID:                b.NodeID,
		AdvertisedHost:        endpoints[0].Host,
		AdvertisedPort:        int32(endpoints[0].Port),
		Advertised:            advertised,
		SocketRequestMaxBytes: b.SocketRequestMaxBytes,
		ConnectionsMaxIdle:    b.ConnectionsMaxIdle,
		Requests:              server.NewRequestBudget(n.budgets.frames, n.budgets.slots),
		Broker:                b,
		BrokerProps:           n.cfg.Props,
		BrokerEpoch:           n.lifecycle.Epoch,
		LeaderQuota:           n.throttles.leader,
		Metrics:               brokerMetrics,
		RequestLog:            &n.requestLog,
	}, n.loader, n.channel, n.parts, n.groups, n.logger)
	n.broker = broker
	n.loader.Subscribe(metadata.PublisherFunc(broker.PublishMetadata))
	if err := broker.StartGroups(loopCtx); err != nil {
		return fmt.Errorf("group coordinator: %w", err)
	}
	quotas := netserve.NewQuotas(n.connectionQuotas(), n.logger)
	listeners := n.brokerListeners()
	for i, l := range listeners {
		s := server.New(l.Name, bound[i], broker, n.logger, netserve.Options{
			Name:   l.Name,
			Quotas: quotas,
			// Kafka's protected listener: clients cannot starve
			// replication, unless they share its listener.
			Protected:     l.Name == b.InterBrokerListenerName && len(listeners) > 1,
			SendBuffer:    b.SocketSendBufferBytes,
			ReceiveBuffer: b.SocketReceiveBufferBytes,
		})
		if l.Name == b.InterBrokerListenerName && len(listeners) > 1 {
			// Replication has its own request budget: clients spending
			// theirs cannot stop followers' fetches from being read.
			s.UseRequestBudget(server.NewRequestBudget(n.budgets.interBroker()))
		}
		n.srvs = append(n.srvs, s)
		s.Start()
	}
	n.startLoops(loopCtx)
	n.registerCollector()
	n.startConsole()
	n.ready.Store(true)
	return nil
}

// startMetadata brings up the node's metadata: a lone voter (standalone),
// a voter with its controller listener and peers (controller role), or an
// observer of the quorum (broker only); and the channel to the active
// controller.
func (n *Node) startMetadata(ctx, loopCtx context.Context) error {
	b := n.cfg.Broker
	var err error
	if n.standalone() {
		if n.quorum, err = controller.OpenStandalone(ctx, n.cfg.FS, n.dataDir, b.NodeID, n.loader, n.logger); err != nil {
			return err
		}
		n.ctrl = controller.New(controller.Config{Broker: b}, n.quorum, n.loader, n.logger)
		n.channel = controller.NewChannel(n.ctrl, n.quorum, nil, n.loader)
		n.runController(loopCtx)
		return nil
	}
	n.client = controller.NewClient(b.ControllerQuorumVoters, n.sourceHost(), n.logger)
	dir := filepath.Join(n.dataDir, controller.MetadataLogDir)
	if !b.HasRole("controller") {
		if n.observer, err = controller.OpenObserver(b.NodeID, n.cfg.FS, dir, n.client, n.loader, n.logger); err != nil {
			return err
		}
		n.followVoters()
		n.channel = controller.NewChannel(nil, nil, n.client, n.loader)
		return nil
	}
	cl, _ := n.controllerListener()
	ln, err := net.Listen("tcp", cl.Address())
	if err != nil {
		return fmt.Errorf("controller listener %s: %w", cl.Address(), err)
	}
	var ids []int32
	for _, v := range b.ControllerQuorumVoters {
		ids = append(ids, v.ID)
	}
	n.transport = controller.NewPeerTransport(b.NodeID, b.ControllerQuorumVoters, n.sourceHost(), n.logger)
	n.quorum, err = controller.OpenRaft(controller.RaftConfig{NodeID: b.NodeID, Voters: ids, Endpoints: metadataVoters(b.ControllerQuorumVoters),
		Dir: dir, FS: n.cfg.FS, Transport: n.transport, Logger: n.logger}, n.loader)
	if err != nil {
		ln.Close()
		return err
	}
	n.followVoters()
	n.transport.OnReport(n.quorum.Report)
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		controller.ReleaseWhenForming(loopCtx, n.quorum, n.client, b.NodeID, b.ControllerQuorumVoters)
	}()
	go func() {
		defer n.wg.Done()
		n.discoverMembers(loopCtx)
	}()
	n.ctrl = controller.New(controller.Config{Broker: b}, n.quorum, n.loader, n.logger)
	n.ctrlSrv = controller.NewServer(ln, n.quorum, controller.NewService(n.ctrl, n.quorum, n.loader), n.logger)
	n.ctrlSrv.Start()
	n.channel = controller.NewChannel(n.ctrl, n.quorum, n.client, n.loader)
	n.runController(loopCtx)
	return nil
}

// followVoters keeps the quorum transport and the client of the active
// controller pointed at the quorum's members as the metadata log records
// changes of voters (AddRaftVoter, RemoveRaftVoter), starting with the
// replayed image's.
func (n *Node) followVoters() {
	n.loader.SubscribeReplaying(metadata.PublisherFunc(func(d *metadata.Delta, img *metadata.Image) {
		if !d.VotersChanged() {
			return
		}
		vs := img.Voters()
		voters := make([]config.Voter, 0, len(vs))
		for _, v := range vs {
			voters = append(voters, config.Voter{ID: v.ID, Host: v.Host, Port: int(v.Port)})
		}
		n.logger.Info("metadata quorum members", "voters", voters)
		if n.transport != nil {
			n.transport.SetVoters(voters)
		}
		if n.client != nil {
			n.client.SetVoters(voters)
		}
	}))
}

// discoverMembers runs on a controller that is not a member of the quorum
// and whose metadata names no changed voter set (a node joining, whose
// controller.quorum.voters may no longer name the leader): every second it
// asks the configured voters for the quorum's members and points the
// transport and the client at them, so that the leader that adds it is
// answered. It ends once the node is a voter or its own metadata names
// the members (followVoters carries on).
func (n *Node) discoverMembers(ctx context.Context) {
	self := n.cfg.Broker.NodeID
	for ctx.Err() == nil {
		if slices.Contains(n.quorum.Status().Voters, self) || n.loader.Image().Voters() != nil {
			return
		}
		if members, err := n.client.Members(ctx); err == nil && members != nil {
			n.transport.SetVoters(members)
			n.client.SetVoters(members)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// metadataVoters converts controller.quorum.voters to the quorum's
// member records.
func metadataVoters(vs []config.Voter) []metadata.Voter {
	out := make([]metadata.Voter, 0, len(vs))
	for _, v := range vs {
		out = append(out, metadata.Voter{ID: v.ID, Host: v.Host, Port: uint16(v.Port)})
	}
	return out
}

// runController starts the active controller's timers (fencing, preferred
// leaders); they act only while this node's controller is active.
func (n *Node) runController(ctx context.Context) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.ctrl.Run(ctx, func() bool { return n.quorum.Status().Active })
	}()
}

// startLoops starts the maintenance loop, the log cleaner and the watch
// of the data directory.
func (n *Node) startLoops(ctx context.Context) {
	b := n.cfg.Broker
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.maintain(ctx)
	}()
	go func() {
		defer n.wg.Done()
		n.watchDir(ctx)
	}()
	if b.LogCleanerEnable && b.LogCleanerThreads > 0 {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.clean(ctx)
		}()
	}
}

// controlledShutdown moves this broker's leaderships away before it stops
// (controlled.shutdown.enable), so clients see only retriable errors. A
// standalone node has nowhere to move them.
func (n *Node) controlledShutdown() {
	if n.lifecycle == nil || n.standalone() || !n.cfg.Broker.ControlledShutdownEnable || n.abort.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.lifecycle.ControlledShutdown(ctx); err != nil {
		n.logger.Warn("controlled shutdown did not finish; stopping anyway", "err", err)
	}
}

func rackOf(b *config.Broker) *string {
	if b.BrokerRack == "" {
		return nil
	}
	r := b.BrokerRack
	return &r
}

// securityProtocolID is Kafka's numeric ID of a security protocol.
func securityProtocolID(p string) int16 {
	switch p {
	case "SSL":
		return 1
	case "SASL_PLAINTEXT":
		return 2
	case "SASL_SSL":
		return 3
	}
	return 0
}
