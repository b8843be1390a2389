package group

import (
	"context"
	"errors"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// Kafka error codes the group coordinator answers with. They are constants
// (kerr's are variables); errors_test.go checks them against kerr.
const (
	errNone                      int16 = 0
	errUnknownServerError        int16 = -1
	errOffsetMetadataTooLarge    int16 = 12
	errCoordinatorLoadInProgress int16 = 14
	errCoordinatorNotAvailable   int16 = 15
	errNotCoordinator            int16 = 16
	errIllegalGeneration         int16 = 22
	errInconsistentGroupProtocol int16 = 23
	errInvalidGroupID            int16 = 24
	errUnknownMemberID           int16 = 25
	errInvalidSessionTimeout     int16 = 26
	errRebalanceInProgress       int16 = 27
	errNonEmptyGroup             int16 = 68
	errGroupIDNotFound           int16 = 69
	errMemberIDRequired          int16 = 79
	errGroupMaxSizeReached       int16 = 81
	errFencedInstanceID          int16 = 82
	errGroupSubscribedToTopic    int16 = 86
)

// CodeFor maps the runtime's errors to the Kafka code a client expects, as
// Kafka's coordinator runtime does: a partition that is not ours is
// NOT_COORDINATOR (the client looks the coordinator up again), one that is
// loading is COORDINATOR_LOAD_IN_PROGRESS (the client retries), a failed or
// refused write is COORDINATOR_NOT_AVAILABLE (retriable, rediscovers).
func CodeFor(err error) int16 {
	switch {
	case err == nil:
		return errNone
	case errors.Is(err, coordinator.ErrNotCoordinator):
		return errNotCoordinator
	case errors.Is(err, coordinator.ErrLoadInProgress):
		return errCoordinatorLoadInProgress
	case errors.Is(err, coordinator.ErrQueueFull),
		errors.Is(err, coordinator.ErrWriteFailed),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return errCoordinatorNotAvailable
	}
	return errUnknownServerError
}
