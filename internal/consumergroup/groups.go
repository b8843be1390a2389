package consumergroup

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/assignor"
)

// Topics is the cluster metadata a coordinator resolves subscriptions
// against: the broker passes a snapshot of its metadata image.
type Topics interface {
	// ByName returns a topic's ID and partition count.
	ByName(name string) (id TopicID, partitions int32, ok bool)
	// ByID returns a topic's name and partition count.
	ByID(id TopicID) (name string, partitions int32, ok bool)
	// Names lists the topics a regular expression may match (internal
	// topics excluded), in any order.
	Names() []string
}

// Config holds the consumer group settings, each a Kafka broker key.
type Config struct {
	// SessionTimeout is group.consumer.session.timeout.ms (45 s).
	SessionTimeout time.Duration
	// HeartbeatInterval is group.consumer.heartbeat.interval.ms (5 s).
	HeartbeatInterval time.Duration
	// MaxSize is group.consumer.max.size (unlimited).
	MaxSize int
	// Assignors is group.consumer.assignors: the assignors members may
	// name; the first is used when none does ("uniform", "range").
	Assignors []string
	// NewMemberID names a member that joins with ConsumerGroupHeartbeat v0
	// (v1 clients choose their own). Default: a random UUID in Kafka's
	// base64 form. Tests inject a counter.
	NewMemberID func() string
	// Rebalances, if set, counts the target assignments computed for a
	// new group epoch (each a rebalance in KIP-848's terms), for the
	// node's metrics; shared by the node's coordinators.
	Rebalances *atomic.Int64
}

// Kafka's defaults.
const (
	DefaultSessionTimeout    = 45 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
)

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxSize <= 0 {
		c.MaxSize = math.MaxInt
	}
	if len(c.Assignors) == 0 {
		c.Assignors = assignor.Names()
	}
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
	return c
}

// Groups holds the consumer groups of one __consumer_offsets partition. It
// is a pure state machine, driven by one goroutine (the coordinator
// runtime's).
type Groups struct {
	cfg    Config
	groups map[string]*Group
}

// NewGroups returns an empty set of groups.
func NewGroups(cfg Config) *Groups {
	return &Groups{cfg: cfg.withDefaults(), groups: make(map[string]*Group)}
}

// Config returns the effective configuration.
func (gs *Groups) Config() Config { return gs.cfg }

// Get returns a group, nil if unknown.
func (gs *Groups) Get(id string) *Group { return gs.groups[id] }

// IDs returns the group IDs in order.
func (gs *Groups) IDs() []string { return slices.Sorted(maps.Keys(gs.groups)) }

// ErrNotConsumerGroupRecord reports a record type this package does not
// handle.
var ErrNotConsumerGroupRecord = errors.New("consumergroup: not a consumer group record")

// IsRecordType reports whether a key type belongs to consumer groups.
func IsRecordType(typ int16) bool {
	return typ >= TypeGroupMetadata && typ <= TypeCurrentMemberAssignment
}

// Replay applies one record of the partition (a later record replaces an
// earlier one with the same key, as compaction would).
func (gs *Groups) Replay(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	typ := int16(binary.BigEndian.Uint16(key))
	if !IsRecordType(typ) {
		return fmt.Errorf("%w: type %d", ErrNotConsumerGroupRecord, typ)
	}
	return gs.replayRecord(typ, key, value)
}

// Loaded finishes a replay: derived state (ownership, compiled regular
// expressions) is rebuilt. A member whose metadata record was compacted
// away while its assignment record stayed is dropped, with its target.
func (gs *Groups) Loaded() {
	for _, g := range gs.groups {
		for id, m := range g.Members {
			if m.ClientID == "" && m.ClientHost == "" && m.SubscribedTopicNames == nil && m.SubscribedTopicRegex == nil {
				delete(g.Members, id)
				continue
			}
			if m.Assigned == nil {
				m.Assigned = Partitions{}
			}
			if m.PendingRevocation == nil {
				m.PendingRevocation = Partitions{}
			}
			if m.assignmentEpochs == nil {
				m.assignmentEpochs = map[TopicPartition]int32{}
			}
			if m.SubscribedTopicRegex != nil {
				m.regex, _ = compileRegex(*m.SubscribedTopicRegex)
			}
		}
		for id := range g.Target {
			// A target left by a dropped member names partitions no one
			// is meant to get (and topics no one subscribes to).
			if g.Members[id] == nil {
				delete(g.Target, id)
			}
		}
		g.rebuildOwners()
		g.invalidateSubscriptions()
	}
}

// Delete forgets a group, returning the tombstones that delete it from the
// partition. The caller checks it is empty.
func (gs *Groups) Delete(id string) []Record {
	g := gs.groups[id]
	if g == nil {
		return nil
	}
	var recs []Record
	for _, m := range g.sortedMembers() {
		recs = append(recs, removalTombstones(id, m.ID)...)
	}
	recs = append(recs,
		tombstone(groupKey(TypeTargetAssignmentMetadata, id)),
		tombstone(groupKey(TypeGroupMetadata, id)))
	delete(gs.groups, id)
	return recs
}

func removalTombstones(groupID, memberID string) []Record {
	return []Record{
		tombstone(memberKey(TypeCurrentMemberAssignment, groupID, memberID)),
		tombstone(memberKey(TypeTargetAssignmentMember, groupID, memberID)),
		tombstone(memberKey(TypeMemberMetadata, groupID, memberID)),
	}
}

// removeMember drops a member (leave, fence, session expiry): its
// partitions are released, its records tombstoned, and the group epoch
// bumped so the target is recomputed without it.
func (g *Group) removeMember(m *Member) []Record {
	for _, cur := range []Partitions{m.Assigned, m.PendingRevocation} {
		for tp := range cur.each() {
			if g.owners[tp] == m.ID {
				delete(g.owners, tp)
			}
		}
	}
	delete(g.Members, m.ID)
	delete(g.Target, m.ID)
	g.invalidateSubscriptions()
	recs := removalTombstones(g.ID, m.ID)
	g.Epoch++
	return append(recs, groupMetadataRecord(g))
}

// compileRegex compiles a subscription regular expression. Kafka's RE2J
// and Go's regexp share RE2 syntax; the whole topic name must match.
func compileRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// subscribedTopics resolves a member's subscription to topic IDs.
func (m *Member) subscribedTopics(topics Topics, names []string) []TopicID {
	seen := make(map[TopicID]bool)
	var out []TopicID
	addName := func(n string) {
		if id, _, ok := topics.ByName(n); ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, n := range m.SubscribedTopicNames {
		addName(n)
	}
	if m.regex != nil {
		for _, n := range names {
			if m.regex.MatchString(n) {
				addName(n)
			}
		}
	}
	slices.SortFunc(out, compareIDs)
	return out
}

// metadataHash summarises the subscribed topics: a change (a topic created
// or deleted, partitions added) bumps the group epoch, as Kafka's
// KIP-1101 hash does.
func metadataHash(subscribed map[TopicID]assignor.Topic) int64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= prime
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(subscribed), compareIDs) {
		t := subscribed[id]
		mix(id[:])
		mix([]byte(t.Name))
		mix(binary.BigEndian.AppendUint32(nil, uint32(t.Partitions)))
	}
	return int64(h)
}

// subscriptions returns each member's subscribed topic IDs and their union
// with partition counts, from the cache while the union is unchanged.
func (g *Group) subscriptions(topics Topics) (map[string][]TopicID, map[TopicID]assignor.Topic) {
	if g.subs.valid {
		union := make(map[TopicID]assignor.Topic, len(g.subs.union))
		add := func(name string) {
			if id, n, ok := topics.ByName(name); ok {
				union[id] = assignor.Topic{ID: id, Name: name, Partitions: n}
			}
		}
		for _, n := range g.subs.names {
			add(n)
		}
		if len(g.subs.regexes) > 0 {
			for _, n := range topics.Names() {
				for _, re := range g.subs.regexes {
					if re.MatchString(n) {
						add(n)
						break
					}
				}
			}
		}
		if len(union) == len(g.subs.union) && metadataHash(union) == g.subs.hash {
			return g.subs.perMember, g.subs.union
		}
	}
	perMember, union := g.resolve(topics)
	seenName, seenRegex := map[string]bool{}, map[string]bool{}
	c := subscriptionCache{valid: true, perMember: perMember, union: union, hash: metadataHash(union)}
	for _, m := range g.sortedMembers() {
		for _, n := range m.SubscribedTopicNames {
			if !seenName[n] {
				seenName[n] = true
				c.names = append(c.names, n)
			}
		}
		if m.regex != nil && !seenRegex[m.regex.String()] {
			seenRegex[m.regex.String()] = true
			c.regexes = append(c.regexes, m.regex)
		}
	}
	g.subs = c
	return perMember, union
}

// resolve computes each member's subscribed topic IDs and the union with
// partition counts.
func (g *Group) resolve(topics Topics) (map[string][]TopicID, map[TopicID]assignor.Topic) {
	var names []string
	for _, m := range g.Members {
		if m.regex != nil {
			names = topics.Names()
			break
		}
	}
	perMember := make(map[string][]TopicID, len(g.Members))
	union := make(map[TopicID]assignor.Topic)
	for _, m := range g.sortedMembers() {
		ids := m.subscribedTopics(topics, names)
		perMember[m.ID] = ids
		for _, id := range ids {
			if _, ok := union[id]; ok {
				continue
			}
			name, n, _ := topics.ByID(id)
			union[id] = assignor.Topic{ID: id, Name: name, Partitions: n}
		}
	}
	return perMember, union
}

// preferredAssignor is the assignor most members ask for (ties: the
// configured order), or the configured default.
func (gs *Groups) preferredAssignor(g *Group) assignor.Assignor {
	votes := make(map[string]int)
	for _, m := range g.Members {
		if m.ServerAssignor != nil {
			votes[*m.ServerAssignor]++
		}
	}
	best, bestVotes := gs.cfg.Assignors[0], 0
	for _, name := range gs.cfg.Assignors {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	a, ok := assignor.ByName(best)
	if !ok {
		a = assignor.Uniform()
	}
	return a
}

// computeTarget recomputes the target assignment for the group epoch,
// returning the records of the members whose target changed and the new
// target epoch.
func (gs *Groups) computeTarget(g *Group, perMember map[string][]TopicID, union map[TopicID]assignor.Topic) []Record {
	a := gs.preferredAssignor(g)
	members := make([]assignor.Member, 0, len(g.Members))
	for _, m := range g.sortedMembers() {
		am := assignor.Member{ID: m.ID, Topics: perMember[m.ID], Current: g.Target[m.ID]}
		if m.InstanceID != nil {
			am.InstanceID = *m.InstanceID
		}
		if m.RackID != nil {
			am.Rack = *m.RackID
		}
		members = append(members, am)
	}
	result := a.Assign(members, union)
	var recs []Record
	for _, m := range g.sortedMembers() {
		next := Partitions{}
		for t, ps := range result[m.ID] {
			next.add(t, ps...)
		}
		if old, ok := g.Target[m.ID]; !ok || !old.equal(next) {
			g.Target[m.ID] = next
			recs = append(recs, targetMemberRecord(g.ID, m.ID, next))
		}
	}
	g.Assignor = a.Name()
	if g.AssignmentEpoch != g.Epoch && gs.cfg.Rebalances != nil {
		gs.cfg.Rebalances.Add(1)
	}
	g.AssignmentEpoch = g.Epoch
	return append(recs, targetMetadataRecord(g))
}

// randomMemberID is a random UUID written as Kafka writes Uuid: URL-safe
// base64 without padding.
func randomMemberID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(u[:])
}
