package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
)

// Config is what the request handlers need to know about their node.
type Config struct {
	NodeID                int32
	AdvertisedHost        string
	AdvertisedPort        int32
	SocketRequestMaxBytes int32
	ConnectionsMaxIdle    time.Duration
	// Broker is the node's parsed configuration: topic defaults, limits,
	// and the source of DescribeConfigs answers.
	Broker *config.Broker
	// BrokerProps are the properties the node was started with, to tell
	// static settings from defaults in DescribeConfigs.
	BrokerProps map[string]string
}

// Broker answers requests using the node's metadata and hosted partitions.
// It is safe for concurrent use by every connection.
type Broker struct {
	cfg    Config
	meta   *metadata.Store
	parts  *partition.Manager
	logger *slog.Logger
	now    func() time.Time

	topicMu sync.Mutex // serialises topic creation, deletion and partition changes
}

// NewBroker returns request handlers over meta and parts.
func NewBroker(cfg Config, meta *metadata.Store, parts *partition.Manager, logger *slog.Logger) *Broker {
	return &Broker{cfg: cfg, meta: meta, parts: parts, logger: logger, now: time.Now}
}

// Handle serves one request. It returns nil when no response is due
// (acks=0 produce).
func (b *Broker) Handle(ctx context.Context, req protocol.Request) *inflight {
	var resp kmsg.Response
	switch r := req.Body.(type) {
	case *kmsg.ProduceRequest:
		return b.handleProduce(ctx, r)
	case *kmsg.FetchRequest:
		return &inflight{fetch: b.handleFetch(ctx, r)}
	case *kmsg.ListOffsetsRequest:
		resp = b.handleListOffsets(r)
	case *kmsg.MetadataRequest:
		resp = b.handleMetadata(r)
	case *kmsg.ApiVersionsRequest:
		resp = b.handleApiVersions(r)
	case *kmsg.CreateTopicsRequest:
		resp = b.handleCreateTopics(r)
	case *kmsg.DeleteTopicsRequest:
		resp = b.handleDeleteTopics(r)
	case *kmsg.DeleteRecordsRequest:
		resp = b.handleDeleteRecords(r)
	case *kmsg.InitProducerIDRequest:
		resp = b.handleInitProducerID(r)
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
		resp = b.handleDescribeCluster(r)
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
