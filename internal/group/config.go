package group

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/consumergroup"
)

// Config holds the group coordinator settings, each mirroring a Kafka broker
// key. Zero fields take Kafka's defaults (see withDefaults).
type Config struct {
	// Partition is the __consumer_offsets partition this Coordinator
	// serves; NumPartitions is offsets.topic.num.partitions (default 50).
	// A request for a group that hashes elsewhere gets NOT_COORDINATOR.
	Partition     int32
	NumPartitions int32

	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min.session.timeout.ms 6000,
	// group.max.session.timeout.ms 1800000).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms (3000): how
	// long the first rebalance of an empty group waits for more members.
	// Set NoInitialRebalanceDelay for 0.
	InitialRebalanceDelay   time.Duration
	NoInitialRebalanceDelay bool
	// MaxSize is group.max.size (default: unlimited).
	MaxSize int
	// NewMemberJoinTimeout bounds how long a new member's JoinGroup may stay
	// parked (Kafka's fixed 5 minutes).
	NewMemberJoinTimeout time.Duration

	// OffsetsRetention is offsets.retention.minutes (7 days);
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms
	// (10 minutes).
	OffsetsRetention              time.Duration
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes (4096).
	OffsetMetadataMaxBytes int

	// Consumer configures the consumer groups (KIP-848) of the partition.
	Consumer consumergroup.Config
	// Topics is the live metadata view consumer groups resolve
	// subscriptions against (nil: no topics).
	Topics consumergroup.Topics

	// NewMemberID returns a new member ID made of prefix (the client ID, or
	// the group instance ID of a static member), "-" and a unique suffix.
	// Default: a random UUID suffix, as Kafka does. Tests inject a counter.
	NewMemberID func(prefix string) string

	// Rebalances, if set, counts the classic groups' rebalances (each new
	// generation with members), for the node's metrics; shared by its
	// coordinators.
	Rebalances *atomic.Int64
}

// Kafka's defaults.
const (
	DefaultNumPartitions                 = 50
	DefaultMinSessionTimeout             = 6 * time.Second
	DefaultMaxSessionTimeout             = 30 * time.Minute
	DefaultInitialRebalanceDelay         = 3 * time.Second
	DefaultNewMemberJoinTimeout          = 5 * time.Minute
	DefaultOffsetsRetention              = 7 * 24 * time.Hour
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	DefaultOffsetMetadataMaxBytes        = 4096
)

func (c Config) withDefaults() Config {
	if c.NumPartitions <= 0 {
		c.NumPartitions = DefaultNumPartitions
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.NoInitialRebalanceDelay {
		c.InitialRebalanceDelay = 0
	} else if c.InitialRebalanceDelay <= 0 {
		c.InitialRebalanceDelay = DefaultInitialRebalanceDelay
	}
	if c.MaxSize <= 0 {
		c.MaxSize = int(^uint(0) >> 1)
	}
	if c.NewMemberJoinTimeout <= 0 {
		c.NewMemberJoinTimeout = DefaultNewMemberJoinTimeout
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		c.OffsetsRetentionCheckInterval = DefaultOffsetsRetentionCheckInterval
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = DefaultOffsetMetadataMaxBytes
	}
	if c.Topics == nil {
		c.Topics = noTopics{}
	}
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
	return c
}

// randomMemberID is prefix + "-" + a random (version 4) UUID, Kafka's form.
func randomMemberID(prefix string) string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Client identifies the connection a JoinGroup came from; it is shown by
// DescribeGroups and stored in the group metadata record.
type Client struct {
	// ID is the client.id of the request header.
	ID string
	// Host is the client's address as Kafka shows it ("/127.0.0.1").
	Host string
}
