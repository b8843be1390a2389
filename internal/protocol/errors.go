package protocol

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
)

// codeFor pairs an internal sentinel with the Kafka error a client expects.
// This table is the only place where Fjord's errors become Kafka codes;
// code numbers themselves come from kerr, never written by hand.
var codeFor = [...]struct {
	err  error
	kerr *kerr.Error
}{
	{record.ErrCorrupt, kerr.CorruptMessage},
	{record.ErrInvalidRecord, kerr.InvalidRecord},
	{record.ErrRecordTooLarge, kerr.MessageTooLarge},
	{record.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{record.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{record.ErrNoKey, kerr.InvalidRecord},
	{record.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{record.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{log.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{log.ErrPolicyViolation, kerr.PolicyViolation},
	{log.ErrStorage, kerr.KafkaStorageError},
	{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{config.ErrInvalidConfig, kerr.InvalidConfig},
	{config.ErrInvalidRequest, kerr.InvalidRequest},
	{partition.ErrNotLeader, kerr.NotLeaderForPartition},
	{partition.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{partition.ErrUnknownReplica, kerr.UnknownServerError},
	{partition.ErrTooManyWaiters, kerr.RequestTimedOut},
	{record.ErrBudget, kerr.RequestTimedOut},
	{coordinator.ErrNotCoordinator, kerr.NotCoordinator},
	{coordinator.ErrLoadInProgress, kerr.CoordinatorLoadInProgress},
	{coordinator.ErrQueueFull, kerr.CoordinatorNotAvailable},
	{coordinator.ErrWriteFailed, kerr.CoordinatorNotAvailable},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
}

// CoordinatorErrorCode is ErrorCode for a coordinator's answer, as Kafka's
// coordinator runtime maps errors: a partition that is not ours is
// NOT_COORDINATOR (the client looks the coordinator up again), one that is
// loading COORDINATOR_LOAD_IN_PROGRESS (the client retries), a failed,
// refused or timed-out write COORDINATOR_NOT_AVAILABLE (retriable, and the
// client rediscovers the coordinator).
func CoordinatorErrorCode(err error) int16 {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return ErrorCode(err)
}

// ErrorCode returns the Kafka error code for err: 0 for nil, the code of a
// *kerr.Error anywhere in the chain, the mapped code of a known sentinel,
// and UNKNOWN_SERVER_ERROR otherwise (logged by the caller).
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, c := range codeFor {
		if errors.Is(err, c.err) {
			return c.kerr.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage returns the message to send beside a code: the error's own
// text, which names the key, limit or topic involved, without the generic
// description of the Kafka error (clients print the code's name already).
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		s = strings.TrimPrefix(s, ke.Error()+": ")
	}
	return &s
}
