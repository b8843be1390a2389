// Package standalone runs a standalone Connect worker, what
// connect-standalone.sh runs: one process, connector configurations from
// properties files (and the REST API), source offsets in
// offset.storage.file.filename, no failover.
//
// Invariant: Run returns only after every task was stopped and its
// offsets flushed, and the REST server closed.
package standalone

import (
	"context"
	"errors"
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
	"github.com/fjordstream/fjord/internal/metrics"
)

// Config is a standalone worker's configuration.
type Config struct {
	// Worker is worker.properties.
	Worker map[string]string
	// Connectors are the connector configurations given on the command
	// line (each holds name and connector.class).
	Connectors []map[string]string
	Logger     *slog.Logger
	Levels     *rest.Levels
	// Ready, when set, hears the REST API's URL once the worker serves.
	Ready func(url string)
}

// Run runs the worker until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	props, err := connect.ParseWorkerConfig(connect.Standalone, cfg.Worker)
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
	adm := kadm.NewClient(admCl)
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	md, err := adm.BrokerMetadata(mctx)
	cancel()
	if err != nil {
		return fmt.Errorf("reaching the Kafka cluster at %v: %w", seeds, err)
	}
	offsets, err := runtime.OpenFileOffsetStore(props.String(connect.WorkerOffsetFile))
	if err != nil {
		return fmt.Errorf("offset.storage.file.filename: %w", err)
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
	worker, err := runtime.NewWorker(runtime.WorkerConfig{WorkerID: workerID, BootstrapServers: seeds, ClientOptions: clientOpts,
		ProducerOptions: producerOpts, ConsumerOptions: consumerOpts, AdminProps: adminProps, Metrics: runtime.NewMetrics(promReg),
		ConverterProps: connect.ConverterProps(cfg.Worker), OffsetFlushInterval: time.Duration(props.Int(connect.WorkerOffsetFlushInterval)) * time.Millisecond,
		OffsetFlushTimeout: time.Duration(props.Int(connect.WorkerOffsetFlushTimeout)) * time.Millisecond,
		ShutdownTimeout:    time.Duration(props.Int(connect.WorkerTaskShutdownTimeout)) * time.Millisecond,
		Logger:             logger, Registry: reg, Offsets: offsets, TopicCreationDisabled: !props.Bool(connect.WorkerTopicCreation),
		OverridePolicy: policy})
	if err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	h := herder.NewStandalone(herder.StandaloneConfig{WorkerID: workerID, Worker: worker, Registry: reg, Offsets: offsets, Admin: adm,
		ClusterID: md.Cluster, Logger: logger, OverridePolicy: policy, TopicTrackingDisabled: !props.Bool(connect.WorkerTopicTracking),
		TopicCreationDisabled: !props.Bool(connect.WorkerTopicCreation)})
	promReg.MustRegister(runtime.StatesCollector{Herder: h})
	handler.Set(rest.NewHandler(h, rest.Options{Loggers: levels, Logger: logger, Metrics: metrics.Handler(promReg, logger),
		TopicTrackingDisabled: !props.Bool(connect.WorkerTopicTracking), TopicResetDisabled: !props.Bool(connect.WorkerTopicTrackingReset)}))
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
		h.Close()
		_ = worker.StopAll()
	}()
	for _, c := range cfg.Connectors {
		name := c[connect.KeyName]
		if name == "" {
			return errors.New("a connector configuration has no name")
		}
		if _, _, err := h.PutConnectorConfig(ctx, name, c, true); err != nil {
			return fmt.Errorf("connector %s: %w", name, err)
		}
		logger.Info("created connector", "connector", name)
	}
	logger.Info("Fjord Connect standalone worker started", "rest", srv.URL(), "worker_id", workerID, "kafka_cluster_id", md.Cluster)
	if cfg.Ready != nil {
		cfg.Ready(srv.URL())
	}
	<-ctx.Done()
	logger.Info("stopping the worker")
	return nil
}
