package node

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fjordstream/fjord/internal/metrics"
	"github.com/fjordstream/fjord/internal/partition"
)

// nodeCollector reads the node's partition and controller state when
// Prometheus scrapes, so these metrics cost the hot path nothing: a scrape
// walks the metadata image and the hosted partitions once. The
// per-partition series (offsets, sizes, follower lag) can be switched off
// (metrics.partition.series.enable=false) for clusters with very many
// partitions; the node-wide counts stay.
type nodeCollector struct {
	n            *Node
	perPartition bool
}

func desc(sub, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, sub, name), help, labels, nil)
}

var (
	descPartitions      = desc("broker", "partitions", "Replicas hosted on this broker (Kafka: ReplicaManager PartitionCount).")
	descLeaders         = desc("broker", "leader_partitions", "Partitions this broker leads (Kafka: ReplicaManager LeaderCount).")
	descUnderReplicated = desc("broker", "under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka: ReplicaManager UnderReplicatedPartitions).")
	descUnderMinISR     = desc("broker", "under_min_isr_partitions", "Partitions this broker leads whose ISR is below min.insync.replicas: acks=all writes are refused (Kafka: ReplicaManager UnderMinIsrPartitionCount).")
	descAtMinISR        = desc("broker", "at_min_isr_partitions", "Partitions this broker leads whose ISR is exactly min.insync.replicas: one more loss stops acks=all writes (Kafka: ReplicaManager AtMinIsrPartitionCount).")
	descLogBytes        = desc("broker", "log_size_bytes", "Bytes of every hosted partition's log (Kafka: the sum of kafka.log:type=Log,name=Size).")
	descMetadataOffset  = desc("broker", "metadata_applied_offset", "Offset of the last metadata record this node applied (Kafka: broker-metadata-metrics last-applied-record-offset).")
	descLogEnd          = desc("partition", "log_end_offset", "Log end offset of a hosted partition (Kafka: kafka.log:type=Log,name=LogEndOffset).", "topic", "partition")
	descLogStart        = desc("partition", "log_start_offset", "Log start offset of a hosted partition (Kafka: kafka.log:type=Log,name=LogStartOffset).", "topic", "partition")
	descHW              = desc("partition", "high_watermark", "High watermark of a hosted partition.", "topic", "partition")
	descSize            = desc("partition", "size_bytes", "Bytes of a hosted partition's log (Kafka: kafka.log:type=Log,name=Size).", "topic", "partition")
	descFollowerLag     = desc("partition", "follower_lag_records", "On the leader: records a follower lacks, the leader's log end offset minus the follower's last fetch offset (Kafka: FetcherLagMetrics ConsumerLag, seen from the leader).", "topic", "partition", "replica")
	descISRShrinks      = desc("broker", "isr_shrinks_total", "ISR shrinks committed for partitions this broker leads (Kafka: ReplicaManager IsrShrinksPerSec).")
	descISRExpands      = desc("broker", "isr_expands_total", "ISR expansions committed for partitions this broker leads (Kafka: ReplicaManager IsrExpandsPerSec).")
	descDirTotal        = desc("log_dir", "total_bytes", "Size of the file system holding a log directory: used plus available to Fjord (df's Size less root's reserve).", "dir")
	descDirUsed         = desc("log_dir", "used_bytes", "Bytes used on the file system holding a log directory, by anything (df's Used).", "dir")
	descDirLogs         = desc("log_dir", "log_bytes", "Bytes of the partitions' logs in a log directory (Kafka: kafka.log:type=Log,name=Size, summed per directory).", "dir")
	descFollowerLagTime = desc("partition", "follower_lag_seconds", "On the leader: how long since a follower was last caught up with the leader's log end; over replica.lag.time.max.ms it leaves the ISR.", "topic", "partition", "replica")
	descCtrlActive      = desc("controller", "active", "1 on the active controller, 0 elsewhere (Kafka: KafkaController ActiveControllerCount).")
	descOffline         = desc("controller", "offline_partitions", "Partitions without a leader; reported by the active controller only (Kafka: KafkaController OfflinePartitionsCount).")
	descFenced          = desc("controller", "fenced_brokers", "Registered brokers that are fenced; active controller only (Kafka: KafkaController FencedBrokerCount).")
	descLive            = desc("controller", "active_brokers", "Registered brokers that are not fenced; active controller only (Kafka: KafkaController ActiveBrokerCount).")
	descTopics          = desc("controller", "topics", "Topics in the cluster; active controller only (Kafka: KafkaController GlobalTopicCount).")
	descAllPartitions   = desc("controller", "partitions", "Partitions in the cluster; active controller only (Kafka: KafkaController GlobalPartitionCount).")
	descQuorumCommit    = desc("controller", "metadata_commit_offset", "The metadata quorum's committed offset as this voter knows it (Kafka: raft-metrics high-watermark).")
	descVoterLag        = desc("controller", "voter_lag_records", "On the active controller: metadata records each voter lacks, the commit offset minus its log end (Kafka: raft-metrics, per voter).", "voter")
	descRebalances      = desc("group", "rebalances_total", "Rebalances this node's group coordinators completed, by protocol: classic (a new generation with members) or consumer (KIP-848: a target assignment for a new group epoch) (Kafka: group-coordinator-metrics classic-group-rebalance-count, consumer-group-rebalance-count).", "protocol")
	descNodeInfo        = desc("node", "info", "1, with the node's ID, cluster ID and process.roles as labels: which node a scrape came from (Kafka: kafka.server:type=app-info and KafkaServer ClusterId).", "node_id", "cluster_id", "roles")
	descElections       = desc("controller", "leader_elections_total", "Leader elections this node committed while it was the active controller, by type: clean (from the ISR), elr (from the eligible leader replicas, KIP-966), unclean, offline (no leader left) (Kafka: ControllerStats LeaderElectionRateAndTimeMs, UncleanLeaderElectionsPerSec, ElectionFromEligibleLeaderReplicasPerSec).", "type")
	descLogWritten      = desc("log", "written_bytes_total", "Record batch bytes the hosted logs appended to their segment files, as leader and as follower (Kafka has none; its linux-disk-write-bytes counts the whole process).")
	descLogRead         = desc("log", "read_bytes_total", "Record batch bytes read from the hosted logs' segment files: fetches (consumers' and followers', copied or sent from the file, counted when read) and the producer-state rebuild at recovery; most come from the page cache.")
	descDiskRead        = desc("node", "disk_read_bytes_total", "Bytes the process made the storage layer read, from /proc/self/io read_bytes; Linux only (Kafka: kafka.server:type=KafkaServer,name=linux-disk-read-bytes).")
	descDiskWritten     = desc("node", "disk_written_bytes_total", "Bytes the process sent to the storage layer, from /proc/self/io write_bytes; Linux only (Kafka: kafka.server:type=KafkaServer,name=linux-disk-write-bytes).")
)

// Describe sends every descriptor.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartitions, descLeaders, descUnderReplicated, descUnderMinISR, descAtMinISR,
		descLogBytes, descMetadataOffset, descISRShrinks, descISRExpands, descDirTotal, descDirUsed, descDirLogs, descLogEnd, descLogStart, descHW, descSize, descFollowerLag, descFollowerLagTime, descCtrlActive,
		descOffline, descFenced, descLive, descTopics, descAllPartitions, descQuorumCommit, descVoterLag,
		descLogWritten, descLogRead, descDiskRead, descDiskWritten, descElections, descNodeInfo, descRebalances} {
		ch <- d
	}
}

// Collect reads the state now.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	n.scrapeMu.RLock()
	defer n.scrapeMu.RUnlock()
	if n.closing.Load() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if n.loader == nil {
		return // not started yet
	}
	img := n.loader.Image()
	now := time.Now()
	gauge(descMetadataOffset, float64(img.Offset))
	id := n.cfg.Broker.NodeID
	gauge(descNodeInfo, 1, strconv.Itoa(int(id)), img.ClusterID, strings.Join(n.cfg.Broker.ProcessRoles, ","))
	if rd, wr, ok := procIO(); ok {
		ch <- prometheus.MustNewConstMetric(descDiskRead, prometheus.CounterValue, float64(rd))
		ch <- prometheus.MustNewConstMetric(descDiskWritten, prometheus.CounterValue, float64(wr))
	}
	if n.parts != nil {
		var hosted, leaders, under, underMin, atMin int
		var bytes int64
		for _, p := range n.parts.All() {
			hosted++
			size := p.Size()
			bytes += size
			topic, part := p.ID.Topic, strconv.Itoa(int(p.ID.Partition))
			if c.perPartition {
				gauge(descLogEnd, float64(p.LogEndOffset()), topic, part)
				gauge(descLogStart, float64(p.LogStartOffset()), topic, part)
				gauge(descHW, float64(p.HighWatermark()), topic, part)
				gauge(descSize, float64(size), topic, part)
			}
			if p.Role() != partition.RoleLeader {
				continue
			}
			leaders++
			t := img.Topic(p.ID.Topic)
			if t == nil || int(p.ID.Partition) >= len(t.Partitions) {
				continue
			}
			mp := &t.Partitions[p.ID.Partition]
			isr, minISR := len(mp.ISR), int(p.Config().MinInsyncReplicas)
			// Kafka's definition: replicas being added by a reassignment
			// do not count until they join, or every move would alert.
			if isr < len(mp.Replicas)-len(mp.AddingReplicas) {
				under++
			}
			switch {
			case isr < minISR:
				underMin++
			case isr == minISR:
				atMin++
			}
			if c.perPartition {
				leo := p.LogEndOffset()
				for _, r := range mp.Replicas {
					if r == id {
						continue
					}
					lag := leo // a follower not heard from lacks everything
					if f := p.FollowerEndOffset(r); f >= 0 {
						lag = max(leo-f, 0)
					}
					gauge(descFollowerLag, float64(lag), topic, part, strconv.Itoa(int(r)))
					if at := p.FollowerCaughtUp(r); !at.IsZero() {
						gauge(descFollowerLagTime, max(now.Sub(at).Seconds(), 0), topic, part, strconv.Itoa(int(r)))
					}
				}
			}
		}
		gauge(descPartitions, float64(hosted))
		gauge(descLeaders, float64(leaders))
		gauge(descUnderReplicated, float64(under))
		gauge(descUnderMinISR, float64(underMin))
		gauge(descAtMinISR, float64(atMin))
		gauge(descLogBytes, float64(bytes))
		st := n.parts.ISRStats()
		ch <- prometheus.MustNewConstMetric(descISRShrinks, prometheus.CounterValue, float64(st.Shrinks.Load()))
		ch <- prometheus.MustNewConstMetric(descISRExpands, prometheus.CounterValue, float64(st.Expands.Load()))
		if n.groups != nil {
			ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, float64(n.rebalances.classic.Load()), "classic")
			ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, float64(n.rebalances.consumer.Load()), "consumer")
		}
		ch <- prometheus.MustNewConstMetric(descLogWritten, prometheus.CounterValue, float64(n.logIO.Written.Load()))
		ch <- prometheus.MustNewConstMetric(descLogRead, prometheus.CounterValue, float64(n.logIO.Read.Load()))
		if du := n.diskUsage(); du != nil {
			if rep, err := du.DiskReport(); err == nil {
				for _, d := range rep.Dirs {
					gauge(descDirTotal, float64(d.TotalBytes), d.Dir)
					gauge(descDirUsed, float64(d.UsedBytes), d.Dir)
					gauge(descDirLogs, float64(d.LogBytes), d.Dir)
				}
			}
		}
	}
	if n.quorum == nil {
		return
	}
	if n.ctrl != nil {
		e := n.ctrl.Elections()
		for _, kv := range []struct {
			typ string
			v   int64
		}{{"clean", e.Clean.Load()}, {"elr", e.ELR.Load()}, {"unclean", e.Unclean.Load()}, {"offline", e.Offline.Load()}} {
			ch <- prometheus.MustNewConstMetric(descElections, prometheus.CounterValue, float64(kv.v), kv.typ)
		}
	}
	st := n.quorum.Status()
	gauge(descQuorumCommit, float64(st.Commit))
	if !st.Active {
		gauge(descCtrlActive, 0)
		return
	}
	gauge(descCtrlActive, 1)
	var offline, partitions int
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			partitions++
			if p.Leader < 0 {
				offline++
			}
		}
	}
	var fenced, live int
	for _, b := range img.Brokers() {
		if b.Fenced {
			fenced++
		} else {
			live++
		}
	}
	gauge(descOffline, float64(offline))
	gauge(descFenced, float64(fenced))
	gauge(descLive, float64(live))
	gauge(descTopics, float64(img.NumTopics()))
	gauge(descAllPartitions, float64(partitions))
	for voter, match := range st.Progress {
		gauge(descVoterLag, float64(st.Commit-min(match, st.Commit)), strconv.Itoa(int(voter)))
	}
}

// registerCollector adds the node's partition and controller metrics to
// its registry, once Start has set up what they read (and only then: a
// scrape must not race Start).
func (n *Node) registerCollector() {
	if len(n.cfg.Broker.HTTPListeners) == 0 {
		return
	}
	n.collector = &nodeCollector{n: n, perPartition: n.cfg.Broker.MetricsPartitionSeries}
	n.registry.MustRegister(n.collector)
	n.nodeWide = &nodeCollector{n: n}
	n.nodeRegistry.MustRegister(n.nodeWide)
	if n.groups != nil {
		n.groupCollector = &groupCollector{n: n, perPartition: n.cfg.Broker.MetricsPartitionSeries}
		n.registry.MustRegister(n.groupCollector)
	}
}

// fsyncObserver returns the hosted logs' OnFsync: a histogram of fsync
// rounds (Kafka: kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs),
// or nil when no HTTP listener could serve it.
func (n *Node) fsyncObserver() func(time.Duration) {
	if len(n.cfg.Broker.HTTPListeners) == 0 {
		return nil
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metrics.Namespace, Subsystem: "log", Name: "fsync_duration_seconds",
		Help:    "Time of one fsync round of log data: a group commit's segments, indexes and folder (Kafka: LogFlushStats LogFlushRateAndTimeMs).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}})
	metrics.Tee{n.registry, n.nodeRegistry}.MustRegister(h)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// procIO reads the process's storage-layer byte counts from
// /proc/self/io (read_bytes, write_bytes); ok is false where there is no
// such file (not Linux) or it cannot be parsed.
func procIO() (read, written int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	return parseProcIO(b)
}

// parseProcIO takes read_bytes and write_bytes from /proc/<pid>/io.
func parseProcIO(b []byte) (read, written int64, ok bool) {
	var seen int
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "read_bytes":
			read, seen = n, seen|1
		case "write_bytes":
			written, seen = n, seen|2
		}
	}
	return read, written, seen == 3
}
