package herder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/runtime"
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

// offsetsView is a connector's offsets as both herders read and change
// them: a source connector's in the offset store, a sink connector's in
// its consumer group.
type offsetsView struct {
	name    string
	typ     connect.ConnectorType
	stopped bool
	store   runtime.OffsetStore
	admin   *kadm.Client
}

func (v offsetsView) list(ctx context.Context) (connect.ConnectorOffsets, error) {
	out := connect.ConnectorOffsets{Offsets: []connect.ConnectorOffset{}}
	if v.typ == connect.SourceType {
		offs, err := v.store.List(ctx, v.name)
		if err != nil {
			return out, fmt.Errorf("reading the offsets of %s: %w", v.name, err)
		}
		out.Offsets = append(out.Offsets, offs...)
		return out, nil
	}
	if v.admin == nil {
		return out, nil
	}
	fetched, err := v.admin.FetchOffsets(ctx, sinkGroup(v.name))
	if err != nil {
		return out, fmt.Errorf("reading the offsets of %s: %w", v.name, err)
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

// errNotStopped is KIP-875's refusal to change a running connector's
// offsets.
func errNotStopped(name string) error {
	return fmt.Errorf("%w: Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint",
		connect.ErrBadRequest, name)
}

func (v offsetsView) alter(ctx context.Context, offsets connect.ConnectorOffsets) (string, error) {
	if !v.stopped {
		return "", errNotStopped(v.name)
	}
	if v.typ == connect.SourceType {
		if err := v.store.Set(ctx, v.name, offsets.Offsets); err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", v.name, err)
		}
		return msgSourceAltered, nil
	}
	commit, del, err := sinkOffsets(offsets.Offsets)
	if err != nil {
		return "", err
	}
	if v.admin == nil {
		return "", fmt.Errorf("%w: no Kafka admin client", connect.ErrBadRequest)
	}
	if len(commit) > 0 {
		resp, err := v.admin.CommitOffsets(ctx, sinkGroup(v.name), commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", v.name, err)
		}
	}
	if len(del) > 0 {
		resp, err := v.admin.DeleteOffsets(ctx, sinkGroup(v.name), del)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return "", fmt.Errorf("altering the offsets of %s: %w", v.name, err)
		}
	}
	return msgSinkAltered, nil
}

func (v offsetsView) reset(ctx context.Context) (string, error) {
	if !v.stopped {
		return "", errNotStopped(v.name)
	}
	if v.typ == connect.SourceType {
		offs, err := v.store.List(ctx, v.name)
		if err != nil {
			return "", err
		}
		for i := range offs {
			offs[i].Offset = nil
		}
		if err := v.store.Set(ctx, v.name, offs); err != nil {
			return "", fmt.Errorf("resetting the offsets of %s: %w", v.name, err)
		}
		return msgSourceReset, nil
	}
	if v.admin != nil {
		resp, err := v.admin.DeleteGroup(ctx, sinkGroup(v.name))
		if err != nil && resp.Err == nil {
			resp.Err = err
		}
		if resp.Err != nil && !strings.Contains(resp.Err.Error(), "GROUP_ID_NOT_FOUND") {
			return "", fmt.Errorf("resetting the offsets of %s: %w", v.name, resp.Err)
		}
	}
	return msgSinkReset, nil
}

// view returns a standalone connector's offsets view.
func (h *Standalone) view(name string) (offsetsView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(name)
	if err != nil {
		return offsetsView{}, err
	}
	return offsetsView{name: name, typ: c.typ, stopped: c.target == connect.TargetStopped, store: h.cfg.Offsets, admin: h.cfg.Admin}, nil
}

// ConnectorOffsets implements connect.Herder.
func (h *Standalone) ConnectorOffsets(ctx context.Context, name string) (connect.ConnectorOffsets, error) {
	v, err := h.view(name)
	if err != nil {
		return connect.ConnectorOffsets{}, err
	}
	return v.list(ctx)
}

// AlterConnectorOffsets implements connect.Herder.
func (h *Standalone) AlterConnectorOffsets(ctx context.Context, name string, offsets connect.ConnectorOffsets) (string, error) {
	v, err := h.view(name)
	if err != nil {
		return "", err
	}
	return v.alter(ctx, offsets)
}

// ResetConnectorOffsets implements connect.Herder.
func (h *Standalone) ResetConnectorOffsets(ctx context.Context, name string) (string, error) {
	v, err := h.view(name)
	if err != nil {
		return "", err
	}
	return v.reset(ctx)
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

// Close stops every connector and task.
func (h *Standalone) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.connectors {
		h.stopConnector(c)
	}
}
