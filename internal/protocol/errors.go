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
	{partition.ErrInvalidTxnState, kerr.InvalidTxnState},
	{partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
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

// CoordinatorErrorCode is ErrorCode for a coordinator's answer, remapped as
// Kafka's group coordinator remaps a failed write to its partition
// (CoordinatorOperationExceptionHelper.handleOperationException and
// GroupMetadataManager.appendGroupMetadataErrorToResponseError): a
// partition that is not ours, or whose storage failed, is NOT_COORDINATOR
// (the client looks the coordinator up again); a missing partition, too few
// replicas or a timeout COORDINATOR_NOT_AVAILABLE (retriable); a record too
// large for the partition UNKNOWN_SERVER_ERROR, which clients do not retry:
// the same write would fail again forever. A partition that is loading is
// COORDINATOR_LOAD_IN_PROGRESS (the client retries). A batch failed by a
// refused transactional write is COORDINATOR_NOT_AVAILABLE for all of it.
func CoordinatorErrorCode(err error) int16 {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.CoordinatorNotAvailable.Code
	}
	if errors.Is(err, coordinator.ErrWriteFailed) &&
		(errors.Is(err, record.ErrInvalidProducerEpoch) || errors.Is(err, partition.ErrInvalidTxnState)) {
		// One transactional write of the batch (TxnOffsetCommit) was
		// refused and the whole batch failed: every request in it,
		// bystanders too, retries (the transactional one is checked
		// again, and answered its own error then).
		return kerr.CoordinatorNotAvailable.Code
	}
	code := ErrorCode(err)
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code,
		kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	}
	return code
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
