//go:build tools

// This file pins modules that tests and benchmarks use only from _test files
// or external tools, so `go mod tidy` keeps them.
package fjord

import (
	_ "github.com/IBM/sarama"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "go.uber.org/goleak"
	_ "pgregory.net/rapid"
)
