package log

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the package leaves no goroutine behind (it starts
// none; the pooled zstd decoders must not either).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
