package observability

import (
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

func TestMain(m *testing.M) { fjordtest.Main(m) }
