package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds on the connection-level deadlines (dial, and kgo's read deadline
// overhead) derived from --timeout: at most 10s, so a long --timeout still
// reports an unreachable broker quickly; at least 2s, because a short
// consume --timeout (an idle limit) must not kill connections on a slow
// network.
const (
	maxConnTimeout = 10 * time.Second
	minConnTimeout = 2 * time.Second
)

// client builds a kgo client for the bootstrap servers; extra options come
// last and win. The caller closes it.
func (g *globals) client(extra ...kgo.Opt) (*kgo.Client, error) {
	dial := maxConnTimeout
	if g.timeout > 0 {
		dial = max(min(dial, g.timeout), minConnTimeout)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(g.brokers()...),
		kgo.ClientID("fjord-cli"),
		kgo.DialTimeout(dial),
		// kgo sets up a connection (ApiVersions) under this read
		// deadline rather than the caller's context, so a broker that
		// accepts but never answers would otherwise hold us 10s past
		// --timeout.
		kgo.RequestTimeoutOverhead(dial),
	}
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", g.bootstrap, err)
	}
	return cl, nil
}

// admin builds a kadm client over a fresh kgo client; closing the kadm
// client closes both.
func (g *globals) admin() (*kadm.Client, error) {
	cl, err := g.client()
	if err != nil {
		return nil, err
	}
	return g.adminOf(cl), nil
}

// adminOf wraps cl in a kadm client, for commands that also send kmsg
// requests of their own; closing either closes both.
func (g *globals) adminOf(cl *kgo.Client) *kadm.Client {
	adm := kadm.NewClient(cl)
	if g.timeout > 0 {
		// Admin requests carry a broker-side timeout too (CreateTopics
		// waits for leaders): keep it within ours.
		adm.SetTimeoutMillis(int32(min(g.timeout, time.Hour).Milliseconds()))
	}
	return adm
}

// topicPartitionCount returns how many partitions topic has, or the topic's
// error (UNKNOWN_TOPIC_OR_PARTITION with a hint) if it cannot be used.
func topicPartitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	tds, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return 0, opErr(fmt.Sprintf("describe topic %q", topic), err, "")
	}
	td, ok := tds[topic]
	if !ok {
		return 0, opErr(fmt.Sprintf("topic %q", topic), kerr.UnknownTopicOrPartition, "")
	}
	if td.Err != nil {
		return 0, opErr(fmt.Sprintf("topic %q", topic), td.Err, "")
	}
	return len(td.Partitions), nil
}

// checkPartition verifies topic exists and, if partition >= 0, has it.
func checkPartition(ctx context.Context, adm *kadm.Client, topic string, partition int32) error {
	n, err := topicPartitionCount(ctx, adm, topic)
	if err != nil {
		return err
	}
	if partition >= int32(n) {
		e := opErr(fmt.Sprintf("topic %q partition %d", topic, partition), kerr.UnknownTopicOrPartition, "")
		e.hint = fmt.Sprintf("topic %q has %d partition(s), numbered 0 to %d", topic, n, n-1)
		return e
	}
	return nil
}

// formatTopicID renders a topic ID as Kafka's tools do (URL-safe base64
// without padding), or "" for the all-zero ID of brokers without IDs.
func formatTopicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// parseKeyValues parses repeated key=value flags; the value may contain '='.
func parseKeyValues(flag string, kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--%s %q: want key=value", flag, kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// int32List prints broker IDs as "1,2,3".
func int32List(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
