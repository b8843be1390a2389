package cli

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// apiSupport is what the cluster advertises in ApiVersions, asked once of
// one broker (the brokers of a cluster are taken to run one version).
type apiSupport struct{ v *kversion.Versions }

// supportedAPIs asks a broker for its ApiVersions. A failure leaves every
// key unsupported, so callers fall back to the requests every broker
// serves; the error is returned for callers that need the answer.
func supportedAPIs(ctx context.Context, cl *kgo.Client) (apiSupport, error) {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return apiSupport{}, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return apiSupport{}, err
	}
	return apiSupport{kversion.FromApiVersionsResponse(resp)}, nil
}

// max returns the highest version of key the broker serves, -1 if none.
func (s apiSupport) max(key int16) int16 {
	if s.v == nil {
		return -1
	}
	v, ok := s.v.LookupMaxKeyVersion(key)
	if !ok {
		return -1
	}
	return v
}

// serves reports whether the broker serves key at version min or above.
func (s apiSupport) serves(key, minVersion int16) bool { return s.max(key) >= minVersion }
