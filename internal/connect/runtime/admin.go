package runtime

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// Defaults of a task's admin operations, Kafka's AdminClient's.
const (
	defaultAdminAPITimeout     = 60 * time.Second // default.api.timeout.ms
	defaultAdminRequestTimeout = 30 * time.Second // request.timeout.ms
)

// AdminSettings are a task's admin client settings, read from Kafka's
// AdminClient keys: the worker's admin.* keys, with the connector's
// admin.override.* keys over them (KIP-458).
type AdminSettings struct {
	// Opts are the kgo options: client.id, retries, retry.backoff.ms.
	Opts []kgo.Opt
	// APITimeout is default.api.timeout.ms: how long one admin
	// operation may take, retries included.
	APITimeout time.Duration
	// RequestTimeout is request.timeout.ms: the timeout a CreateTopics
	// request gives the broker.
	RequestTimeout time.Duration
}

// AdminOverrides reads the AdminClient keys of props (prefix removed by
// the caller: "client.id", not "admin.client.id"). It returns the keys
// kgo has no counterpart of, for the caller to log.
func AdminOverrides(props map[string]string) (AdminSettings, []string, error) {
	s := AdminSettings{APITimeout: defaultAdminAPITimeout, RequestTimeout: defaultAdminRequestTimeout}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		v := strings.TrimSpace(props[k])
		n, numErr := strconv.ParseInt(v, 10, 32)
		if numErr == nil && n < 0 {
			numErr = fmt.Errorf("negative")
		}
		bad := func() (AdminSettings, []string, error) {
			return AdminSettings{}, nil, fmt.Errorf("admin setting %s=%q: want a non-negative number", k, props[k])
		}
		switch k {
		case "client.id":
			s.Opts = append(s.Opts, kgo.ClientID(v))
		case "retries":
			if numErr != nil {
				return bad()
			}
			s.Opts = append(s.Opts, kgo.RequestRetries(int(n)))
		case "retry.backoff.ms":
			if numErr != nil {
				return bad()
			}
			d := time.Duration(n) * time.Millisecond
			s.Opts = append(s.Opts, kgo.RetryBackoffFn(func(int) time.Duration { return d }))
		case "default.api.timeout.ms":
			if numErr != nil {
				return bad()
			}
			s.APITimeout = time.Duration(n) * time.Millisecond
		case "request.timeout.ms":
			if numErr != nil {
				return bad()
			}
			s.RequestTimeout = time.Duration(n) * time.Millisecond
		default:
			unknown = append(unknown, k)
		}
	}
	return s, unknown, nil
}

// WorkerAdminProps returns the worker's admin.* keys, prefix removed,
// after checking them; the keys kgo has no counterpart of are logged.
func WorkerAdminProps(worker map[string]string, logger *slog.Logger) (map[string]string, error) {
	props := withPrefix(worker, "admin.")
	_, unknown, err := AdminOverrides(props)
	if err != nil {
		return nil, err
	}
	for _, k := range unknown {
		logger.Warn("worker setting not applied: Fjord's clients have no counterpart of it", "key", "admin."+k)
	}
	return props, nil
}

// taskAdmin is a task's admin client, for what Kafka's tasks do through
// their AdminClient: creating the topics of KIP-158 and the dead-letter
// queue topic. It is its own client, so admin.* and admin.override.*
// apply to it alone; it connects on first use (most tasks never create a
// topic) and is closed with the task.
type taskAdmin struct {
	opts     []kgo.Opt
	settings AdminSettings

	mu sync.Mutex
	cl *kgo.Client // guarded by mu; nil until first use
}

// newTaskAdmin merges the worker's admin.* keys with the connector's
// admin.override.* keys (allowed by the worker's override policy, which
// is checked again here as Kafka's Worker does at task start).
func newTaskAdmin(w *Worker, id connect.TaskID, log *slog.Logger, conn map[string]string) (*taskAdmin, error) {
	props := maps.Clone(w.cfg.AdminProps)
	if props == nil {
		props = map[string]string{}
	}
	for k, v := range withPrefix(conn, connect.AdminOverridePrefix) {
		if !w.cfg.OverridePolicy.Allows(k) {
			return nil, fmt.Errorf("connector client override %s%s: not allowed by this worker's %s=%s",
				connect.AdminOverridePrefix, k, connect.WorkerClientOverridePolicy, w.cfg.OverridePolicy)
		}
		props[k] = v
	}
	s, unknown, err := AdminOverrides(props)
	if err != nil {
		return nil, fmt.Errorf("connector client override: %w", err)
	}
	for _, k := range unknown {
		if _, own := conn[connect.AdminOverridePrefix+k]; own {
			log.Warn("connector setting not applied: Fjord's clients have no counterpart of it", "key", connect.AdminOverridePrefix+k)
		}
	}
	opts := append(w.clientOpts(id, kgo.ClientID("connector-adminclient-"+taskName(id))), s.Opts...)
	return &taskAdmin{opts: opts, settings: s}, nil
}

// client returns the admin client, connecting it on first use.
func (a *taskAdmin) client() (*kadm.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cl == nil {
		cl, err := kgo.NewClient(a.opts...)
		if err != nil {
			return nil, fmt.Errorf("admin client: %w", err)
		}
		a.cl = cl
	}
	adm := kadm.NewClient(a.cl)
	adm.SetTimeoutMillis(int32(min(a.settings.RequestTimeout/time.Millisecond, 1<<31-1)))
	return adm, nil
}

// close closes the client if it was made.
func (a *taskAdmin) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cl != nil {
		a.cl.Close()
		a.cl = nil
	}
}
