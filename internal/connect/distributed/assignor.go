package distributed

import (
	"cmp"
	"slices"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// Member is one worker in a rebalance, as its join metadata says.
type Member struct {
	ID      string
	Current Assignment
}

// AssignorState is what the leader remembers between rebalances (Kafka's
// IncrementalCooperativeAssignor fields): what each worker was left with
// after the last round, and the scheduled delay for departed workers.
// A new leader starts with the zero value, as Kafka's does.
type AssignorState struct {
	// Previous is every worker's assignment after the last round, by
	// member ID.
	Previous map[string]Assignment
	// Lost is what departed workers held and nobody runs yet, kept
	// unassigned until DelayUntil.
	Lost       Assignment
	DelayUntil time.Time
}

// AssignInput is one rebalance.
type AssignInput struct {
	Members []Member
	// Connectors and Tasks are what the config topic holds now.
	Connectors []string
	Tasks      []connect.TaskID
	// MaxDelay is scheduled.rebalance.max.delay.ms.
	MaxDelay time.Duration
	Now      time.Time
	State    AssignorState
}

// MemberAssignment is one worker's share of the outcome: what it starts,
// what it stops, and when the leader wants to look again (the next
// rebalance, for a scheduled delay).
type MemberAssignment struct {
	Assigned, Revoked Assignment
	Delay             time.Duration
}

// item is a connector (task < 0) or a task.
type item struct {
	connector string
	task      int // ConnectorTask for the connector itself
}

func itemsOf(a Assignment) []item {
	out := make([]item, 0, len(a.Connectors)+len(a.Tasks))
	for _, c := range a.Connectors {
		out = append(out, item{c, int(ConnectorTask)})
	}
	for _, t := range a.Tasks {
		out = append(out, item{t.Connector, t.Task})
	}
	return out
}

func (i item) isConnector() bool { return i.task == int(ConnectorTask) }

func cmpItem(a, b item) int {
	return cmp.Or(cmp.Compare(a.connector, b.connector), cmp.Compare(a.task, b.task))
}

func assignmentOf(items []item) Assignment {
	var a Assignment
	slices.SortFunc(items, cmpItem)
	for _, i := range items {
		if i.isConnector() {
			a.Connectors = append(a.Connectors, i.connector)
		} else {
			a.Tasks = append(a.Tasks, connect.TaskID{Connector: i.connector, Task: i.task})
		}
	}
	return a
}

// Assign computes a rebalance's outcome, Kafka's incremental cooperative
// assignment (KIP-415), in order:
//  1. what no longer exists (deleted connectors and tasks), and any second
//     copy of something two workers run, is revoked;
//  2. what departed workers held (in State.Previous, held by no member
//     now) is kept aside until MaxDelay after it was first missed, so a
//     worker that restarts within the delay gets its work back; after the
//     delay it is assigned like new work;
//  3. new work goes to the least loaded workers, connectors and tasks
//     counted apart;
//  4. when nothing is new but loads differ by more than one (a worker
//     joined), the most loaded workers give up their excess (revoked now,
//     assigned next round, when they have stopped it).
//
// It is pure: the same input gives the same output.
func Assign(in AssignInput) (map[string]MemberAssignment, AssignorState) {
	members := slices.Clone(in.Members)
	slices.SortFunc(members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	configured := map[item]bool{}
	for _, c := range in.Connectors {
		configured[item{c, int(ConnectorTask)}] = true
	}
	for _, t := range in.Tasks {
		configured[item{t.Connector, t.Task}] = true
	}

	held := map[string][]item{}    // what each member keeps
	revoked := map[string][]item{} // what each member stops
	owner := map[item]string{}
	for _, m := range members {
		for _, it := range itemsOf(m.Current) {
			_, taken := owner[it]
			if !configured[it] || taken {
				revoked[m.ID] = append(revoked[m.ID], it)
				continue
			}
			owner[it] = m.ID
			held[m.ID] = append(held[m.ID], it)
		}
	}

	// Lost work: held last round by someone, held by no member now.
	present := map[string]bool{}
	for _, m := range members {
		present[m.ID] = true
	}
	lostSet := map[item]bool{}
	for id, a := range in.State.Previous {
		if present[id] {
			continue
		}
		for _, it := range itemsOf(a) {
			if configured[it] && owner[it] == "" {
				lostSet[it] = true
			}
		}
	}
	for _, it := range itemsOf(in.State.Lost) {
		if configured[it] && owner[it] == "" {
			lostSet[it] = true
		}
	}
	state := AssignorState{Previous: map[string]Assignment{}}
	var delay time.Duration
	if len(lostSet) > 0 && in.MaxDelay > 0 {
		until := in.State.DelayUntil
		if until.IsZero() {
			until = in.Now.Add(in.MaxDelay)
		}
		if in.Now.Before(until) {
			// Keep it aside: the worker may come back.
			var lost []item
			for it := range lostSet {
				lost = append(lost, it)
				owner[it] = "(lost)"
			}
			state.Lost, state.DelayUntil = assignmentOf(lost), until
			delay = until.Sub(in.Now)
		}
	}

	// New work: configured, owned by nobody.
	var fresh []item
	for it := range configured {
		if owner[it] == "" {
			fresh = append(fresh, it)
		}
	}
	slices.SortFunc(fresh, cmpItem)
	assigned := map[string][]item{}
	if len(members) > 0 {
		for _, it := range fresh {
			m := leastLoaded(members, held, it.isConnector())
			held[m] = append(held[m], it)
			assigned[m] = append(assigned[m], it)
		}
		if len(fresh) == 0 && delay == 0 && !anyRevoked(revoked) {
			for _, connectors := range []bool{true, false} {
				revokeExcess(members, held, revoked, connectors)
			}
		}
	}

	out := map[string]MemberAssignment{}
	for _, m := range members {
		out[m.ID] = MemberAssignment{Assigned: assignmentOf(assigned[m.ID]), Revoked: assignmentOf(revoked[m.ID]), Delay: delay}
		state.Previous[m.ID] = assignmentOf(slices.Clone(held[m.ID]))
	}
	return out, state
}

func anyRevoked(r map[string][]item) bool {
	for _, v := range r {
		if len(v) > 0 {
			return true
		}
	}
	return false
}

func count(items []item, connectors bool) int {
	n := 0
	for _, it := range items {
		if it.isConnector() == connectors {
			n++
		}
	}
	return n
}

// leastLoaded returns the member holding the fewest connectors (or tasks),
// the first by ID on a tie.
func leastLoaded(members []Member, held map[string][]item, connectors bool) string {
	best, load := "", -1
	for _, m := range members {
		if n := count(held[m.ID], connectors); load < 0 || n < load {
			best, load = m.ID, n
		}
	}
	return best
}

// revokeExcess takes from members holding more than the ceiling of the
// average what is above it (the last items in order), so the next round
// gives it to the others.
func revokeExcess(members []Member, held, revoked map[string][]item, connectors bool) {
	total := 0
	for _, m := range members {
		total += count(held[m.ID], connectors)
	}
	n := len(members)
	floor, ceil := total/n, (total+n-1)/n
	// Members below the floor get what the others give; only revoke when
	// someone is below it (a spread within one is balanced).
	short := 0
	for _, m := range members {
		if c := count(held[m.ID], connectors); c < floor {
			short += floor - c
		}
	}
	if short == 0 {
		return
	}
	for _, m := range members {
		items := held[m.ID]
		slices.SortFunc(items, cmpItem)
		for count(items, connectors) > ceil || (short > 0 && count(items, connectors) > floor) {
			j := lastIndex(items, connectors)
			revoked[m.ID] = append(revoked[m.ID], items[j])
			items = slices.Delete(items, j, j+1)
			short--
		}
		held[m.ID] = items
	}
}

func lastIndex(items []item, connectors bool) int {
	for j := len(items) - 1; j >= 0; j-- {
		if items[j].isConnector() == connectors {
			return j
		}
	}
	return -1
}
