package balance

// The disk trigger of the continuous balancer: a broker whose log
// directory's file system is fuller than a threshold sheds its largest
// partitions onto brokers below the threshold with the most free space.
// Like Plan it is pure: the caller supplies the usage the brokers reported.

import (
	"cmp"
	"slices"
)

// Disk is one broker's disk usage: the file system holding its (fullest)
// log directory.
type Disk struct {
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
}

// Over reports whether the file system is fuller than percent of its size.
func (d Disk) Over(percent int) bool { return d.Total > 0 && d.Used*100 > int64(percent)*d.Total }

// room is how many bytes the file system takes before it passes percent.
func (d Disk) room(percent int) int64 { return d.Total*int64(percent)/100 - d.Used }

// DiskInput is what PlanDisk works from.
type DiskInput struct {
	// Partitions carry sizes where known (the bytes a replica holds; 0
	// when no broker reported it).
	Partitions []Partition
	Racks      map[int32]string
	// Disks is the usage of each broker that reported one. A broker
	// absent is unknown, not empty: it triggers nothing and receives
	// nothing.
	Disks map[int32]Disk
	// Targets are the brokers that may shed or receive replicas (the live
	// ones); a target receives only while it stays at or below the
	// threshold.
	Targets          []int32
	ThresholdPercent int
	MaxMoves         int
}

// Over returns the targets whose disks are fuller than the threshold,
// fullest first.
func (in DiskInput) Over() []int32 {
	var over []int32
	for _, id := range in.Targets {
		if d, ok := in.Disks[id]; ok && d.Over(in.ThresholdPercent) {
			over = append(over, id)
		}
	}
	// Fullest first (Used*Total products could overflow: ratios).
	ratio := func(id int32) float64 { return float64(in.Disks[id].Used) / float64(in.Disks[id].Total) }
	slices.SortStableFunc(over, func(a, b int32) int { return cmp.Or(cmp.Compare(ratio(b), ratio(a)), cmp.Compare(a, b)) })
	return over
}

// PlanDisk plans the moves that bring the targets over the threshold back
// under it, fullest broker first: its partitions go largest first (those
// of unknown size last) until the bytes moved cover its excess, each onto
// the target with the most free space that stays at or below the threshold
// with it, holds no replica of the partition, and keeps (or widens) the
// racks the partition spans. At most MaxMoves partitions move; a partition
// no target can take is left. The plan is deterministic.
func PlanDisk(in DiskInput) []Move {
	over := in.Over()
	if len(over) == 0 {
		return nil
	}
	used := map[int32]int64{}
	for id, d := range in.Disks {
		used[id] = d.Used
	}
	disk := func(id int32) Disk { return Disk{Total: in.Disks[id].Total, Used: used[id]} }
	b := &balancer{racks: in.Racks}
	ps := make([]Partition, len(in.Partitions))
	for i, p := range in.Partitions {
		p.orig, p.Replicas = p.Replicas, slices.Clone(p.Replicas)
		ps[i] = p
	}
	// Largest first; ties (and unknown sizes) in topic, partition order.
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(ps[y].Size, ps[x].Size), cmp.Compare(ps[x].Topic, ps[y].Topic), cmp.Compare(ps[x].Partition, ps[y].Partition))
	})
	moved := map[int]bool{}
	maxMoves := max(in.MaxMoves, 1)
	for _, src := range over {
		for _, pi := range order {
			if len(moved) >= maxMoves && !moved[pi] {
				break
			}
			if !disk(src).Over(in.ThresholdPercent) {
				break
			}
			p := &ps[pi]
			i := slices.Index(p.Replicas, src)
			if i < 0 {
				continue
			}
			others := slices.Delete(slices.Clone(p.Replicas), i, i+1)
			spread := b.rackSpread(p.Replicas)
			best, bestKey := int32(-1), []int64(nil)
			for _, to := range in.Targets {
				if _, known := in.Disks[to]; !known || slices.Contains(p.Replicas, to) || disk(to).Over(in.ThresholdPercent) || disk(to).room(in.ThresholdPercent) < p.Size {
					continue
				}
				after := b.rackSpread(append(slices.Clone(others), to))
				if after < spread {
					continue
				}
				key := []int64{int64(-after), -(disk(to).Total - used[to]), int64(to)}
				if best < 0 || slices.Compare(key, bestKey) < 0 {
					best, bestKey = to, key
				}
			}
			if best < 0 {
				continue
			}
			p.Replicas[i] = best
			used[src] -= p.Size
			used[best] += p.Size
			moved[pi] = true
		}
	}
	var moves []Move
	for pi := range ps {
		if p := &ps[pi]; moved[pi] {
			moves = append(moves, Move{Topic: p.Topic, Partition: p.Partition, From: slices.Clone(p.orig), To: p.Replicas, Size: p.Size})
		}
	}
	return moves
}
