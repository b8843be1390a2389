package balance

import (
	"slices"
	"testing"
)

const gb = int64(1) << 30

// diskCase: brokers 1-4 with 100 GB disks; broker 1 at 90 GB used holds
// partitions of 20, 10, 5 and 1 GB (each with replicas on 2 and 3).
func diskCase() DiskInput {
	return DiskInput{
		Partitions: []Partition{
			{Topic: "t", Partition: 0, Replicas: []int32{1, 2, 3}, Size: 5 * gb},
			{Topic: "t", Partition: 1, Replicas: []int32{2, 1, 3}, Size: 20 * gb},
			{Topic: "t", Partition: 2, Replicas: []int32{3, 2, 1}, Size: 1 * gb},
			{Topic: "t", Partition: 3, Replicas: []int32{1, 3, 2}, Size: 10 * gb},
		},
		Disks: map[int32]Disk{
			1: {Total: 100 * gb, Used: 90 * gb},
			2: {Total: 100 * gb, Used: 50 * gb},
			3: {Total: 100 * gb, Used: 50 * gb},
			4: {Total: 100 * gb, Used: 10 * gb},
		},
		Targets:          []int32{1, 2, 3, 4},
		ThresholdPercent: 80,
		MaxMoves:         10,
	}
}

// The largest partition on the full broker moves first, and only as much
// as brings it under the threshold, onto the broker with the most room.
func TestPlanDisk_LargestFirstUntilUnder(t *testing.T) {
	moves := PlanDisk(diskCase())
	if len(moves) != 1 {
		t.Fatalf("moves %+v, want one (20 GB covers broker 1's 10 GB excess)", moves)
	}
	m := moves[0]
	if m.Partition != 1 || !slices.Equal(m.To, []int32{2, 4, 3}) || m.Size != 20*gb {
		t.Fatalf("move %+v, want t-1 from broker 1 to broker 4 in its slot", m)
	}
}

// Destinations that would pass the threshold are skipped: with broker 4
// nearly full too, the 20 GB partition fits nowhere and smaller ones go.
func TestPlanDisk_NoMoveOntoFullBroker(t *testing.T) {
	in := diskCase()
	in.Disks[4] = Disk{Total: 100 * gb, Used: 70 * gb} // room: 10 GB
	moves := PlanDisk(in)
	if len(moves) == 0 {
		t.Fatal("nothing moved off broker 1")
	}
	var moved int64
	for _, m := range moves {
		if !slices.Contains(m.From, 1) || slices.Contains(m.To, 1) || !slices.Equal(m.Added(), []int32{4}) {
			t.Errorf("move %+v does not take broker 1's replica to broker 4", m)
		}
		moved += m.Size
	}
	if moved > 10*gb {
		t.Errorf("%d GB moved onto broker 4, which had room for 10", moved/gb)
	}
	// Every other broker over the threshold too: nothing.
	for id := int32(2); id <= 4; id++ {
		in.Disks[id] = Disk{Total: 100 * gb, Used: 85 * gb}
	}
	if moves := PlanDisk(in); len(moves) != 0 {
		t.Fatalf("moves onto brokers over the threshold: %+v", moves)
	}
}

// Under the threshold everywhere (or the threshold at 100): nothing.
func TestPlanDisk_NothingUnder(t *testing.T) {
	in := diskCase()
	in.Disks[1] = Disk{Total: 100 * gb, Used: 80 * gb} // at, not past
	if moves := PlanDisk(in); len(moves) != 0 {
		t.Fatalf("moves at the threshold: %+v", moves)
	}
	in = diskCase()
	in.ThresholdPercent = 100
	if moves := PlanDisk(in); len(moves) != 0 {
		t.Fatalf("moves with threshold 100: %+v", moves)
	}
}

// A broker without a report is unknown: it receives nothing (even if it
// holds nothing) and triggers nothing.
func TestPlanDisk_UnknownBroker(t *testing.T) {
	in := diskCase()
	delete(in.Disks, 4)
	moves := PlanDisk(in)
	for _, m := range moves {
		if slices.Contains(m.To, 4) {
			t.Fatalf("move onto unknown broker 4: %+v", m)
		}
	}
	if len(moves) != 0 {
		// Brokers 2 and 3 hold replicas of every partition: no room.
		t.Fatalf("moves %+v, want none", moves)
	}
	in = diskCase()
	delete(in.Disks, 1)
	if moves := PlanDisk(in); len(moves) != 0 {
		t.Fatalf("an unknown broker triggered moves: %+v", moves)
	}
}

// Racks: a move never narrows the racks a partition spans, and MaxMoves
// bounds the partitions moved.
func TestPlanDisk_RacksAndMaxMoves(t *testing.T) {
	in := diskCase()
	in.Partitions = append(in.Partitions, Partition{Topic: "u", Partition: 0, Replicas: []int32{1, 5}, Size: 30 * gb})
	in.Targets = append(in.Targets, 5, 6)
	in.Disks[5] = Disk{Total: 100 * gb, Used: 10 * gb}
	in.Disks[6] = Disk{Total: 100 * gb, Used: 20 * gb}
	// u-0 spans racks a (1) and b (5): only broker 6 (rack a) keeps that;
	// broker 4 (rack b, the most room) would narrow it.
	in.Racks = map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "b", 6: "a"}
	in.MaxMoves = 1
	moves := PlanDisk(in)
	if len(moves) != 1 || moves[0].Topic != "u" || !slices.Equal(moves[0].To, []int32{6, 5}) {
		t.Fatalf("moves %+v, want u-0 from broker 1 to 6", moves)
	}
}

// Fullest first: two brokers over the threshold, the fuller sheds first.
func TestDiskInput_OverFullestFirst(t *testing.T) {
	in := diskCase()
	in.Disks[3] = Disk{Total: 1000 * gb, Used: 950 * gb}
	if got := in.Over(); !slices.Equal(got, []int32{3, 1}) {
		t.Fatalf("Over() = %v, want [3 1]", got)
	}
}
