package node

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/partition"
)

// groupScrapeTimeout bounds the group coordinator calls one scrape makes.
const groupScrapeTimeout = 5 * time.Second

var (
	descGroupCommitted = desc("group", "committed_offset", "A group's committed offset of a partition; on the group's coordinator.", "group", "topic", "partition")
	descGroupLag       = desc("group", "lag_records", "A group's lag on a partition: its high watermark minus the committed offset; on the group's coordinator, for partitions it hosts (Burrow's and kafka-consumer-groups' LAG).", "group", "topic", "partition")
	descGroupTotalLag  = desc("group", "total_lag_records", "A group's lag summed over the partitions its coordinator hosts.", "group")
	descGroupMembers   = desc("group", "members", "Members of a group; on its coordinator.", "group")
	descGroupState     = desc("group", "state", "1 for a group's current state (Stable, PreparingRebalance, CompletingRebalance, Empty, Dead; Assigning, Reconciling for KIP-848 groups).", "group", "state")
	descGroupsByState  = desc("group", "coordinator_groups", "Groups this coordinator holds, by state (Kafka: GroupMetadataManager NumGroupsStable, NumGroupsEmpty, ...).", "state")
)

// groupCollector reads the groups this node coordinates when Prometheus
// scrapes: their states, members, committed offsets, and the lag of the
// partitions this node hosts (a hosted follower's high watermark trails
// the leader's by a fetch at most). A partition hosted elsewhere has its
// committed offset here and its high watermark on its leader
// (fjord_partition_high_watermark); docs/metrics.md gives the PromQL that
// joins them.
type groupCollector struct {
	n            *Node
	perPartition bool
}

// Describe sends every descriptor.
func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroupCommitted, descGroupLag, descGroupTotalLag, descGroupMembers, descGroupState, descGroupsByState} {
		ch <- d
	}
}

// Collect asks the group coordinator.
func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	n.scrapeMu.RLock()
	defer n.scrapeMu.RUnlock()
	if n.closing.Load() {
		return
	}
	if n.groups == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupScrapeTimeout)
	defer cancel()
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.Version = 5
	groups := n.groups.ListGroups(ctx, lreq).Groups
	if len(groups) == 0 {
		return
	}
	byState := map[string]int{}
	var classic, consumer []string
	for _, g := range groups {
		byState[g.GroupState]++
		gauge(descGroupState, 1, g.Group, g.GroupState)
		if g.GroupType == "consumer" {
			consumer = append(consumer, g.Group)
		} else {
			classic = append(classic, g.Group)
		}
	}
	for state, k := range byState {
		gauge(descGroupsByState, float64(k), state)
	}
	if len(classic) > 0 {
		dreq := kmsg.NewPtrDescribeGroupsRequest()
		dreq.Version, dreq.Groups = 5, classic
		for _, g := range n.groups.DescribeGroups(ctx, dreq).Groups {
			if g.ErrorCode == 0 {
				gauge(descGroupMembers, float64(len(g.Members)), g.Group)
			}
		}
	}
	if len(consumer) > 0 {
		creq := kmsg.NewPtrConsumerGroupDescribeRequest()
		creq.Groups = consumer
		for _, g := range n.groups.ConsumerGroupDescribe(ctx, creq).Groups {
			if g.ErrorCode == 0 {
				gauge(descGroupMembers, float64(len(g.Members)), g.Group)
			}
		}
	}
	freq := kmsg.NewPtrOffsetFetchRequest()
	freq.Version = 8
	for _, g := range groups {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g.Group // no topics: every committed offset
		freq.Groups = append(freq.Groups, rg)
	}
	for _, g := range n.groups.OffsetFetch(ctx, freq).Groups {
		if g.ErrorCode != 0 {
			continue
		}
		var total int64
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 || p.Offset < 0 {
					continue
				}
				part := strconv.Itoa(int(p.Partition))
				if c.perPartition {
					gauge(descGroupCommitted, float64(p.Offset), g.Group, t.Topic, part)
				}
				hosted := n.parts.Get(partition.ID{Topic: t.Topic, Partition: p.Partition})
				if hosted == nil {
					continue
				}
				lag := max(hosted.HighWatermark()-p.Offset, 0)
				total += lag
				if c.perPartition {
					gauge(descGroupLag, float64(lag), g.Group, t.Topic, part)
				}
			}
		}
		gauge(descGroupTotalLag, float64(total), g.Group)
	}
}
