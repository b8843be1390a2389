package chaos

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// knownBugsEnv=1 makes the symptoms of known Fjord bugs fail the nemesis
// tests like any other problem. Unset, they are quarantined: logged loudly
// as KNOWN BUG with the problems themselves, and the test goes on to pass
// if nothing else is wrong, so CI stays green while the bug is open and
// still catches everything else. Remove a bug from knownBugs once it is
// fixed.
const knownBugsEnv = "FJORD_CHAOS_KNOWN_BUGS"

// knownBug is a reported Fjord bug and how to recognise its symptoms among
// a checker's problems.
type knownBug struct {
	id      string
	summary string
	// match reports whether a problem (one line of a checker's output) is
	// this bug's symptom, given where the replica logs show its traces.
	match func(problem string, tails keptTails) bool
}

// bugFalseAck: an acks=all produce waiting on a leader for its high
// watermark is acknowledged after that replica lost leadership, truncated
// the appended records and adopted the new leader's high watermark:
// partition.Pending.Wait waits for HighWatermark() >= offset only, with no
// check that the replica still leads in the epoch it appended in. The
// acknowledged offset then holds another record (the new leader's), so
// the acknowledged record is lost. Seen with SIGSTOP beyond the session
// timeout, isolation with clients still connected, and controlled
// shutdown (any demotion of a live leader with produces in flight). The
// same demotion also fails in-flight produces with OFFSET_OUT_OF_RANGE
// (Log.Sync below a truncated log end) instead of NOT_LEADER_OR_FOLLOWER,
// which franz-go does not retry.
var bugFalseAck = knownBug{
	id:      "false-ack-after-demotion",
	summary: "acks=all produce acknowledged by a demoted leader after it truncated the records (partition.Pending.Wait checks only the high watermark)",
	match: func(p string, _ keptTails) bool {
		return strings.Contains(p, "read back differs from acknowledged") ||
			strings.Contains(p, "acknowledged twice with different records")
	},
}

// bugEpochStamp: an old leader that returns as a follower keeps the tail
// it appended but never replicated, when the new leader has not yet
// written in its own epoch. Reproduced (about 3 runs in 5) by
// TestChaos_OldLeaderTailIsTruncated/own_epoch_and_old_leader_returns_first.
// Three things combine: (1) a leader's epoch cache gets its epoch only with
// its first append (Log.Append), not at election as Kafka's does,
// so OffsetForLeaderEpoch for the old leader's latest epoch, which the new
// leader never saw, answers UNDEFINED; (2) on UNDEFINED the fetcher
// truncates to the follower's own high watermark, which after a restart is
// no lower bound: it starts at the log end without a checkpoint, and
// opening a partition as its own single-replica leader (ISR {self},
// min.insync.replicas capped by one replica) advances it to the durable
// end before the metadata makes it a follower; (3) the follower re-asks
// only when an append fails, so once the new leader's first batch ends
// exactly at the follower's log end, fetching carries on over the
// divergence and the follower rejoins the ISR. With different records
// (the targeted test) the in-sync replicas differ below the high
// watermark: acknowledged records would be lost if that replica led. In
// the nemesis runs the new leader's first batch is the client's retry of
// the very batch the old leader kept, so the records agree and only the
// leader epoch stamps differ (epoch caches diverge); that symptom alone is
// quarantined there, seen under SIGKILL of a leader or of the active
// controller. It also loses acknowledged records there: once the replica
// that kept its tail leads again, the records the others hold at those
// offsets (acknowledged) are gone from what consumers read, and the
// client's retry of the tail's batch, written again by the next leader,
// reads back twice. Problems located at offsets a replica kept as a tail
// (fjordtest.KeptTails) are quarantined as this bug.
var bugEpochStamp = knownBug{
	id:      "old-leader-tail-kept",
	summary: "a returning old leader keeps its unreplicated tail when the new leader has not written in its epoch yet (OffsetForLeaderEpoch UNDEFINED, truncation to an inflated high watermark)",
	match: func(p string, tails keptTails) bool {
		return strings.Contains(p, fjordtest.EpochStampOnly) || tails.locate(p)
	},
}

// keptTails are the tails replicas kept (fjordtest.KeptTails), by
// "topic/partition".
type keptTails map[string][]fjordtest.TailRange

// offsetsIn matches the offsets a problem names.
var offsetsIn = regexp.MustCompile(`offsets? (\d+)`)

// locate reports whether problem, which starts with its "topic/partition",
// names an offset inside a kept tail of that partition.
func (k keptTails) locate(problem string) bool {
	tp := problem[:strings.IndexAny(problem+":", " :")]
	ranges := k[tp]
	if len(ranges) == 0 {
		return false
	}
	for _, m := range offsetsIn.FindAllStringSubmatch(problem, -1) {
		off, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if r.Contains(off) {
				return true
			}
		}
	}
	return false
}

// bugLivelock: a follower whose log ends inside one of the leader's
// batches (it kept records the leader does not have, with other batch
// boundaries) fetches from its log end, gets the leader's batch starting
// before it, fails the append ("invalid append: batch at byte 0 has
// offset X, expected Y"), asks OffsetForLeaderEpoch again, is not
// truncated, and loops forever: it never rejoins the ISR, and with both
// followers in that state the partition refuses acks=all writes
// (NOT_ENOUGH_REPLICAS) for good. Seen once under SIGKILL of the active
// controller (partition 1 stuck with ISR [3], followers at 786 and 390
// against leader batches at 785 and 388). Most likely bugEpochStamp's
// truncation to an inflated high watermark again (the follower's latest
// epoch unknown to the leader, so UNDEFINED, so no truncation), with
// batch boundaries that do not line up; not confirmed. The nemesis runner
// skips the rest of a test that hits it (skipOnKnownLivelock).
var bugLivelock = knownBug{
	id:      "follower-append-livelock",
	summary: "a follower whose log ends inside a leader batch loops on invalid append and never rejoins the ISR (partition stuck)",
	match: func(p string, _ keptTails) bool {
		return strings.Contains(p, "invalid append: batch at byte 0 has offset")
	},
}

// skipOnKnownLivelock skips the test, unless knownBugsEnv=1, when a
// follower of one of the partitions loops on bugLivelock's failed append:
// the partition will not recover, so the rest of the test cannot run.
func (w *workload) skipOnKnownLivelock(t *testing.T, when string, partitions []int32) {
	t.Helper()
	if os.Getenv(knownBugsEnv) == "1" || !slices.ContainsFunc(knownBugs, func(b knownBug) bool { return b.id == bugLivelock.id }) {
		return // fixed: a stuck partition fails the test like any other problem
	}
	for _, p := range partitions {
		sig := fmt.Sprintf("partition %s-%d: log: invalid append: batch at byte 0 has offset", replTopic, p)
		for _, n := range w.c.Nodes() {
			if strings.Count(n.Proc.Output(), sig) >= livelockRepeats {
				t.Skipf("SKIPPED %s: KNOWN BUG %s: %s (node %d's follower of partition %d repeats %q). %s=1 makes it fail.",
					when, bugLivelock.id, bugLivelock.summary, n.ID, p, sig, knownBugsEnv)
			}
		}
	}
}

// livelockRepeats is how many failed appends of one partition in a node's
// output make bugLivelock's signature (a transient mismatch after a
// leader change is fixed by the next truncation, at once).
const livelockRepeats = 10

// bugStartupRace: a node of a new cluster sometimes exits during its
// first start with "group coordinator: __consumer_offsets-N is led here
// but not hosted": the node registers while the controller creates
// __consumer_offsets, the metadata makes it leader of a partition the
// partition manager has not opened yet, and broker.StartGroups refuses
// (after a 10 s controlled shutdown that cannot finish). Seen under
// go test ./... load. Quarantined by clusterConfig: StartCluster starts
// such a node once more, as a supervisor would, and logs it.
var bugStartupRace = knownBug{
	id:      "startup-coordinator-race",
	summary: "a node's first start fails with \"group coordinator: __consumer_offsets-N is led here but not hosted\"",
	match:   func(p string, _ keptTails) bool { return strings.Contains(p, "is led here but not hosted") },
}

// clusterConfig is the ClusterConfig of the nemesis and targeted tests:
// proxied or not, clusterOverrides, and a second start for a node whose
// first one failed (bugStartupRace) unless knownBugsEnv=1.
func clusterConfig(proxied bool) fjordtest.ClusterConfig {
	return fjordtest.ClusterConfig{Proxied: proxied, Overrides: clusterOverrides} // bugStartupRace is fixed: no second start
}

// bugConsumedThenTruncated: a consumer read records that a later leader
// did not have. franz-go then finds (OffsetForLeaderEpoch, KIP-320) that
// its position is past where its epoch ends on the new leader, reports
// "lost records" and resets back: a poll at a lower offset in the same
// generation. Seen in CI twice (session 7, TestNemesis_IsolateNode; the
// second run also lost two acknowledged records, nemesis/3 offsets
// 826-827, which the ledger failed on). Cause: a leader re-applying the
// leadership it already held (the metadata hands every partition of a
// topic over when any of them changes) forgot its ISR expansion in flight,
// so its high watermark counted only the old ISR while the controller had
// committed the new member, and elected it next. Fixed the same day
// (partition.Replica.ApplyLeadership ignores a leadership that is not
// newer; testdata/replica/isr).
var bugConsumedThenTruncated = knownBug{
	id:      "consumed-then-truncated",
	summary: "a consumer read records (below the old leader's high watermark) that the next leader lacked, and was reset back",
	match: func(p string, _ keptTails) bool {
		return nonmonotonicPoll.MatchString(p)
	},
}

var nonmonotonicPoll = regexp.MustCompile(`^\S+: member \S+ generation \d+ polled offset \d+ after offset \d+$`)

// knownBugs are the bugs whose symptoms are quarantined, the most
// specific first: a problem goes to the first that matches.
//
// Empty: the bugs described above (false-ack-after-demotion,
// old-leader-tail-kept, follower-append-livelock, startup-coordinator-race,
// consumed-then-truncated) were fixed on 2026-12-07 and the nemesis and
// targeted tests pass strictly; their descriptions stay as the record of
// what these tests found. A new bug that cannot be fixed at once goes here.
var knownBugs = []knownBug{}

// triage returns the problems no known bug explains, after logging those
// one does (quarantined), or all of them when knownBugsEnv=1.
func triage(t *testing.T, checker string, problems []string, tails keptTails) []string {
	t.Helper()
	if os.Getenv(knownBugsEnv) == "1" {
		return problems
	}
	var unknown []string
	known := map[string][]string{}
	for _, p := range problems {
		matched := false
		for _, b := range knownBugs {
			if b.match(p, tails) {
				known[b.id] = append(known[b.id], p)
				matched = true
				break
			}
		}
		if !matched {
			unknown = append(unknown, p)
		}
	}
	for _, b := range knownBugs {
		ps := known[b.id]
		if len(ps) == 0 {
			continue
		}
		shown := ps[:min(len(ps), 10)]
		t.Logf("KNOWN BUG %s (quarantined; %s=1 makes it fail): %s\n  %s: %d problem(s), first %d:\n  %s",
			b.id, knownBugsEnv, b.summary, checker, len(ps), len(shown), strings.Join(shown, "\n  "))
	}
	return unknown
}

// offsetOf returns the "topic/partition offset N" a ledger or sequence
// problem starts with, or "".
func offsetOf(problem string) string {
	at, _, ok := strings.Cut(problem, ":")
	if !ok || !strings.Contains(at, " offset ") {
		return ""
	}
	return at
}

// triageSequences quarantines production-order problems at offsets whose
// ledger problems were quarantined (a falsely acknowledged record's offset
// belongs to another record, so it may well be out of its producer's
// order), and reports the rest.
func triageSequences(t *testing.T, ledgerProblems, seqProblems []string, tails keptTails) []string {
	t.Helper()
	if os.Getenv(knownBugsEnv) == "1" {
		return seqProblems
	}
	quarantined := map[string]bool{}
	for _, p := range ledgerProblems {
		for _, b := range knownBugs {
			if b.match(p, tails) {
				quarantined[offsetOf(p)] = true
			}
		}
	}
	var unknown, known []string
	for _, p := range seqProblems {
		at, prevAt := offsetOf(p), ""
		if i := strings.LastIndex(p, " at "); i >= 0 {
			topicPart, _, _ := strings.Cut(at, " offset ")
			prevAt = topicPart + " offset " + p[i+len(" at offset "):]
		}
		if quarantined[at] || quarantined[prevAt] {
			known = append(known, p)
		} else {
			unknown = append(unknown, p)
		}
	}
	if len(known) > 0 {
		t.Logf("KNOWN BUG (quarantined): %d production-order problem(s) at offsets with a known bug's ledger problems, e.g. %s",
			len(known), known[0])
	}
	return unknown
}

// checkTriaged reports a checker's problems that no known bug explains.
func checkTriaged(t *testing.T, checker string, problems []string, tails keptTails) {
	t.Helper()
	report(t, checker, triage(t, checker, problems, tails))
}

// The quarantine takes exactly the known symptoms: other problems of the
// same checkers still fail the test, and knownBugsEnv=1 takes nothing.
func TestTriage_QuarantinesOnlyKnownSymptoms(t *testing.T) {
	// The quarantine itself, with the bugs it was written for (fixed
	// since, so no longer in knownBugs).
	saved := knownBugs
	knownBugs = []knownBug{bugEpochStamp, bugFalseAck}
	t.Cleanup(func() { knownBugs = saved })
	ledger := []string{
		"nemesis/1 offset 7: read back differs from acknowledged: key \"a\" != \"b\"",
		"nemesis/1 offset 9: acknowledged record (key \"c\") missing",
		"nemesis/2 offset 3: duplicates the record at offset 1 (key \"d\")",
	}
	replicas := []string{
		"nemesis/0: in-sync replicas 1 and 2 differ below the high watermark 9: batch 2: offsets 4-4 epoch 1 (62 bytes) vs offsets 4-4 epoch 0 (62 bytes) (" + fjordtest.EpochStampOnly + ")",
		"nemesis/0: in-sync replicas 1 and 3 differ below the high watermark 9: batch 2: offsets 4-4 epoch 1 (62 bytes) vs offsets 4-4 epoch 1 (62 bytes)",
	}
	seqs := []string{
		"nemesis/1 offset 8: w0's sequence 5 acknowledged after its sequence 6 at offset 7",
		"nemesis/1 offset 12: w1's sequence 5 acknowledged after its sequence 6 at offset 11",
	}
	t.Setenv(knownBugsEnv, "")
	if got := triage(t, "ledger", ledger, nil); len(got) != 2 || got[0] != ledger[1] || got[1] != ledger[2] {
		t.Errorf("ledger left %q, want the missing record and the duplicate", got)
	}
	if got := triage(t, "replica logs", replicas, nil); len(got) != 1 || got[0] != replicas[1] {
		t.Errorf("replica logs left %q, want the real difference", got)
	}
	if got := triageSequences(t, ledger, seqs, nil); len(got) != 1 || got[0] != seqs[1] {
		t.Errorf("sequences left %q, want the one away from a falsely acknowledged offset", got)
	}
	// Where a replica kept a tail, the problems at those offsets, and
	// only those, are that bug's.
	tails := keptTails{"nemesis/1": {{Replica: 3, From: 9, To: 9}}, "nemesis/2": {{Replica: 1, From: 40, To: 41}}}
	if got := triage(t, "ledger", ledger, tails); len(got) != 1 || got[0] != ledger[2] {
		t.Errorf("with kept tails, ledger left %q, want the duplicate elsewhere", got)
	}
	kept := []string{
		"nemesis/2: leader epoch 7 starts at offset 40 on replica 2 but at 42 on replica 1 (two leaders in one epoch, or a replica that kept a tail it should have truncated)",
		"nemesis/2: in-sync replicas 1 and 2 differ below the high watermark 90: batch 3: offsets 40-40 epoch 7 (95 bytes) vs offsets 40-40 epoch 6 (99 bytes)",
		"nemesis/2 offset 41: duplicates the record at offset 40 (key \"w0-1\")",
		"nemesis/2 offset 43: duplicates the record at offset 42 (key \"w0-2\")",
		"nemesis/3: in-sync replicas 1 and 2 differ below the high watermark 90: batch 3: offsets 40-40 epoch 7 (95 bytes) vs offsets 40-40 epoch 6 (99 bytes)",
	}
	if got := triage(t, "mixed", kept, tails); len(got) != 2 || got[0] != kept[3] || got[1] != kept[4] {
		t.Errorf("with kept tails, left %q, want the problems outside the tail", got)
	}
	t.Setenv(knownBugsEnv, "1")
	if got := triage(t, "ledger", ledger, tails); len(got) != len(ledger) {
		t.Errorf("strict: ledger left %d of %d", len(got), len(ledger))
	}
	if got := triageSequences(t, ledger, seqs, tails); len(got) != len(seqs) {
		t.Errorf("strict: sequences left %d of %d", len(got), len(seqs))
	}
}

// The quarantine of consumed-then-truncated takes its symptom as the poll
// checker prints it, and nothing else.
func TestBugConsumedThenTruncated_Matches(t *testing.T) {
	if !bugConsumedThenTruncated.match("nemesis/4: member kgo-4e6a5acf-f2c8-46bf-8e79-c66106c586a7 generation 1 polled offset 2019 after offset 2021", nil) {
		t.Error("the symptom seen in CI is not matched")
	}
	if bugConsumedThenTruncated.match("nemesis/2 offset 761: acknowledged twice with different records", nil) {
		t.Error("a ledger problem is matched")
	}
}
