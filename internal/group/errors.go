package group

import (
	"github.com/twmb/franz-go/pkg/kerr"

	kproto "github.com/fjordstream/fjord/internal/protocol"
)

// Kafka error codes the group coordinator answers with, taken from kerr
// (franz-go's table of Kafka's codes): no code number is written by hand.
var (
	errNone                      int16 = 0
	errUnknownServerError              = kerr.UnknownServerError.Code
	errOffsetMetadataTooLarge          = kerr.OffsetMetadataTooLarge.Code
	errUnstableOffsetCommit            = kerr.UnstableOffsetCommit.Code
	errCoordinatorLoadInProgress       = kerr.CoordinatorLoadInProgress.Code
	errCoordinatorNotAvailable         = kerr.CoordinatorNotAvailable.Code
	errNotCoordinator                  = kerr.NotCoordinator.Code
	errIllegalGeneration               = kerr.IllegalGeneration.Code
	errInconsistentGroupProtocol       = kerr.InconsistentGroupProtocol.Code
	errInvalidGroupID                  = kerr.InvalidGroupID.Code
	errUnknownMemberID                 = kerr.UnknownMemberID.Code
	errInvalidSessionTimeout           = kerr.InvalidSessionTimeout.Code
	errRebalanceInProgress             = kerr.RebalanceInProgress.Code
	errNonEmptyGroup                   = kerr.NonEmptyGroup.Code
	errGroupIDNotFound                 = kerr.GroupIDNotFound.Code
	errMemberIDRequired                = kerr.MemberIDRequired.Code
	errGroupMaxSizeReached             = kerr.GroupMaxSizeReached.Code
	errFencedInstanceID                = kerr.FencedInstanceID.Code
	errGroupSubscribedToTopic          = kerr.GroupSubscribedToTopic.Code
)

// CodeFor maps the coordinator runtime's errors to Kafka codes; the table
// lives in internal/protocol (CoordinatorErrorCode) with every other
// mapping of Fjord's errors to Kafka's codes.
func CodeFor(err error) int16 { return kproto.CoordinatorErrorCode(err) }
