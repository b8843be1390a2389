// Package connect holds Fjord Connect's process-level tests: workers run
// as `fjord connect` processes against `fjord server` brokers, and are
// killed with SIGKILL.
package connect

import (
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

func TestMain(m *testing.M) { fjordtest.Main(m) }
