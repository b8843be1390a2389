package server

// ApiVersions (key 18), v0-v4. Advertises exactly protocol.Implemented().
// An unsupported request version is answered in v0 by the connection loop
// (KIP-511). No feature flags are advertised: Fjord has no finalized features
// yet, which clients read as "none".

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleApiVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = protocol.ApiVersionsKeys()
	return resp
}
