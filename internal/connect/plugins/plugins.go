// Package plugins registers Fjord Connect's built-in plugins: its
// connectors, converters, transforms and predicates, under Kafka's class
// names (Kafka Connect's plugin path, compiled in). Every worker starts
// from Builtins.
package plugins

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/connectors/datagen"
	"github.com/fjordstream/fjord/internal/connect/connectors/file"
	httpsink "github.com/fjordstream/fjord/internal/connect/connectors/http"
	"github.com/fjordstream/fjord/internal/connect/connectors/postgres"
	"github.com/fjordstream/fjord/internal/connect/connectors/postgrescdc"
	"github.com/fjordstream/fjord/internal/connect/convert"
	"github.com/fjordstream/fjord/internal/connect/transform"
)

// Builtins returns a registry holding every built-in plugin.
func Builtins() (*connect.Registry, error) {
	r := connect.NewRegistry()
	for name, register := range map[string]func(*connect.Registry) error{
		"file":        file.Register,
		"datagen":     datagen.Register,
		"http":        httpsink.Register,
		"postgres":    postgres.Register,
		"converter":   convert.Register,
		"transform":   transform.Register,
		"postgrescdc": postgrescdc.Register,
	} {
		if err := register(r); err != nil {
			return nil, fmt.Errorf("registering the %s plugins: %w", name, err)
		}
	}
	return r, nil
}
