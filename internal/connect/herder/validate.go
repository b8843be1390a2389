package herder

import "github.com/fjordstream/fjord/internal/connect"

// validateConnector validates a connector configuration as both herders
// do before they accept it: its keys (connect.ValidateConfig), then its
// Kafka client overrides against the worker's policy.
func validateConnector(reg *connect.Registry, policy connect.ClientOverridePolicy, opts connect.ValidateOptions, config map[string]string) (connect.ConfigInfos, connect.ConnectorType) {
	infos, typ := connect.ValidateConfig(reg, config, opts)
	if policy == "" {
		policy = connect.OverrideAll
	}
	return connect.CheckClientOverrides(infos, policy, typ, config), typ
}
