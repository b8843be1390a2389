package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicPollInterval is how often ensureTopic re-reads metadata while a new
// topic's partitions get leaders.
const topicPollInterval = 50 * time.Millisecond

// baseOpts are the options every bench client starts from.
func baseOpts(cfg Config) []kgo.Opt {
	bound := min(cfg.Timeout, 10*time.Second)
	return []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("fjord-bench"),
		kgo.DialTimeout(bound),
		// Connection setup reads under this deadline, not a context; keep
		// it within Timeout (kgo's default is 10s).
		kgo.RequestTimeoutOverhead(bound),
	}
}

// newClient builds a client from baseOpts, extra, then cfg.ClientOpts (last,
// so a caller's options win).
func newClient(cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(baseOpts(cfg), extra...)
	opts = append(opts, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	return cl, nil
}

// ensureTopic returns the topic's partition numbers, creating the topic first
// when create is set and it is missing, and waiting (up to cfg.Timeout) until
// every partition has a leader so the first produce does not race creation.
func ensureTopic(ctx context.Context, cfg Config, create bool) ([]int32, error) {
	cl, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	created := false
	for {
		parts, terr, err := topicPartitions(ctx, cl, cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: metadata: %w", cfg.Topic, err)
		}
		switch {
		case terr == nil && parts != nil:
			return parts, nil
		case errors.Is(terr, kerr.UnknownTopicOrPartition) && create && !created:
			if err := createTopic(ctx, cl, cfg); err != nil {
				return nil, err
			}
			created = true
		case errors.Is(terr, kerr.UnknownTopicOrPartition) && !created:
			return nil, fmt.Errorf("topic %s: %w", cfg.Topic, terr)
		case terr != nil && !kerr.IsRetriable(terr) && !errors.Is(terr, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("topic %s: %w", cfg.Topic, terr)
		}
		t := time.NewTimer(topicPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("topic %s: waiting for partition leaders: %w", cfg.Topic, ctx.Err())
		case <-t.C:
		}
	}
}

func createTopic(ctx context.Context, cl *kgo.Client, cfg Config) error {
	parts, rf := cfg.Partitions, cfg.ReplicationFactor
	if parts <= 0 {
		parts = -1
	}
	if rf <= 0 {
		rf = -1
	}
	_, err := kadm.NewClient(cl).CreateTopic(ctx, parts, rf, nil, cfg.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", cfg.Topic, err)
	}
	return nil
}

// topicPartitions asks for fresh (uncached) metadata. It returns the sorted
// partition numbers once every partition has a leader, nil partitions while
// some do not, and the topic-level error, if any, separately from a request
// failure.
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if terr := kerr.ErrorForCode(t.ErrorCode); terr != nil {
			return nil, terr, nil
		}
		if len(t.Partitions) == 0 {
			return nil, nil, nil
		}
		parts := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				return nil, nil, nil
			}
			parts = append(parts, p.Partition)
		}
		slices.Sort(parts)
		return parts, nil, nil
	}
	return nil, kerr.UnknownTopicOrPartition, nil
}
