package fjordtest

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxProblems bounds the problems a checker keeps as text; the count of
// the rest is still reported.
const maxProblems = 1000

// PollLog checks what a group consumer polls as it polls: within one
// generation of one member, each partition's records must come at strictly
// increasing offsets (Jepsen's nonmonotonic poll). A consumer may go back
// to its committed offset after a rebalance (a new generation), never
// within one: going back means its fetch position was reset (an
// OFFSET_OUT_OF_RANGE from a leader whose log end is below a high
// watermark it had served) or records came twice. It keeps only the last
// offset per partition and generation, so memory stays small. It is safe
// for concurrent use.
type PollLog struct {
	mu       sync.Mutex
	last     map[pollKey]int64 // guarded by mu
	polled   int64             // guarded by mu: records recorded
	problems []string          // guarded by mu, at most maxProblems
	more     int               // guarded by mu: problems beyond maxProblems
}

type pollKey struct {
	member     string
	generation int32
	tp         topicPartition
}

// NewPollLog returns an empty PollLog.
func NewPollLog() *PollLog { return &PollLog{last: map[pollKey]int64{}} }

// Record notes records one member polled in one generation, in the order
// polled. Call it between PollFetches and AllowRebalance (with
// kgo.BlockRebalanceOnPoll), with the generation from GroupMetadata, so no
// rebalance can come between the poll and the generation read.
func (l *PollLog) Record(member string, generation int32, rs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		k := pollKey{member, generation, topicPartition{r.Topic, r.Partition}}
		if prev, ok := l.last[k]; ok && r.Offset <= prev {
			if len(l.problems) < maxProblems {
				l.problems = append(l.problems, fmt.Sprintf("%s: member %s generation %d polled offset %d after offset %d",
					k.tp, member, generation, r.Offset, prev))
			} else {
				l.more++
			}
		}
		l.last[k] = r.Offset
		l.polled++
	}
}

// Polled returns how many records were recorded.
func (l *PollLog) Polled() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.polled
}

// Generations returns how many (member, generation) pairs were seen.
func (l *PollLog) Generations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	gens := map[[2]any]bool{}
	for k := range l.last {
		gens[[2]any{k.member, k.generation}] = true
	}
	return len(gens)
}

// Check returns the nonmonotonic polls seen so far, one per line of text.
func (l *PollLog) Check() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.problems...)
	if l.more > 0 {
		out = append(out, fmt.Sprintf("... and %d more nonmonotonic polls", l.more))
	}
	return out
}
