package server

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/loglimit"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
	"github.com/fjordstream/fjord/internal/quota"
	"github.com/fjordstream/fjord/internal/txn"
)

// Config is what the request handlers need to know about their node.
type Config struct {
	NodeID int32
	// AdvertisedHost and AdvertisedPort are this node's address on its
	// first broker listener, answered when a request's listener is not in
	// Advertised.
	AdvertisedHost string
	AdvertisedPort int32
	// Advertised is this node's advertised address on each broker
	// listener, by listener name: a client is answered with the
	// addresses of the listener it connected to, as Kafka does.
	Advertised            map[string]metadata.Endpoint
	SocketRequestMaxBytes int32
	ConnectionsMaxIdle    time.Duration
	// Requests is the node's budget for requests read and not yet
	// processed (queued.max.request.bytes, the part not set aside for
	// decompression, and queued.max.requests), shared by its listeners
	// (a server may be given its own: Server.UseRequestBudget); nil is
	// unbounded.
	Requests *RequestBudget
	// Broker is the node's parsed configuration: topic defaults, limits,
	// and the source of DescribeConfigs answers.
	Broker *config.Broker
	// BrokerProps are the properties the node was started with, to tell
	// static settings from defaults in DescribeConfigs.
	BrokerProps map[string]string
	// BrokerEpoch returns this broker's current registration epoch.
	BrokerEpoch func() int64
	// LeaderQuota is the node's leader.replication.throttled.rate quota,
	// shared with nobody else; nil throttles nothing.
	LeaderQuota *quota.Replication
	// Metrics records the broker's request, network and topic metrics;
	// nil records none.
	Metrics *Metrics
	// RequestLog, when set and true, logs a line per request answered
	// (API, version, client, duration, bytes): off by default, as a line
	// per request on the hot path costs.
	RequestLog *atomic.Bool
}

// MetadataView is how handlers read the cluster's metadata: the node's
// current image, replayed from the metadata log.
type MetadataView interface {
	Image() *metadata.Image
}

// Broker answers requests using the node's metadata and hosted partitions.
// It reads metadata through meta and changes it only through the
// controller. It is safe for concurrent use by every connection.
type Broker struct {
	cfg    Config
	meta   MetadataView
	ctrl   ControllerChannel
	parts  *partition.Manager
	groups *group.Service // the group coordinator; not owned (closed by the node)
	logger *slog.Logger
	now    func() time.Time
	pids   *producerIDs
	// logs limits the per-partition produce warnings clients can repeat
	// at will.
	logs *loglimit.Limiter

	coordMu     sync.Mutex      // guards groupsCtx, coordEpochs and txnEpochs; serialises loads and unloads
	groupsCtx   context.Context // set by StartGroups: the coordinators' lifetime
	coordEpochs map[int32]int32 // loaded __consumer_offsets partitions -> leader epoch loaded in
	txnEpochs   map[int32]int32 // loaded __transaction_state partitions -> leader epoch loaded in

	// txns is the transaction coordinator (owned: CloseTransactions);
	// conns its connections to the other brokers.
	txns  *txn.Service
	conns *brokerConns
}

// NewBroker returns request handlers over meta, the controller ctrl, parts
// and the group coordinator groups (required). The Broker does not own
// groups: the caller closes it after the server and before the partitions.
func NewBroker(cfg Config, meta MetadataView, ctrl ControllerChannel, parts *partition.Manager, groups *group.Service, logger *slog.Logger) *Broker {
	epoch := cfg.BrokerEpoch
	if epoch == nil {
		epoch = func() int64 { return -1 }
	}
	b := &Broker{cfg: cfg, meta: meta, ctrl: ctrl, parts: parts, groups: groups, logger: logger, now: time.Now,
		pids: &producerIDs{ctrl: ctrl, brokerID: cfg.NodeID, epoch: epoch}, coordEpochs: map[int32]int32{}, txnEpochs: map[int32]int32{},
		logs: loglimit.New()}
	b.conns = newBrokerConns(b)
	b.txns = newTxnService(b, cfg.Broker)
	return b
}

// Handle serves one request from the client at remote, which connected to
// the listener named listener. It returns nil when no response is due
// (acks=0 produce). ctx is the connection reader's: it ends when the client
// closes the connection or the server closes.
func (b *Broker) Handle(ctx context.Context, req protocol.Request, remote net.Addr, listener string) *inflight {
	var resp kmsg.Response
	switch r := req.Body.(type) {
	case *kmsg.ProduceRequest:
		return b.handleProduce(ctx, r)
	case *kmsg.FetchRequest:
		return b.handleFetch(ctx, r, listener)
	case *kmsg.ListOffsetsRequest:
		resp = b.handleListOffsets(r)
	case *kmsg.MetadataRequest:
		resp = b.handleMetadata(r, listener)
	case *kmsg.ApiVersionsRequest:
		resp = b.handleApiVersions(r)
	case *kmsg.CreateTopicsRequest:
		resp = b.handleCreateTopics(r)
	case *kmsg.DeleteTopicsRequest:
		resp = b.handleDeleteTopics(r)
	case *kmsg.DeleteRecordsRequest:
		resp = b.handleDeleteRecords(r)
	case *kmsg.InitProducerIDRequest:
		return b.handleInitProducerID(ctx, r)
	case *kmsg.AddPartitionsToTxnRequest:
		return b.handleAddPartitionsToTxn(ctx, r)
	case *kmsg.EndTxnRequest:
		return b.handleEndTxn(ctx, r)
	case *kmsg.AddOffsetsToTxnRequest:
		return b.handleAddOffsetsToTxn(ctx, r)
	case *kmsg.TxnOffsetCommitRequest:
		return b.handleTxnOffsetCommit(ctx, r)
	case *kmsg.DescribeTransactionsRequest:
		return b.handleDescribeTransactions(ctx, r)
	case *kmsg.ListTransactionsRequest:
		return b.handleListTransactions(ctx, r)
	case *kmsg.OffsetForLeaderEpochRequest:
		resp = b.handleOffsetForLeaderEpoch(r)
	case *kmsg.DescribeConfigsRequest:
		resp = b.handleDescribeConfigs(r)
	case *kmsg.AlterConfigsRequest:
		resp = b.handleAlterConfigs(r)
	case *kmsg.IncrementalAlterConfigsRequest:
		resp = b.handleIncrementalAlterConfigs(r)
	case *kmsg.DescribeLogDirsRequest:
		resp = b.handleDescribeLogDirs(r)
	case *kmsg.CreatePartitionsRequest:
		resp = b.handleCreatePartitions(r)
	case *kmsg.DescribeClusterRequest:
		resp = b.handleDescribeCluster(r, listener)
	case *kmsg.ElectLeadersRequest:
		resp = b.handleElectLeaders(r)
	case *kmsg.AlterPartitionAssignmentsRequest:
		resp = b.handleAlterPartitionReassignments(r)
	case *kmsg.ListPartitionReassignmentsRequest:
		resp = b.handleListPartitionReassignments(r)
	case *kmsg.DescribeQuorumRequest:
		resp = b.handleDescribeQuorum(r)
	case *kmsg.AddRaftVoterRequest:
		resp = b.handleAddRaftVoter(r)
	case *kmsg.RemoveRaftVoterRequest:
		resp = b.handleRemoveRaftVoter(r)
	case *kmsg.DescribeTopicPartitionsRequest:
		resp = b.handleDescribeTopicPartitions(r)
	case *kmsg.DescribeProducersRequest:
		resp = b.handleDescribeProducers(r)
	case *kmsg.WriteTxnMarkersRequest:
		return b.handleWriteTxnMarkers(ctx, r)
	case *kmsg.FindCoordinatorRequest:
		resp = b.handleFindCoordinator(r, listener)
	case *kmsg.OffsetCommitRequest:
		return b.handleOffsetCommit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		return b.handleOffsetFetch(ctx, r)
	case *kmsg.JoinGroupRequest:
		return b.handleJoinGroup(ctx, r, group.Client{ID: req.ClientID, Host: clientHost(remote)})
	case *kmsg.HeartbeatRequest:
		return b.handleHeartbeat(ctx, r)
	case *kmsg.LeaveGroupRequest:
		return b.handleLeaveGroup(ctx, r)
	case *kmsg.SyncGroupRequest:
		return b.handleSyncGroup(ctx, r)
	case *kmsg.DescribeGroupsRequest:
		return b.handleDescribeGroups(ctx, r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return b.handleConsumerGroupHeartbeat(ctx, r, group.Client{ID: req.ClientID, Host: clientHost(remote)})
	case *kmsg.ConsumerGroupDescribeRequest:
		return b.handleConsumerGroupDescribe(ctx, r)
	case *kmsg.ListGroupsRequest:
		return b.handleListGroups(ctx, r)
	case *kmsg.DeleteGroupsRequest:
		return b.handleDeleteGroups(ctx, r)
	case *kmsg.OffsetDeleteRequest:
		return b.handleOffsetDelete(ctx, r)
	default:
		// protocol.ParseRequest only decodes keys in the implemented table,
		// and every key there has a case above; reaching this is a bug.
		panic("server: no handler for " + kmsg.NameForKey(req.Key))
	}
	return &inflight{resp: resp}
}

// partitionFor resolves a topic partition hosted here.
func (b *Broker) partitionFor(topic string, p int32) *partition.Partition {
	return b.parts.Get(partition.ID{Topic: topic, Partition: p})
}

// topicName resolves a request's topic reference: by ID when the version
// carries IDs (id non-zero), else by name. ok is false for an unknown topic.
func (b *Broker) topicName(name string, id [16]byte) (string, bool) {
	img := b.meta.Image()
	if id != ([16]byte{}) {
		t := img.TopicByID(id)
		if t == nil {
			return "", false
		}
		return t.Name, true
	}
	return name, img.Topic(name) != nil
}

// groupCall answers a group request from the connection's writer: call
// runs there (after the responses queued before it, as Kafka answers a
// connection's requests in order) and may block until the group's records
// are durable or a rebalance completes; the connection's context, which
// ends when the client or the server closes, unblocks it. Meanwhile the
// reader goes on decoding the connection's next requests.
func (b *Broker) groupCall(ctx context.Context, call func(ctx context.Context) kmsg.Response) *inflight {
	fl := &inflight{}
	fl.finish = func(wctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(wctx, cancel) // the writer stopped: give up too
		defer stop()
		fl.resp = call(ctx)
	}
	return fl
}
