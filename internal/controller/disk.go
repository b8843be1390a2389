package controller

// Disk reports: each broker tells the active controller how full the file
// system holding its log directory is, and which of its partitions are the
// largest, so the continuous balancer can move replicas off a broker whose
// disk passes balancer.disk.usage.threshold.percent (balancer.go).
//
// The report rides in the BrokerHeartbeat the broker sends anyway, as a
// Fjord-only tagged field (diskReportTag): BrokerHeartbeat is flexible in
// every version, a Kafka controller skips tags it does not know, and a
// Fjord controller that predates the field does too (kmsg keeps it in
// UnknownTags). The broker measures at most every DiskInterval and sends a
// report only on the heartbeat after a measurement, not on every one.
//
// The controller keeps each broker's latest report in its session
// (brokerSession.disk): soft state, never in the metadata log. A failover
// loses it and the next reports refill it (a re-registration keeps it: the
// disk is the same); a report older than diskReportMaxAge counts as none.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/balance"
)

// diskReportTag is the BrokerHeartbeat tagged field carrying a DiskReport.
// Kafka numbers its tags from 0 (0 and 1 are taken); 10000 stays clear of
// any it will add.
const diskReportTag = 10000

// diskReportVersion is the encoding's version; a controller ignores a
// report of a version it does not know.
const diskReportVersion = 0

// MaxReportedPartitions bounds the partitions a disk report names (the
// broker's largest): enough to pick the largest to move first, small
// enough for a heartbeat.
const MaxReportedPartitions = 32

// DefaultDiskInterval is how often a broker measures its disks by default.
const DefaultDiskInterval = 5 * time.Second

// diskReportMaxAge is how old a report may be for the balancer to use it:
// several measurement intervals, so one lost heartbeat does not make a
// broker unknown.
const diskReportMaxAge = time.Minute

// diskSettle is how long after the last reassignment the balancer waits
// for disk reports: a completed move's old replica is deleted when its
// broker applies the completion (well within this), and only a report
// measured after that shows the bytes freed.
const diskSettle = 2 * time.Second

// LogDirUsage is one log directory's disk usage.
type LogDirUsage struct {
	Dir string
	// TotalBytes is the size of the file system holding Dir that Fjord
	// may fill: its used bytes plus those available to unprivileged
	// writers (blocks reserved for root left out), so UsedBytes/TotalBytes
	// is df's Use%.
	TotalBytes int64
	// UsedBytes is what of the file system is used, by anything.
	UsedBytes int64
	// LogBytes is what Fjord's partition logs in Dir hold.
	LogBytes int64
}

// PartitionSize is the bytes one partition's replica holds on a broker.
type PartitionSize struct {
	Topic     string
	Partition int32
	Size      int64
}

// DiskReport is what a broker tells the active controller of its disks.
type DiskReport struct {
	Dirs []LogDirUsage
	// Largest are the broker's largest replicas, largest first, at most
	// MaxReportedPartitions.
	Largest []PartitionSize
}

// DiskUsage measures a broker's disks; internal/node's reads the file
// system (statfs) and the partitions' sizes, tests fake it.
type DiskUsage interface {
	DiskReport() (DiskReport, error)
}

// TrimLargest sorts sizes largest first (ties by topic and partition) and
// keeps the first MaxReportedPartitions.
func TrimLargest(sizes []PartitionSize) []PartitionSize {
	slices.SortFunc(sizes, func(a, b PartitionSize) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return sizes[:min(len(sizes), MaxReportedPartitions)]
}

// encodeDiskReport writes r as the tag's value: a version byte, then
// compact arrays of dirs (dir, total, used, log bytes) and of partitions
// (topic, partition, size), in Kafka's flexible encoding.
func encodeDiskReport(r DiskReport) []byte {
	dst := kbin.AppendInt8(nil, diskReportVersion)
	dst = kbin.AppendCompactArrayLen(dst, len(r.Dirs))
	for _, d := range r.Dirs {
		dst = kbin.AppendCompactString(dst, d.Dir)
		dst = kbin.AppendInt64(dst, d.TotalBytes)
		dst = kbin.AppendInt64(dst, d.UsedBytes)
		dst = kbin.AppendInt64(dst, d.LogBytes)
	}
	dst = kbin.AppendCompactArrayLen(dst, len(r.Largest))
	for _, p := range r.Largest {
		dst = kbin.AppendCompactString(dst, p.Topic)
		dst = kbin.AppendInt32(dst, p.Partition)
		dst = kbin.AppendInt64(dst, p.Size)
	}
	return dst
}

// errDiskReportVersion: a report from a newer broker, ignored.
var errDiskReportVersion = errors.New("unknown disk report version")

// decodeDiskReport reads a tag's value written by encodeDiskReport.
func decodeDiskReport(b []byte) (DiskReport, error) {
	var r DiskReport
	rd := kbin.Reader{Src: b}
	if v := rd.Int8(); rd.Ok() && v != diskReportVersion {
		return r, fmt.Errorf("%w %d", errDiskReportVersion, v)
	}
	for n := rd.CompactArrayLen(); n > 0 && rd.Ok(); n-- {
		r.Dirs = append(r.Dirs, LogDirUsage{Dir: rd.CompactString(), TotalBytes: rd.Int64(), UsedBytes: rd.Int64(), LogBytes: rd.Int64()})
	}
	for n := rd.CompactArrayLen(); n > 0 && rd.Ok(); n-- {
		r.Largest = append(r.Largest, PartitionSize{Topic: rd.CompactString(), Partition: rd.Int32(), Size: rd.Int64()})
	}
	if err := rd.Complete(); err != nil {
		return DiskReport{}, fmt.Errorf("disk report: %w", err)
	}
	return r, nil
}

// setDiskReport adds r to a heartbeat as its Fjord tagged field.
func setDiskReport(req *kmsg.BrokerHeartbeatRequest, r DiskReport) {
	req.UnknownTags.Set(diskReportTag, encodeDiskReport(r))
}

// diskReportOf returns the disk report a heartbeat carries (ok false when
// it carries none).
func diskReportOf(req *kmsg.BrokerHeartbeatRequest) (r DiskReport, ok bool, err error) {
	req.UnknownTags.Each(func(key uint32, val []byte) {
		if key == diskReportTag {
			ok = true
			r, err = decodeDiskReport(val)
		}
	})
	return r, ok && err == nil, err
}

// fullest returns the usage of the report's fullest log directory (ok
// false when no directory has a size).
func (r DiskReport) fullest() (balance.Disk, bool) {
	var out balance.Disk
	found := false
	for _, d := range r.Dirs {
		if d.TotalBytes <= 0 || d.UsedBytes < 0 {
			continue
		}
		if !found || float64(d.UsedBytes)/float64(d.TotalBytes) > float64(out.Used)/float64(out.Total) {
			out, found = balance.Disk{Total: d.TotalBytes, Used: d.UsedBytes}, true
		}
	}
	return out, found
}

// diskReports returns the latest report of every broker whose report is
// younger than diskReportMaxAge at now (what the balancer decides with),
// and when the oldest of them arrived.
func (c *Controller) diskReports(now time.Time) (map[int32]DiskReport, time.Time) {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	out := map[int32]DiskReport{}
	var oldest time.Time
	for id, s := range c.sessions {
		if s.disk != nil && now.Sub(s.diskAt) <= diskReportMaxAge {
			out[id] = *s.disk
			if oldest.IsZero() || s.diskAt.Before(oldest) {
				oldest = s.diskAt
			}
		}
	}
	return out, oldest
}

// diskView is what the balancer knows of the brokers' disks, from their
// reports, for one decision.
type diskView struct {
	threshold int                        // percent; 0 when the trigger is off
	usage     map[int32]balance.Disk     // the fullest log dir of each broker that reported
	sizes     map[string]map[int32]int64 // reported partition sizes (the largest replica's)
	hot       []int32                    // live brokers over the threshold, fullest first
	cool      []int32                    // the other live brokers, unknown ones included
}

// newDiskView summarises reports for the live brokers; threshold 0 or 100
// (or more) turns the disk trigger off: no broker is then hot.
func newDiskView(reports map[int32]DiskReport, live []int32, threshold int) diskView {
	v := diskView{usage: map[int32]balance.Disk{}, sizes: map[string]map[int32]int64{}}
	if threshold > 0 && threshold < 100 {
		v.threshold = threshold
	}
	for _, id := range slices.Sorted(maps.Keys(reports)) {
		r := reports[id]
		if d, ok := r.fullest(); ok {
			v.usage[id] = d
		}
		for _, p := range r.Largest {
			if v.sizes[p.Topic] == nil {
				v.sizes[p.Topic] = map[int32]int64{}
			}
			v.sizes[p.Topic][p.Partition] = max(v.sizes[p.Topic][p.Partition], p.Size)
		}
	}
	if v.threshold > 0 {
		v.hot = balance.DiskInput{Disks: v.usage, Targets: live, ThresholdPercent: v.threshold}.Over()
	}
	for _, id := range live {
		if !slices.Contains(v.hot, id) {
			v.cool = append(v.cool, id)
		}
	}
	return v
}

// sized returns ps with the reported sizes (0 where none was reported).
func (v diskView) sized(ps []balance.Partition) []balance.Partition {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Size = v.sizes[out[i].Topic][out[i].Partition]
	}
	return out
}

// fitting drops the moves that would take a broker over the threshold:
// each move adds its partition's reported size (0 when unknown) to the
// brokers it copies onto, in order, and a move that would push one whose
// usage is known past the threshold is left out.
func (v diskView) fitting(moves []balance.Move) []balance.Move {
	if v.threshold == 0 {
		return moves
	}
	used := map[int32]int64{}
	for id, d := range v.usage {
		used[id] = d.Used
	}
	var out []balance.Move
	for _, m := range moves {
		size := v.sizes[m.Topic][m.Partition]
		fits := true
		for _, id := range m.Added() {
			if d, known := v.usage[id]; known && (balance.Disk{Total: d.Total, Used: used[id] + size}).Over(v.threshold) {
				fits = false
			}
		}
		if !fits {
			continue
		}
		for _, id := range m.Added() {
			used[id] += size
		}
		out = append(out, m)
	}
	return out
}

// excluded explains, for a refusal, that brokers over the threshold took
// no replicas.
func (v diskView) excluded() string {
	if len(v.hot) == 0 {
		return ""
	}
	return fmt.Sprintf(" (broker(s) %v, fuller than balancer.disk.usage.threshold.percent, take no replicas)", v.hot)
}
