package fjord_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// scrape reads a node's /metrics into families by name.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapePath(t, addr, "/metrics")
}

// scrapePath reads one of a node's metrics endpoints.
func scrapePath(t *testing.T, addr, path string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// every label=value pair given, or -1 when there is none. Counters,
// gauges and a histogram's count are read.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The figures /metrics reports follow a known workload: records and
// bytes in equal what the partition's log holds, bytes out what a
// consumer read, requests counted by API; /healthz and /readyz answer.
func TestMetrics_FollowAKnownWorkload(t *testing.T) {
	n := startNode(t, "http.listeners", "http://127.0.0.1:0")
	addr := n.HTTPAddr()
	if addr == "" {
		t.Fatal("no HTTP listener")
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("metered"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "metered"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	const records = 5000
	for i := range records {
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "value-%06d-%s", i, strings.Repeat("x", i%100))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dirs, err := kadm.NewClient(cl).DescribeAllLogDirs(ctx, kadm.TopicsSet{"metered": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var logBytes int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { logBytes += p.Size })
	})
	if logBytes <= 0 {
		t.Fatalf("log size %d", logBytes)
	}

	fams := scrape(t, addr)
	if got := value(fams, "fjord_topic_records_in_total", "topic", "metered"); got != records {
		t.Errorf("records in: %v, want %d", got, records)
	}
	// Batches are stored as they arrive: the bytes in are the log's size.
	if got := value(fams, "fjord_topic_bytes_in_total", "topic", "metered"); got != float64(logBytes) {
		t.Errorf("bytes in: %v, want the log's %d", got, logBytes)
	}
	if got := value(fams, "fjord_server_requests_total", "api", "Produce"); got < 1 {
		t.Errorf("produce requests: %v", got)
	}
	if got := value(fams, "fjord_server_request_duration_seconds", "api", "Produce"); got < 1 {
		t.Errorf("produce latency samples: %v", got)
	}
	if got := value(fams, "fjord_server_connections"); got < 1 {
		t.Errorf("connections: %v with a client connected", got)
	}
	if got := value(fams, "fjord_server_network_received_bytes_total"); got < float64(logBytes) {
		t.Errorf("network bytes in %v, below the %d bytes of records produced", got, logBytes)
	}
	if got := value(fams, "fjord_log_fsync_duration_seconds"); got < 1 {
		t.Errorf("fsync rounds observed: %v (log.flush.interval.messages=1 fsyncs every produce)", got)
	}
	if total, used := value(fams, "fjord_log_dir_total_bytes"), value(fams, "fjord_log_dir_used_bytes"); total <= 0 || used <= 0 || used > total {
		t.Errorf("log dir: %v used of %v", used, total)
	}
	// Only this topic's log was written (no group has committed yet).
	if got := value(fams, "fjord_log_written_bytes_total"); got != float64(logBytes) {
		t.Errorf("log bytes written %v, want the topic's %d", got, logBytes)
	}
	if runtime.GOOS == "linux" && fams["fjord_node_disk_written_bytes_total"] == nil {
		t.Error("no /proc/self/io metrics on Linux")
	}
	if got := value(fams, "fjord_log_dir_log_bytes"); got < float64(logBytes) {
		t.Errorf("log dir's log bytes %v, below the topic's %d", got, logBytes)
	}
	if value(fams, "go_goroutines") <= 0 || value(fams, "process_resident_memory_bytes") <= 0 {
		t.Error("no Go runtime or process metrics")
	}
	// /metrics/node: the same node-wide figures, no per-partition series.
	nodeFams := scrapePath(t, addr, "/metrics/node")
	for _, fams := range []map[string]*dto.MetricFamily{fams, nodeFams} {
		if got := value(fams, "fjord_broker_bytes_in_total"); got != float64(logBytes) {
			t.Errorf("broker bytes in: %v, want %d", got, logBytes)
		}
		if got := value(fams, "fjord_broker_records_in_total"); got != records {
			t.Errorf("broker records in: %v, want %d", got, records)
		}
	}
	if value(nodeFams, "fjord_topic_bytes_in_total") >= 0 {
		t.Error("per-topic series at /metrics/node")
	}
	if value(nodeFams, "fjord_node_info") != 1 || value(nodeFams, "fjord_broker_partitions") < 1 || value(nodeFams, "fjord_log_fsync_duration_seconds") < 1 {
		t.Error("/metrics/node lacks node-wide metrics")
	}
	if value(fams, "fjord_partition_log_end_offset", "topic", "metered") < 0 || value(nodeFams, "fjord_partition_log_end_offset") >= 0 {
		t.Error("per-partition series: want them at /metrics only")
	}

	// A consumer reads everything once: the bytes out are the log's size
	// (a batch re-sent at a fetch's edge would add a little).
	consumer, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("metered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for got := 0; got < records; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	fams = scrape(t, addr)
	if got := value(fams, "fjord_topic_bytes_out_total", "topic", "metered"); got < float64(logBytes) || got > 1.05*float64(logBytes) {
		t.Errorf("bytes out: %v, want the log's %d (within 5%%)", got, logBytes)
	}
	if got := value(fams, "fjord_topic_records_out_total", "topic", "metered"); got < records || got > 1.05*records {
		t.Errorf("records out: %v, want the %d produced (within 5%%)", got, records)
	}
	if got := value(fams, "fjord_log_read_bytes_total"); got < float64(logBytes) || got > 1.05*float64(logBytes) {
		t.Errorf("log bytes read: %v, want the log's %d (within 5%%)", got, logBytes)
	}
	if got := value(fams, "fjord_server_requests_total", "api", "Fetch"); got < 1 {
		t.Errorf("fetch requests: %v", got)
	}

	// A group's lag is the high watermark minus its committed offset.
	offs := kadm.Offsets{}
	offs.AddOffset("metered", 0, 3000, -1)
	if resp, err := kadm.NewClient(cl).CommitOffsets(ctx, "meter-readers", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	fams = scrape(t, addr)
	if got := value(fams, "fjord_group_lag_records", "group", "meter-readers", "topic", "metered", "partition", "0"); got != records-3000 {
		t.Errorf("group lag %v, want %d", got, records-3000)
	}
	if got := value(fams, "fjord_group_total_lag_records", "group", "meter-readers"); got != records-3000 {
		t.Errorf("group total lag %v, want %d", got, records-3000)
	}
	if got := value(fams, "fjord_group_committed_offset", "group", "meter-readers", "topic", "metered"); got != 3000 {
		t.Errorf("committed offset %v, want 3000", got)
	}
	if got := value(fams, "fjord_group_offset_commits_total"); got != 1 {
		t.Errorf("offset commits %v, want 1", got)
	}
	if got := value(fams, "fjord_group_state", "group", "meter-readers", "state", "Empty"); got != 1 {
		t.Errorf("group state Empty: %v", got)
	}
	if got := value(fams, "fjord_group_members", "group", "meter-readers"); got != 0 {
		t.Errorf("members of an offsets-only group: %v", got)
	}

	// A group member joining is a rebalance (a new generation, or for
	// KIP-848 a target assignment for a new group epoch).
	joiner, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("metered"), kgo.ConsumerGroup("rebalancers"))
	if err != nil {
		t.Fatal(err)
	}
	if fs := joiner.PollRecords(ctx, 1); fs.Err0() != nil {
		t.Fatal(fs.Err0())
	}
	joiner.Close()
	fams = scrape(t, addr)
	if got := value(fams, "fjord_group_rebalances_total", "protocol", "classic") + value(fams, "fjord_group_rebalances_total", "protocol", "consumer"); got < 1 {
		t.Errorf("rebalances %v after a member joined", got)
	}

	// Errors are counted by API and Kafka's error name.
	adm := kadm.NewClient(cl)
	for range 2 {
		if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "metered"); !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("creating an existing topic: %v %v", err, resp.Err)
		}
	}
	if resps, err := adm.DeleteTopics(ctx, "never-made"); err == nil && resps["never-made"].Err == nil {
		t.Fatalf("deleting a missing topic succeeded: %+v", resps)
	}
	fams = scrape(t, addr)
	if got := value(fams, "fjord_server_request_errors_total", "api", "CreateTopics", "error", "TOPIC_ALREADY_EXISTS"); got != 2 {
		t.Errorf("CreateTopics TOPIC_ALREADY_EXISTS counted %v times, want 2", got)
	}
	if got := value(fams, "fjord_server_request_errors_total", "api", "DeleteTopics", "error", "UNKNOWN_TOPIC_OR_PARTITION"); got != 1 {
		t.Errorf("DeleteTopics UNKNOWN_TOPIC_OR_PARTITION counted %v times, want 1", got)
	}
	if got := value(fams, "fjord_server_request_errors_total", "api", "Produce"); got != -1 {
		t.Errorf("produce errors counted (%v) in a clean run", got)
	}
	// kgo asks for ApiVersions newer than Fjord serves first (KIP-511):
	// that answer's error is ApiVersions', not another API's.
	if got := value(fams, "fjord_server_request_errors_total", "api", "ApiVersions", "error", "UNSUPPORTED_VERSION"); got < 1 {
		t.Errorf("ApiVersions UNSUPPORTED_VERSION counted %v times", got)
	}

	// The caught-up consumer's fetch parks on the broker (kgo waits up to
	// 5 s): a request in flight.
	waitMetric(t, addr, "fjord_server_requests_in_flight", func(v float64) bool { return v >= 1 })

	// A deleted topic's series go with it.
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, "metered"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for value(scrape(t, addr), "fjord_topic_records_in_total", "topic", "metered") >= 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deleted topic's series are still there")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Once every client is gone, no request is in flight.
	consumer.Close()
	cl.Close()
	waitMetric(t, addr, "fjord_server_requests_in_flight", func(v float64) bool { return v == 0 })
}

// waitMetric scrapes addr until the metric's value satisfies ok (10 s).
func waitMetric(t *testing.T, addr, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := value(scrape(t, addr), name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v", name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An embedded node serves no HTTP unless asked.
func TestMetrics_OffByDefaultWhenEmbedded(t *testing.T) {
	if addr := startNode(t).HTTPAddr(); addr != "" {
		t.Fatalf("an embedded node serves HTTP on %s by default", addr)
	}
}

// sum adds a metric over the running nodes of c; -1 when none of them
// exposes it, so a check for 0 does not pass on a metric gone missing.
func sum(t *testing.T, c *fjord.Cluster, down int, name string, labels ...string) float64 {
	t.Helper()
	total, found := 0.0, false
	for i := range 3 {
		if i == down {
			continue
		}
		if v := value(scrape(t, c.Node(i).HTTPAddr()), name, labels...); v >= 0 {
			total, found = total+v, true
		}
	}
	if !found {
		return -1
	}
	return total
}

// In a three-node cluster, stopping a broker makes the partitions it
// followed under-replicated on their leaders and fences it at the active
// controller; its return clears both.
func TestMetrics_UnderReplicatedFollowsAStoppedBroker(t *testing.T) {
	c := startCluster(t, 3, "http.listeners", "http://127.0.0.1:0", "min.insync.replicas", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 3, nil, "watched"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// __consumer_offsets counts too: every partition, RF 3.
	var total float64
	waitFor("every partition led, none under-replicated", func() bool {
		total = sum(t, c, -1, "fjord_controller_partitions")
		return total >= 6 && sum(t, c, -1, "fjord_broker_leader_partitions") == total && sum(t, c, -1, "fjord_broker_under_replicated_partitions") == 0
	})
	if got := sum(t, c, -1, "fjord_controller_active"); got != 1 {
		t.Fatalf("%v active controllers", got)
	}
	if got := sum(t, c, -1, "fjord_partition_log_end_offset", "topic", "watched", "partition", "0"); got != 0 {
		t.Fatalf("an empty partition's log end offsets sum to %v", got)
	}
	if got := value(scrape(t, c.Node(0).HTTPAddr()), "fjord_partition_follower_lag_seconds"); got < 0 {
		t.Error("no follower lag in time on a leader")
	}
	// Stop a broker that is not the active controller, so the elections
	// moving its leaderships are counted by a controller that stays.
	down := 2
	for i := range 3 {
		if value(scrape(t, c.Node(i).HTTPAddr()), "fjord_controller_active") == 1 {
			down = (i + 1) % 3
		}
	}
	led := value(scrape(t, c.Node(down).HTTPAddr()), "fjord_broker_leader_partitions")
	if led < 1 {
		t.Fatalf("broker %d leads %v partitions: nothing to elect", down+1, led)
	}
	before := sum(t, c, down, "fjord_controller_leader_elections_total", "type", "clean")
	if err := c.Stop(down); err != nil {
		t.Fatal(err)
	}
	// Every partition has a replica on the stopped broker.
	waitFor("every partition under-replicated and at min ISR, the broker fenced", func() bool {
		return sum(t, c, down, "fjord_broker_under_replicated_partitions") == total && sum(t, c, down, "fjord_controller_fenced_brokers") == 1 &&
			sum(t, c, down, "fjord_broker_at_min_isr_partitions") == total
	})
	if got := sum(t, c, down, "fjord_controller_leader_elections_total", "type", "clean") - before; got < led {
		t.Errorf("clean elections %v while the stopped broker led %v partitions", got, led)
	}
	if got := sum(t, c, down, "fjord_controller_leader_elections_total", "type", "unclean"); got != 0 {
		t.Errorf("unclean elections %v", got)
	}
	if err := c.Restart(ctx, down); err != nil {
		t.Fatal(err)
	}
	waitFor("no partition under-replicated again", func() bool {
		return sum(t, c, -1, "fjord_broker_under_replicated_partitions") == 0 && sum(t, c, -1, "fjord_controller_fenced_brokers") == 0
	})
	// The returned broker rejoined every ISR: each leader counted an
	// expansion per partition. The partitions whose leader stayed saw a
	// shrink (the controller's, fencing the broker); those it led got a
	// new leader instead.
	if got := sum(t, c, -1, "fjord_broker_isr_expands_total"); got < total {
		t.Errorf("ISR expansions %v, want at least %v", got, total)
	}
	if got := sum(t, c, -1, "fjord_broker_isr_shrinks_total"); got < 1 || got > total {
		t.Errorf("ISR shrinks %v, want 1 to %v", got, total)
	}
}

// http.console.enable serves the web console beside /metrics.
func TestMetrics_ConsoleOnTheNode(t *testing.T) {
	n := startNode(t, "http.listeners", "http://127.0.0.1:0", "http.console.enable", "true")
	code, body := get(t, "http://"+n.HTTPAddr()+"/topics")
	if code != 200 || !strings.Contains(body, "<h1>Topics</h1>") {
		t.Fatalf("/topics on the node: %d\n%s", code, body)
	}
	if code, body := get(t, "http://"+n.HTTPAddr()+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics beside the console: %d", code)
	}
	if code, _ := get(t, "http://"+startNode(t, "http.listeners", "http://127.0.0.1:0").HTTPAddr()+"/topics"); code != 404 {
		t.Fatalf("/topics without the console: %d", code)
	}
}
