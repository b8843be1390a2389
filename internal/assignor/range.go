package assignor

import "slices"

// rangeAssignor is Kafka's server-side "range" assignor; see the package doc
// for its rules.
type rangeAssignor struct{}

// Name returns "range".
func (rangeAssignor) Name() string { return rangeName }

// Assign computes a per-topic range assignment, sticky within quotas.
func (rangeAssignor) Assign(members []Member, topics map[TopicID]Topic) Assignment {
	g := newGroup(members, topics)
	type want struct {
		m    int32
		more int // partitions still owed at the base quota; <= 0 if none
	}
	var (
		cur    []int32
		wanted []want
	)
	for t := range g.topics {
		subs := g.subbers[t]
		n := g.parts[t]
		slots := g.owner[g.base[t] : g.base[t]+int(n)]
		quota, extra := int(n)/len(subs), int(n)%len(subs)

		// Keep each member's lowest current partitions up to the base
		// quota; a member holding more takes one of the extra slots, while
		// they last, and keeps its next lowest partition too.
		wanted = wanted[:0]
		for _, m := range subs {
			cur = cur[:0]
			for _, p := range g.current(int(m), t) {
				if p >= 0 && p < n && slots[p] == -1 {
					cur = append(cur, p)
				}
			}
			slices.Sort(cur)
			cur = slices.Compact(cur)
			for _, p := range cur[:min(len(cur), quota)] {
				slots[p] = m
			}
			if more := quota - len(cur); more < 0 && extra > 0 {
				extra--
				slots[cur[quota]] = m
			} else {
				wanted = append(wanted, want{m, more})
			}
		}

		// Hand out the rest in ascending ranges, in member order; the first
		// members still waiting take the remaining extra slots.
		p := 0
		for _, w := range wanted {
			more := w.more
			if extra > 0 {
				more++
				extra--
			}
			for ; more > 0; more-- {
				for p < len(slots) && slots[p] != -1 {
					p++
				}
				if p == len(slots) {
					break // unreachable: quotas sum to the partition count
				}
				slots[p] = w.m
			}
		}
	}
	return g.result()
}
