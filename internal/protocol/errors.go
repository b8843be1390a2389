package protocol

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
)

// codeFor pairs an internal sentinel with the Kafka error a client expects.
// This table is the only place where Fjord's errors become Kafka codes.
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
	{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{config.ErrInvalidConfig, kerr.InvalidConfig},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
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
