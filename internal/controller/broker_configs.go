package controller

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
)

// AlterBrokerConfigs changes the dynamic configs of a BROKER resource:
// name is a broker ID, or "" for the cluster-wide default every broker
// falls back to (Kafka's <default> entity). change turns the current
// overrides into the new ones; only the keys Fjord applies at run time
// are accepted (config.Key.BrokerDynamic: the replication throttle rates,
// cordoned.log.dirs),
// the rest stay static, set in server.properties. The change is written to
// the metadata log as ConfigRecords, which every broker replays (Kafka's
// BrokerConfigHandler). As in Kafka's KRaft controller, a broker ID need
// not be registered, but must be a number.
func (c *Controller) AlterBrokerConfigs(ctx context.Context, name string, change func(map[string]string) (map[string]string, error), validateOnly bool) error {
	if name != "" {
		if id, err := strconv.ParseInt(name, 10, 32); err != nil || id < 0 {
			return fmt.Errorf("%w: invalid broker name %q", kerr.InvalidRequest, name)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.loader.Image().BrokerConfigs(name)
	overrides, err := change(maps.Clone(cur))
	if err != nil {
		return err
	}
	if err := config.ValidateBrokerDynamicConfigs(overrides); err != nil {
		return err
	}
	// Cordoning names one broker's log directories: as Kafka refuses its
	// per-broker configs at the default (cluster) level.
	if v, ok := overrides[config.CordonedLogDirs]; ok && name == "" {
		return &config.Error{Key: config.CordonedLogDirs, Value: v, Reason: "cannot be set at the default cluster level, broker id must be specified"}
	}
	if validateOnly {
		return nil
	}
	recs := configChanges(metadata.ConfigResourceBroker, name, cur, overrides)
	if len(recs) == 0 {
		return nil
	}
	if err := c.commit(ctx, recs); err != nil {
		return fmt.Errorf("alter configs of broker %q: %w", name, err)
	}
	return nil
}
