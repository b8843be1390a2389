// Package cluster runs a distributed Connect worker, what
// connect-distributed.sh runs: workers sharing group.id split connectors
// and tasks through the broker's group coordinator, keep their state in
// config.storage.topic, offset.storage.topic and status.storage.topic, and
// forward REST writes to the group's leader.
//
// Invariant: Run returns only after the worker left its group, its tasks
// stopped and its REST server closed.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/herder"
	"github.com/fjordstream/fjord/internal/connect/plugins"
	"github.com/fjordstream/fjord/internal/connect/rest"
	"github.com/fjordstream/fjord/internal/connect/runtime"
	"github.com/fjordstream/fjord/internal/connect/storage"
	"github.com/fjordstream/fjord/internal/connect/workergroup"
	"github.com/fjordstream/fjord/internal/metrics"
)

// Config is a distributed worker's configuration.
type Config struct {
	// Worker is worker.properties.
	Worker map[string]string
	Logger *slog.Logger
	Levels *rest.Levels
	// Ready, when set, hears the REST API's URL once the worker serves.
	Ready func(url string)
}

// Run runs the worker until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	props, err := connect.ParseWorkerConfig(connect.Distributed, cfg.Worker)
	if err != nil {
		return err
	}
	reg, err := plugins.Builtins()
	if err != nil {
		return err
	}
	seeds := props.List(connect.WorkerBootstrapServers)
	clientOpts := []kgo.Opt{kgo.AllowAutoTopicCreation()}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, clientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	md, err := kadm.NewClient(admCl).BrokerMetadata(mctx)
	cancel()
	if err != nil {
		return fmt.Errorf("reaching the Kafka cluster at %v: %w", seeds, err)
	}
	rf := func(key string) int16 { return int16(props.Int(key)) }
	eos, err := connect.ParseExactlyOnceMode(props.String(connect.WorkerExactlyOnceSourceSupport))
	if err != nil {
		return err
	}
	if eos == connect.ExactlyOncePreparing {
		logger.Info("exactly.once.source.support=preparing: tasks run as with disabled, and as leader this worker serves the fencing rounds enabled workers ask for; set enabled on every worker next")
	}
	// Offsets that exactly-once tasks write in their transactions count
	// once committed: the store reads read_committed (KIP-618).
	offsets, err := storage.NewTopicOffsetStore(storage.TopicSpec{Name: props.String(connect.WorkerOffsetTopic),
		Partitions: int32(props.Int(connect.WorkerOffsetTopicPartitions)), ReplicationFactor: rf(connect.WorkerOffsetTopicRF),
		ReadCommitted: eos == connect.ExactlyOnceEnabled}, seeds, clientOpts, logger)
	if err != nil {
		return err
	}
	levels := cfg.Levels
	if levels == nil {
		levels = rest.NewLevels(slog.LevelInfo)
	}
	handler := &rest.StartingHandler{}
	srv, err := rest.NewServer(handler, strings.Join(props.List(connect.WorkerListeners), ","), 0)
	if err != nil {
		return err
	}
	workerID := rest.AdvertisedID(props, srv)
	url := "http://" + workerID
	policy, err := connect.ParseClientOverridePolicy(props.String(connect.WorkerClientOverridePolicy))
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	producerOpts, consumerOpts, err := runtime.WorkerClientOverrides(cfg.Worker, logger)
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	adminProps, err := runtime.WorkerAdminProps(cfg.Worker, logger)
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	promReg := metrics.NewRegistry()
	// The herder, made after the worker, answers the worker's
	// post-producer check; no task starts before it exists.
	var h *herder.Distributed
	taskIsCurrent := func(ctx context.Context, id connect.TaskID, cfg map[string]string) error {
		return h.TaskIsCurrent(ctx, id, cfg)
	}
	worker, err := runtime.NewWorker(runtime.WorkerConfig{WorkerID: workerID, BootstrapServers: seeds, ClientOptions: clientOpts,
		ProducerOptions: producerOpts, ConsumerOptions: consumerOpts, AdminProps: adminProps, Metrics: runtime.NewMetrics(promReg),
		ConverterProps: connect.ConverterProps(cfg.Worker), OffsetFlushInterval: time.Duration(props.Int(connect.WorkerOffsetFlushInterval)) * time.Millisecond,
		OffsetFlushTimeout: time.Duration(props.Int(connect.WorkerOffsetFlushTimeout)) * time.Millisecond,
		ShutdownTimeout:    time.Duration(props.Int(connect.WorkerTaskShutdownTimeout)) * time.Millisecond,
		Logger:             logger, Registry: reg, Offsets: offsets, TopicCreationDisabled: !props.Bool(connect.WorkerTopicCreation),
		OverridePolicy: policy, ExactlyOnce: eos == connect.ExactlyOnceEnabled, GroupID: props.String(connect.WorkerGroupID),
		TaskIsCurrent: taskIsCurrent})
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	h, err = herder.NewDistributed(herder.DistributedConfig{WorkerID: workerID, URL: url, Seeds: seeds, ClientOptions: clientOpts,
		OverridePolicy: policy, TopicTrackingDisabled: !props.Bool(connect.WorkerTopicTracking),
		TopicCreationDisabled: !props.Bool(connect.WorkerTopicCreation), Registry: reg, Worker: worker, Offsets: offsets,
		Configs: storage.TopicSpec{Name: props.String(connect.WorkerConfigTopic), Partitions: 1, ReplicationFactor: rf(connect.WorkerConfigTopicRF)},
		Status: storage.TopicSpec{Name: props.String(connect.WorkerStatusTopic), Partitions: int32(props.Int(connect.WorkerStatusTopicPartitions)),
			ReplicationFactor: rf(connect.WorkerStatusTopicRF)},
		Group: workergroup.Config{GroupID: props.String(connect.WorkerGroupID),
			SessionTimeout:    time.Duration(props.Int(connect.WorkerSessionTimeout)) * time.Millisecond,
			RebalanceTimeout:  time.Duration(props.Int(connect.WorkerRebalanceTimeout)) * time.Millisecond,
			HeartbeatInterval: time.Duration(props.Int(connect.WorkerHeartbeatInterval)) * time.Millisecond,
			Protocol:          props.String(connect.WorkerConnectProtocol), Logger: logger},
		MaxDelay:  time.Duration(props.Int(connect.WorkerScheduledRebalanceDelay)) * time.Millisecond,
		ClusterID: md.Cluster, Logger: logger, ExactlyOnce: eos})
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
		h.Close()
	}()
	if err := h.Start(ctx); err != nil {
		return err
	}
	promReg.MustRegister(runtime.StatesCollector{Herder: h})
	handler.Set(rest.NewHandler(h, rest.Options{Loggers: levels, Logger: logger, Metrics: metrics.Handler(promReg, logger),
		TopicTrackingDisabled: !props.Bool(connect.WorkerTopicTracking), TopicResetDisabled: !props.Bool(connect.WorkerTopicTrackingReset)}))
	logger.Info("Fjord Connect distributed worker started", "rest", url, "worker_id", workerID, "group", props.String(connect.WorkerGroupID),
		"kafka_cluster_id", md.Cluster, "exactly_once_source_support", string(eos))
	if cfg.Ready != nil {
		cfg.Ready(url)
	}
	<-ctx.Done()
	logger.Info("stopping the worker")
	return nil
}
