package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// connection loop, long poll and maintenance loop must stop on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
