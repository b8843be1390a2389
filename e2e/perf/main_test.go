package perf

import (
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// TestMain removes the fjord binary the process benchmarks build.
func TestMain(m *testing.M) { fjordtest.Main(m) }
