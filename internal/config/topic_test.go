package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBroker_TopicConfig(t *testing.T) {
	b := mustLoad(t, map[string]string{
		"log.retention.hours":         "1",
		"log.cleanup.policy":          "compact",
		"log.flush.interval.messages": "9223372036854775807",
	})
	tests := []struct {
		name      string
		overrides map[string]string
		check     func(Topic) bool
	}{
		{"broker defaults", nil, func(tc Topic) bool {
			return tc.RetentionMs == time.Hour && tc.Compact() && !tc.Delete() && tc.FlushMessages == 1<<63-1
		}},
		{"override wins", map[string]string{"retention.ms": "1000", "cleanup.policy": "compact, delete"}, func(tc Topic) bool {
			return tc.RetentionMs == time.Second && tc.Compact() && tc.Delete()
		}},
		{"unlimited retention", map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}, func(tc Topic) bool {
			return tc.RetentionUnlimited() && tc.RetentionBytes == -1
		}},
		{"every field", map[string]string{
			"segment.bytes": "1048576", "segment.ms": "60000", "segment.jitter.ms": "10", "retention.bytes": "5",
			"max.message.bytes": "100", "flush.messages": "1", "flush.ms": "7", "index.interval.bytes": "8",
			"segment.index.bytes": "9", "message.timestamp.type": "LogAppendTime",
			"message.timestamp.before.max.ms": "11", "message.timestamp.after.max.ms": "12",
			"compression.type": "zstd", "min.insync.replicas": "2", "delete.retention.ms": "13",
			"min.compaction.lag.ms": "14", "max.compaction.lag.ms": "15", "min.cleanable.dirty.ratio": "0.25",
			"preallocate": "TRUE", "file.delete.delay.ms": "16", "unclean.leader.election.enable": "true",
			"leader.replication.throttled.replicas": "0:1, 1:2", "follower.replication.throttled.replicas": "*",
		}, func(tc Topic) bool {
			ms := time.Millisecond
			return reflect.DeepEqual(tc, Topic{
				SegmentBytes: 1048576, SegmentMs: time.Minute, SegmentJitterMs: 10 * ms, RetentionMs: time.Hour,
				RetentionBytes: 5, MaxMessageBytes: 100, FlushMessages: 1, FlushMs: 7 * ms, IndexIntervalBytes: 8,
				SegmentIndexBytes: 9, MessageTimestampType: "LogAppendTime", MessageTimestampBeforeMax: 11 * ms,
				MessageTimestampAfterMax: 12 * ms, CleanupPolicy: []string{"compact"}, CompressionType: "zstd",
				MinInsyncReplicas: 2, DeleteRetention: 13 * ms, MinCompactionLag: 14 * ms, MaxCompactionLag: 15 * ms,
				MinCleanableDirtyRatio: 0.25, Preallocate: true, FileDeleteDelay: 16 * ms, UncleanLeaderElection: true,
				LeaderThrottledReplicas: []string{"0:1", "1:2"}, FollowerThrottledReplicas: []string{"*"},
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.TopicConfig(tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Errorf("TopicConfig(%v) = %+v", tc.overrides, got)
			}
		})
	}
	if _, err := b.TopicConfig(map[string]string{"retention.ms": "soon"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad value: err = %v", err)
	}
	if _, err := b.TopicConfig(map[string]string{"retention.hours": "1"}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: err = %v", err)
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		overrides map[string]string
		wantMsg   string // "" means valid
		unknown   bool
	}{
		{nil, "", false},
		{map[string]string{"cleanup.policy": "compact", "retention.ms": "-1", "min.insync.replicas": "2"}, "", false},
		{map[string]string{"cleanup.policy": ""}, "", false},
		{map[string]string{"segment.bytes": "14"}, "", false},
		{map[string]string{"retention.ms": "0"}, "", false},
		{map[string]string{"segment.bytes": "13"}, `invalid value "13" for segment.bytes: must be at least 14`, false},
		{map[string]string{"retention.ms": "-2"}, `retention.ms: must be at least -1`, false},
		{map[string]string{"cleanup.policy": "Compact"}, `cleanup.policy: item "Compact" must be one of compact, delete`, false},
		{map[string]string{"message.timestamp.type": "AppendTime"}, `message.timestamp.type: must be one of CreateTime, LogAppendTime`, false},
		{map[string]string{"compression.type": "none"}, `compression.type: must be one of`, false},
		{map[string]string{"min.cleanable.dirty.ratio": "-0.1"}, `min.cleanable.dirty.ratio: must be between 0 and 1`, false},
		{map[string]string{"max.message.bytes": "1e6"}, `max.message.bytes: not an int`, false},
		{map[string]string{"preallocate": "1"}, `preallocate: not a boolean`, false},
		{map[string]string{"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "10"}, `min.compaction.lag.ms: greater than max.compaction.lag.ms (10)`, false},
		{map[string]string{"segment.size": "1"}, `unknown config segment.size: not a topic config`, true},
		{map[string]string{"log.segment.bytes": "1048576"}, `unknown config log.segment.bytes: a broker config`, true},
	}
	for _, tc := range tests {
		t.Run(tc.wantMsg, func(t *testing.T) {
			err := ValidateTopicConfigs(tc.overrides)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidateTopicConfigs(%v) = %v", tc.overrides, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("ValidateTopicConfigs(%v) = %v, want ErrInvalidConfig containing %q", tc.overrides, err, tc.wantMsg)
			}
			if errors.Is(err, ErrUnknownKey) != tc.unknown {
				t.Errorf("errors.Is(err, ErrUnknownKey) = %v, want %v", !tc.unknown, tc.unknown)
			}
		})
	}
}

func TestIncrementalAlter(t *testing.T) {
	base := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	tests := []struct {
		name    string
		in      map[string]string
		ops     []AlterOp
		want    map[string]string
		wantErr error
	}{
		{"set", base, []AlterOp{{Key: "segment.bytes", Op: OpSet, Value: "1048576"}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "segment.bytes": "1048576"}, nil},
		{"set replaces", base, []AlterOp{{Key: "retention.ms", Op: OpSet, Value: "-1"}},
			map[string]string{"retention.ms": "-1", "cleanup.policy": "compact"}, nil},
		{"delete", base, []AlterOp{{Key: "retention.ms", Op: OpDelete}},
			map[string]string{"cleanup.policy": "compact"}, nil},
		{"delete absent is a no-op", base, []AlterOp{{Key: "flush.ms", Op: OpDelete}}, base, nil},
		{"append to override", base, []AlterOp{{Key: "cleanup.policy", Op: OpAppend, Value: "delete"}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}, nil},
		{"append starts from default", nil, []AlterOp{{Key: "cleanup.policy", Op: OpAppend, Value: "compact"}},
			map[string]string{"cleanup.policy": "delete,compact"}, nil},
		{"append skips present items", base, []AlterOp{{Key: "cleanup.policy", Op: OpAppend, Value: "compact"}}, base, nil},
		{"subtract", map[string]string{"cleanup.policy": "compact,delete"}, []AlterOp{{Key: "cleanup.policy", Op: OpSubtract, Value: "compact"}},
			map[string]string{"cleanup.policy": "delete"}, nil},
		{"subtract to empty", nil, []AlterOp{{Key: "cleanup.policy", Op: OpSubtract, Value: "delete"}},
			map[string]string{"cleanup.policy": ""}, nil},
		{"several ops", base, []AlterOp{
			{Key: "retention.ms", Op: OpDelete}, {Key: "min.insync.replicas", Op: OpSet, Value: "2"},
		}, map[string]string{"cleanup.policy": "compact", "min.insync.replicas": "2"}, nil},
		{"append to non-list", base, []AlterOp{{Key: "retention.ms", Op: OpAppend, Value: "1"}}, nil, ErrInvalidConfig},
		{"bad value", base, []AlterOp{{Key: "segment.ms", Op: OpSet, Value: "0"}}, nil, ErrInvalidConfig},
		{"bad appended item", base, []AlterOp{{Key: "cleanup.policy", Op: OpAppend, Value: "archive"}}, nil, ErrInvalidConfig},
		{"unknown key", base, []AlterOp{{Key: "log.retention.ms", Op: OpSet, Value: "1"}}, nil, ErrUnknownKey},
		{"duplicate key", base, []AlterOp{{Key: "retention.ms", Op: OpSet, Value: "1"}, {Key: "retention.ms", Op: OpDelete}}, nil, ErrInvalidRequest},
		{"unknown op", base, []AlterOp{{Key: "retention.ms", Op: 7, Value: "1"}}, nil, ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := cloneOrEmpty(tc.in)
			got, err := IncrementalAlter(tc.in, tc.ops)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(cloneOrEmpty(tc.in), before) {
				t.Errorf("input modified: %v", tc.in)
			}
		})
	}
}
