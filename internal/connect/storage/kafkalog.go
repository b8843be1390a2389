// Package storage keeps Fjord Connect's state in Kafka topics, as Kafka
// Connect's distributed workers do: connector configurations and target
// states in config.storage.topic, source offsets in offset.storage.topic,
// connector and task statuses in status.storage.topic, each a compacted
// topic read from its start into memory and then tailed. The records'
// keys and JSON values are Kafka Connect's, so the topics read the same.
//
// Invariants: a store's in-memory view only changes from what it reads
// back from its topic, in the topic's order (a write is seen after
// ReadToEnd, by every worker alike); a topic it creates is compacted, and
// one it finds that is not is refused, since deleting old records would
// lose configurations and offsets.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec is how to create a store's topic when it is missing, and how
// to read it.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: the broker's default
	ReplicationFactor int16 // -1: the broker's default
	// ReadCommitted reads the topic with isolation.level=read_committed
	// (the offsets topic of an exactly-once worker, which tasks write
	// in their transactions): aborted records are never applied, and
	// the end is the last stable offset.
	ReadCommitted bool
}

// KafkaLog is a compacted topic read from its start and tailed (Kafka
// Connect's KafkaBasedLog): every record read is handed to the callback,
// in order per partition, from one goroutine.
type KafkaLog struct {
	spec     TopicSpec
	cl       *kgo.Client
	adm      *kadm.Client
	onRecord func(*kgo.Record)
	logger   *slog.Logger

	mu       sync.Mutex
	pos      map[int32]int64 // next offset to read, per partition
	progress chan struct{}   // closed and replaced when pos moves

	cancel context.CancelFunc
	done   chan struct{}
}

// NewKafkaLog returns a log of spec's topic through a client of seeds
// (opts are extra client options: the worker's producer and consumer
// overrides); onRecord sees every record read.
func NewKafkaLog(spec TopicSpec, seeds []string, opts []kgo.Opt, onRecord func(*kgo.Record), logger *slog.Logger) (*KafkaLog, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Control records (transaction markers) are kept so the position
	// passes them: a log that ends with a marker is read to its end.
	all := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords()}, opts...)
	if spec.ReadCommitted {
		all = append(all, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("%s: client: %w", spec.Name, err)
	}
	return &KafkaLog{spec: spec, cl: cl, adm: kadm.NewClient(cl), onRecord: onRecord, logger: logger,
		pos: map[int32]int64{}, progress: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start creates the topic if it is missing (compacted), checks that an
// existing one is compacted, reads it to its end, and keeps tailing it
// until Close.
func (l *KafkaLog) Start(ctx context.Context) error {
	if err := l.ensureTopic(ctx); err != nil {
		return err
	}
	parts, err := l.partitions(ctx)
	if err != nil {
		return err
	}
	assign := map[int32]kgo.Offset{}
	for _, p := range parts {
		assign[p] = kgo.NewOffset().AtStart()
		l.pos[p] = 0
	}
	l.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{l.spec.Name: assign})
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx)
	return l.ReadToEnd(ctx)
}

func (l *KafkaLog) ensureTopic(ctx context.Context) error {
	resp, err := l.adm.CreateTopic(ctx, l.spec.Partitions, l.spec.ReplicationFactor,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, l.spec.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		l.logger.Info("created Connect's internal topic", "topic", l.spec.Name, "partitions", resp.NumPartitions, "replication_factor", resp.ReplicationFactor)
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return fmt.Errorf("creating topic %s: %w", l.spec.Name, err)
	}
	cfgs, err := l.adm.DescribeTopicConfigs(ctx, l.spec.Name)
	if err != nil {
		return fmt.Errorf("describing topic %s: %w", l.spec.Name, err)
	}
	for _, rc := range cfgs {
		if rc.Err != nil {
			return fmt.Errorf("describing topic %s: %w", l.spec.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "compact") {
				return fmt.Errorf("topic %s has cleanup.policy=%s: Connect's internal topics must be compacted (cleanup.policy=compact), or old configurations and offsets are deleted", l.spec.Name, *c.Value)
			}
		}
	}
	return nil
}

func (l *KafkaLog) partitions(ctx context.Context) ([]int32, error) {
	md, err := l.adm.Metadata(ctx, l.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", l.spec.Name, err)
	}
	t, ok := md.Topics[l.spec.Name]
	if !ok || t.Err != nil || len(t.Partitions) == 0 {
		return nil, fmt.Errorf("metadata of %s: %v", l.spec.Name, t.Err)
	}
	return t.Partitions.Numbers(), nil
}

func (l *KafkaLog) run(ctx context.Context) {
	defer close(l.done)
	for ctx.Err() == nil {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			l.logger.Warn("reading Connect's internal topic", "topic", topic, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				l.onRecord(r)
			}
			l.mu.Lock()
			l.pos[r.Partition] = max(l.pos[r.Partition], r.Offset+1)
			close(l.progress)
			l.progress = make(chan struct{})
			l.mu.Unlock()
		})
	}
}

// ReadToEnd returns once every record the topic held when it was called
// has been handed to the callback: what a worker does before it trusts its
// view (Kafka's readToEnd).
func (l *KafkaLog) ReadToEnd(ctx context.Context) error {
	list := l.adm.ListEndOffsets
	if l.spec.ReadCommitted {
		list = l.adm.ListCommittedOffsets // the last stable offset
	}
	ends, err := list(ctx, l.spec.Name)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", l.spec.Name, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets of %s: %w", l.spec.Name, err)
	}
	for {
		l.mu.Lock()
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if l.pos[o.Partition] < o.Offset {
				behind = true
			}
		})
		wait := l.progress
		l.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			// The last record of a partition survives compaction (the
			// active segment is never cleaned), so the end is reached
			// by a record, unless the topic is unreadable.
			return fmt.Errorf("reading %s to its end: %w", l.spec.Name, ctx.Err())
		}
	}
}

// Send writes a record (nil value: a tombstone) and returns once the
// broker has it (acks=all). key decides the partition, as Kafka's.
func (l *KafkaLog) Send(ctx context.Context, key, value []byte) error {
	r := &kgo.Record{Topic: l.spec.Name, Key: key, Value: value}
	if err := l.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("writing to %s: %w", l.spec.Name, err)
	}
	return nil
}

// Close stops tailing and closes the client.
func (l *KafkaLog) Close() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	l.cl.Close()
}
