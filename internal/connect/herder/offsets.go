package herder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fjordstream/fjord/internal/connect"
)

// Keys of a sink connector's offsets in the REST API (KIP-875).
const (
	sinkTopicKey     = "kafka_topic"
	sinkPartitionKey = "kafka_partition"
	sinkOffsetKey    = "kafka_offset"
)

// Kafka's messages for offset changes.
const (
	msgSourceAltered = "The Connect framework-managed offsets for this connector have been altered successfully. However, if this connector manages offsets externally, they will need to be manually altered in the system that the connector uses."
	msgSourceReset   = "The Connect framework-managed offsets for this connector have been reset successfully. However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."
	msgSinkAltered   = "The offsets for this connector have been altered successfully"
	msgSinkReset     = "The offsets for this connector have been reset successfully"
)

// sinkGroup is a sink connector's consumer group, as Kafka names it.
func sinkGroup(connector string) string { return "connect-" + connector }

// ConnectorOffsets implements connect.Herder: a source connector's stored
// offsets, or a sink connector's consumer group offsets.
func (h *Standalone) ConnectorOffsets(ctx context.Context, name string) (connect.ConnectorOffsets, error) {
	h.mu.Lock()
	c, err := h.get(name)
	var typ connect.ConnectorType
	if err == nil {
		typ = c.typ
	}
	h.mu.Unlock()
	if err != nil {
		return connect.ConnectorOffsets{}, err
	}
	out := connect.ConnectorOffsets{Offsets: []connect.ConnectorOffset{}}
	if typ == connect.SourceType {
		offs, err := h.cfg.Offsets.List(ctx, name)
		if err != nil {
			return out, fmt.Errorf("reading the offsets of %s: %w", name, err)
		}
		out.Offsets = append(out.Offsets, offs...)
		return out, nil
	}
	if h.cfg.Admin == nil {
		return out, nil
	}
	fetched, err := h.cfg.Admin.FetchOffsets(ctx, sinkGroup(name))
	if err != nil {
		return out, fmt.Errorf("reading the offsets of %s: %w", name, err)
	}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || o.At < 0 {
			return
		}
		out.Offsets = append(out.Offsets, connect.ConnectorOffset{
			Partition: map[string]any{sinkTopicKey: o.Topic, sinkPartitionKey: int64(o.Partition)},
			Offset:    map[string]any{sinkOffsetKey: o.At},
		})
	})
	slices.SortFunc(out.Offsets, func(a, b connect.ConnectorOffset) int {
		if c := strings.Compare(a.Partition[sinkTopicKey].(string), b.Partition[sinkTopicKey].(string)); c != 0 {
			return c
		}
		return int(a.Partition[sinkPartitionKey].(int64) - b.Partition[sinkPartitionKey].(int64))
	})
	return out, nil
}

// stoppedConnector returns a connector's type if it is stopped (KIP-875:
// offsets change only then).
func (h *Standalone) stoppedConnector(name string) (connect.ConnectorType, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return "", err
	}
	if c.target != connect.TargetStopped {
		return "", fmt.Errorf("%w: Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint",
			connect.ErrBadRequest, name)
	}
	return c.typ, nil
}

// AlterConnectorOffsets implements connect.Herder.
func (h *Standalone) AlterConnectorOffsets(ctx context.Context, name string, offsets connect.ConnectorOffsets) (string, error) {
	typ, err := h.stoppedConnector(name)
	if err != nil {
		return "", err
	}
	if typ == connect.SourceType {
		if err := h.cfg.Offsets.Set(ctx, name, offsets.Offsets); err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", name, err)
		}
		return msgSourceAltered, nil
	}
	commit, del, err := sinkOffsets(offsets.Offsets)
	if err != nil {
		return "", err
	}
	if h.cfg.Admin == nil {
		return "", fmt.Errorf("%w: no Kafka admin client", connect.ErrBadRequest)
	}
	if len(commit) > 0 {
		resp, err := h.cfg.Admin.CommitOffsets(ctx, sinkGroup(name), commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", name, err)
		}
	}
	if len(del) > 0 {
		resp, err := h.cfg.Admin.DeleteOffsets(ctx, sinkGroup(name), del)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", name, err)
		}
	}
	return msgSinkAltered, nil
}

// sinkOffsets reads a sink connector's offsets as the REST API gives them.
func sinkOffsets(offs []connect.ConnectorOffset) (kadm.Offsets, kadm.TopicsSet, error) {
	commit, del := kadm.Offsets{}, kadm.TopicsSet{}
	for _, o := range offs {
		topic, ok := o.Partition[sinkTopicKey].(string)
		p, ok2 := asInt(o.Partition[sinkPartitionKey])
		if !ok || !ok2 || topic == "" {
			return nil, nil, fmt.Errorf("%w: Partitions of sink connectors must have the keys %s and %s", connect.ErrBadRequest, sinkTopicKey, sinkPartitionKey)
		}
		if o.Offset == nil {
			del.Add(topic, int32(p))
			continue
		}
		at, ok := asInt(o.Offset[sinkOffsetKey])
		if !ok || at < 0 {
			return nil, nil, fmt.Errorf("%w: Offsets of sink connectors must have the key %s with a non-negative number", connect.ErrBadRequest, sinkOffsetKey)
		}
		commit.Add(kadm.Offset{Topic: topic, Partition: int32(p), At: at, LeaderEpoch: -1})
	}
	return commit, del, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	return 0, false
}

// ResetConnectorOffsets implements connect.Herder.
func (h *Standalone) ResetConnectorOffsets(ctx context.Context, name string) (string, error) {
	typ, err := h.stoppedConnector(name)
	if err != nil {
		return "", err
	}
	if typ == connect.SourceType {
		offs, err := h.cfg.Offsets.List(ctx, name)
		if err != nil {
			return "", err
		}
		for i := range offs {
			offs[i].Offset = nil
		}
		if err := h.cfg.Offsets.Set(ctx, name, offs); err != nil {
			return "", fmt.Errorf("resetting the offsets of %s: %w", name, err)
		}
		return msgSourceReset, nil
	}
	if h.cfg.Admin != nil {
		resp, err := h.cfg.Admin.DeleteGroup(ctx, sinkGroup(name))
		if err != nil && resp.Err == nil {
			resp.Err = err
		}
		if resp.Err != nil && !strings.Contains(resp.Err.Error(), "GROUP_ID_NOT_FOUND") {
			return "", fmt.Errorf("resetting the offsets of %s: %w", name, resp.Err)
		}
	}
	return msgSinkReset, nil
}

// ConnectorTopics implements connect.Herder. Standalone mode does not track
// the topics a source connector produced to (Kafka's topic tracking keeps
// them in the status topic); a sink's configured topics are listed.
func (h *Standalone) ConnectorTopics(_ context.Context, name string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return nil, err
	}
	out := []string{}
	if c.typ == connect.SinkType {
		for _, t := range strings.Split(c.config[connect.KeyTopics], ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// ResetConnectorTopics implements connect.Herder (nothing is tracked in
// standalone mode, so nothing is reset).
func (h *Standalone) ResetConnectorTopics(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.get(name)
	return err
}

// Close stops every connector and task.
func (h *Standalone) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.connectors {
		h.stopConnector(c)
	}
}
