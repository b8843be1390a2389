package node

// The broker's disk report for the continuous balancer's disk trigger
// (controller/disk.go): the file system holding the data folder, measured
// with statfs, and the partitions' sizes.

import (
	"fmt"
	"syscall"

	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/vfs"
)

// statfsUsage measures the data folder's file system and the sizes of the
// partitions the broker hosts.
type statfsUsage struct {
	dir   string
	parts *partition.Manager
}

// DiskReport implements controller.DiskUsage.
func (u statfsUsage) DiskReport() (controller.DiskReport, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(u.dir, &st); err != nil {
		return controller.DiskReport{}, fmt.Errorf("statfs %s: %w", u.dir, err)
	}
	// As df computes Use%: used blocks over used plus available ones,
	// leaving out the blocks reserved for root (no room for Fjord) and
	// any the file system keeps from every user.
	used := (int64(st.Blocks) - int64(st.Bfree)) * int64(st.Bsize)
	avail := int64(st.Bavail) * int64(st.Bsize)
	dir := controller.LogDirUsage{Dir: u.dir, TotalBytes: used + avail, UsedBytes: used}
	all := u.parts.All()
	sizes := make([]controller.PartitionSize, 0, len(all))
	for _, p := range all {
		size := p.Size()
		dir.LogBytes += size
		sizes = append(sizes, controller.PartitionSize{Topic: p.ID.Topic, Partition: p.ID.Partition, Size: size})
	}
	return controller.DiskReport{Dirs: []controller.LogDirUsage{dir}, Largest: controller.TrimLargest(sizes)}, nil
}

// diskUsage returns what measures this broker's disks: Config.DiskUsage
// when set, statfs on the data folder when it is on the operating
// system's file system, else nothing (an in-memory file system has no
// disk to report).
func (n *Node) diskUsage() controller.DiskUsage {
	switch {
	case n.cfg.DiskUsage != nil:
		return n.cfg.DiskUsage
	case n.cfg.FS == vfs.OS():
		return statfsUsage{dir: n.dataDir, parts: n.parts}
	}
	return nil
}
