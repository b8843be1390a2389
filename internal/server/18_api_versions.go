package server

// ApiVersions (key 18), v0-v4. Advertises exactly protocol.Implemented().
// An unsupported request version is answered in v0 by the connection loop
// (KIP-511). One feature is advertised (v3+): transaction.version, supported
// 0-2 and finalized at the broker's transaction.version (omitted at 0, as
// Kafka omits level-0 features); clients run KIP-890 part 2 transactions
// when it is finalized at 2 or more. Before v4 a feature whose supported
// range starts at 0 is left out, as Kafka does (KAFKA-17492: older Java
// clients refused a 0 minimum).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleApiVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = protocol.ApiVersionsKeys()
	if req.Version >= 4 {
		f := kmsg.NewApiVersionsResponseSupportedFeature()
		f.Name, f.MinVersion, f.MaxVersion = "transaction.version", 0, 2
		resp.SupportedFeatures = append(resp.SupportedFeatures, f)
	}
	if lvl := b.cfg.Broker.TransactionVersion; req.Version >= 3 && lvl > 0 {
		f := kmsg.NewApiVersionsResponseFinalizedFeature()
		f.Name, f.MinVersionLevel, f.MaxVersionLevel = "transaction.version", lvl, lvl
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, f)
		// The epoch orders what different brokers finalized; the
		// level here is static configuration, so any fixed epoch.
		resp.FinalizedFeaturesEpoch = 1
	}
	return resp
}
