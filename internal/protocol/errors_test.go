package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
)

// Wrapped sentinels map to the Kafka code a client acts on; anything else
// is UNKNOWN_SERVER_ERROR.
func TestErrorCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("append to t-0: %w: fsync: input/output error", log.ErrStorage), kerr.KafkaStorageError},
		{fmt.Errorf("partition t-0: %w", partition.ErrFollowerAhead), kerr.OffsetOutOfRange},
		{fmt.Errorf("partition t-0: %w", partition.ErrNotLeader), kerr.NotLeaderForPartition},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), kerr.RequestTimedOut},
		{fmt.Errorf("create: %w", kerr.InvalidReplicationFactor), kerr.InvalidReplicationFactor},
		{fmt.Errorf("config retention.ms appears more than once: %w", config.ErrInvalidRequest), kerr.InvalidRequest},
		{errors.New("something else"), kerr.UnknownServerError},
	} {
		if got := ErrorCode(tt.err); got != tt.want.Code {
			t.Errorf("%v: code %d, want %d (%s)", tt.err, got, tt.want.Code, tt.want.Message)
		}
	}
	if ErrorCode(nil) != 0 {
		t.Error("nil error has a code")
	}
}

// A failed write to a coordinator partition answers as Kafka's group
// coordinator remaps it (CoordinatorOperationExceptionHelper,
// GroupMetadataManager.appendGroupMetadataErrorToResponseError): never a
// partition-level code the group client does not expect.
func TestCoordinatorErrorCode(t *testing.T) {
	write := func(err error) error {
		return fmt.Errorf("%w: append to __consumer_offsets-3: %w", coordinator.ErrWriteFailed, err)
	}
	for _, tt := range []struct {
		err  error
		want *kerr.Error
	}{
		{write(fmt.Errorf("batch 0: %w: 2097388 bytes", record.ErrRecordTooLarge)), kerr.UnknownServerError},
		{write(partition.ErrNotLeader), kerr.NotCoordinator},
		{write(fmt.Errorf("%w: fsync", log.ErrStorage)), kerr.NotCoordinator},
		{write(partition.ErrNotEnoughReplicas), kerr.CoordinatorNotAvailable},
		{write(partition.ErrNotEnoughReplicasAfterAppend), kerr.CoordinatorNotAvailable},
		{write(context.DeadlineExceeded), kerr.CoordinatorNotAvailable},
		{coordinator.ErrLoadInProgress, kerr.CoordinatorLoadInProgress},
		{coordinator.ErrNotCoordinator, kerr.NotCoordinator},
		{coordinator.ErrQueueFull, kerr.CoordinatorNotAvailable},
		{coordinator.ErrInternal, kerr.UnknownServerError},
	} {
		if got := CoordinatorErrorCode(tt.err); got != tt.want.Code {
			t.Errorf("%v: %v, want %v", tt.err, kerr.ErrorForCode(got), tt.want)
		}
	}
}
