package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// worker.properties keys the runtime reads, Kafka's names.
const (
	KeyBootstrapServers    = "bootstrap.servers"
	KeyOffsetFlushInterval = "offset.flush.interval.ms"
	KeyOffsetFlushTimeout  = "offset.flush.timeout.ms"
	KeyShutdownTimeout     = "task.shutdown.graceful.timeout.ms"
	KeyOffsetFile          = "offset.storage.file.filename"
)

// ParseWorkerProps fills a WorkerConfig's Kafka and timing fields and
// its ConverterProps from worker.properties; the caller sets WorkerID,
// Logger, Registry and Offsets (OpenFileOffsetStore on KeyOffsetFile in
// standalone mode). bootstrap.servers defaults to localhost:9092, as in
// Kafka.
func ParseWorkerProps(props map[string]string) (WorkerConfig, error) {
	cfg := WorkerConfig{ConverterProps: map[string]string{}}
	servers := props[KeyBootstrapServers]
	if strings.TrimSpace(servers) == "" {
		servers = "localhost:9092"
	}
	cfg.BootstrapServers = splitList(servers)
	for key, dst := range map[string]*time.Duration{
		KeyOffsetFlushInterval: &cfg.OffsetFlushInterval,
		KeyOffsetFlushTimeout:  &cfg.OffsetFlushTimeout,
		KeyShutdownTimeout:     &cfg.ShutdownTimeout,
	} {
		v, ok := props[key]
		if !ok {
			continue
		}
		ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || ms < 0 {
			return WorkerConfig{}, fmt.Errorf("%s=%q: want a non-negative number of milliseconds", key, v)
		}
		*dst = time.Duration(ms) * time.Millisecond
	}
	for k, v := range props {
		for _, p := range []string{"key.converter", "value.converter", "header.converter"} {
			if k == p || strings.HasPrefix(k, p+".") {
				cfg.ConverterProps[k] = v
			}
		}
	}
	return cfg, nil
}
