package netserve

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/loglimit"
)

// Unlimited is Kafka's "no limit" for the connection keys (Int.MaxValue).
const Unlimited = 1<<31 - 1

// defaultMaxConnectionsCap bounds the default of max.connections when the
// descriptor limit is huge (Go raises the soft limit to the hard one, often
// 2^20): each connection costs about 150 KiB (two 64 KiB buffers and two
// goroutines), so 16384 of them are some 2.5 GiB, already more than a
// broker should give to idle clients.
const defaultMaxConnectionsCap = 16384

// DefaultMaxConnections is max.connections when the key is not set. Kafka's
// default is unbounded, which lets clients take every file descriptor and
// leaves none for segment files, replication and the controller: the
// accept loop then fails for as long as they stay. Fjord keeps half of the
// RLIMIT_NOFILE soft limit for those and offers the other half to client
// connections, up to defaultMaxConnectionsCap.
func DefaultMaxConnections() int {
	soft, ok := fileLimit()
	if !ok {
		return defaultMaxConnectionsCap
	}
	return int(max(1, min(defaultMaxConnectionsCap, soft/2)))
}

// QuotaConfig holds the node-wide connection limits, with Kafka's keys;
// Unlimited (or more) turns one off.
type QuotaConfig struct {
	MaxConnections      int // max.connections: open connections, all broker listeners together
	MaxConnectionsPerIP int // max.connections.per.ip: open connections from one address
	// MaxCreationRate is max.connection.creation.rate: new connections
	// a second, all broker listeners together.
	MaxCreationRate int
}

// Quotas counts the open connections of a node's broker listeners, by
// client address, and paces their accepts. One is shared by the loops of
// those listeners (the limits are node-wide, as Kafka's); it is safe for
// concurrent use.
//
// Over max.connections or max.connections.per.ip a new connection is
// closed as soon as it is accepted. Kafka closes at once only for the
// per-IP limit and blocks its acceptor at max.connections until a slot
// frees; Fjord refuses there too, so a client learns at once and retries
// with its reconnect backoff instead of waiting in the listen backlog for
// its request timeout. Over max.connection.creation.rate the accept loop
// waits, as Kafka's acceptor does, so a reconnect storm is spread out
// rather than refused.
type Quotas struct {
	cfg    QuotaConfig
	logs   *loglimit.Limiter // refusal lines, per address and limit
	logger *slog.Logger

	mu     sync.Mutex // guards the fields below
	total  int
	perIP  map[netip.Addr]int
	tokens float64   // the creation-rate bucket: accepts allowed now
	filled time.Time // when tokens was last topped up
}

// NewQuotas returns quotas enforcing cfg; refusals are logged to logger,
// at most once per loglimit.Every per address.
func NewQuotas(cfg QuotaConfig, logger *slog.Logger) *Quotas {
	q := &Quotas{cfg: cfg, logs: loglimit.New(), logger: logger, perIP: map[netip.Addr]int{}}
	q.tokens = q.burst()
	return q
}

// rate is the creation rate in connections a second; 0 when unlimited.
// A configured 0 paces to one a second: Kafka caps a throttle at its
// one-second quota window, so a rate of 0 never stops accepts there either.
func (q *Quotas) rate() float64 {
	if q.cfg.MaxCreationRate >= Unlimited {
		return 0
	}
	return float64(max(q.cfg.MaxCreationRate, 1))
}

// burst is the bucket's size: one second's worth of connections. Kafka
// measures the rate over several one-second windows, which allows a
// similar burst after a quiet spell.
func (q *Quotas) burst() float64 { return q.rate() }

// wait takes a token from the creation-rate bucket, or reports how long
// until one is there.
func (q *Quotas) wait(now time.Time) time.Duration {
	r := q.rate()
	if r == 0 {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.filled.IsZero() {
		q.tokens = min(q.burst(), q.tokens+now.Sub(q.filled).Seconds()*r)
	}
	q.filled = now
	if q.tokens >= 1 {
		q.tokens--
		return 0
	}
	return time.Duration((1 - q.tokens) / r * float64(time.Second))
}

// admission is a connection counted by admit, to be given back by release.
type admission struct {
	ip      netip.Addr
	byIP    bool // counted against ip
	inTotal bool // counted against max.connections
}

// admit counts a connection from addr on a listener, or refuses it
// (ok false) when that would pass a limit. protected connections (the
// inter-broker listener) count toward max.connections but are never
// refused by it; max.connections.per.ip applies to every listener, as in
// Kafka.
func (q *Quotas) admit(addr net.Addr, listener string, protected bool, now time.Time) (admission, bool) {
	a := admission{inTotal: true}
	if ta, ok := addr.(*net.TCPAddr); ok {
		a.ip, a.byIP = ta.AddrPort().Addr().Unmap(), true
	}
	q.mu.Lock()
	var limit string
	var most int
	switch {
	case !protected && q.total >= q.cfg.MaxConnections:
		limit, most = "max.connections", q.cfg.MaxConnections
	case a.byIP && q.perIP[a.ip] >= q.cfg.MaxConnectionsPerIP:
		limit, most = "max.connections.per.ip", q.cfg.MaxConnectionsPerIP
	default:
		q.total++
		if a.byIP {
			q.perIP[a.ip]++
		}
		q.mu.Unlock()
		return a, true
	}
	q.mu.Unlock()
	if ok, held := q.logs.Allow(a.ip.String()+" "+limit, now); ok {
		q.logger.Warn("connection refused: over the connection limit", "listener", listener, "remote", addr.String(),
			"limit", limit, "max", most, "similar_suppressed", held)
	}
	return admission{}, false
}

// release gives back what admit counted.
func (q *Quotas) release(a admission) {
	if !a.inTotal {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.total--
	if a.byIP {
		if q.perIP[a.ip] <= 1 {
			delete(q.perIP, a.ip)
		} else {
			q.perIP[a.ip]--
		}
	}
}

// Open is the number of connections counted now.
func (q *Quotas) Open() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}
