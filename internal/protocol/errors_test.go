package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/partition"
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
