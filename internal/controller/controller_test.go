package controller

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
)

type harness struct {
	dir    string
	loader *metadata.Loader
	quorum *RaftQuorum
	ctrl   *Controller
}

func open(t *testing.T, dir string, brokers ...int32) *harness {
	t.Helper()
	cfg, _, err := config.LoadBroker(map[string]string{"log.dirs": dir})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{dir: dir, loader: metadata.NewLoader(metadata.NewImage("test-cluster"))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.quorum, err = OpenStandalone(ctx, nil, dir, 1, h.loader, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.quorum.Close() })
	h.ctrl = New(Config{Broker: cfg}, h.quorum, h.loader, nil)
	for _, b := range brokers {
		h.register(t, b)
	}
	return h
}

func TestController_CreateTopicPlacesReplicasOverLiveBrokers(t *testing.T) {
	h := open(t, t.TempDir(), 1, 2, 3)
	ctx := context.Background()
	tp, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for _, p := range tp.Partitions {
		if len(p.Replicas) != 3 || p.Leader != p.Replicas[0] || !reflect.DeepEqual(p.ISR, p.Replicas) {
			t.Fatalf("partition %+v", p)
		}
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Fatalf("replica %d twice in %+v", r, p)
			}
			seen[r] = true
		}
		leaders[p.Leader]++
	}
	if !reflect.DeepEqual(leaders, map[int32]int{1: 2, 2: 2, 3: 2}) {
		t.Fatalf("leaders not balanced: %v", leaders)
	}
	_, err = h.ctrl.CreateTopic(ctx, TopicSpec{Name: "big", Partitions: 1, ReplicationFactor: 4}, false)
	if !errors.Is(err, kerr.InvalidReplicationFactor) || !strings.Contains(err.Error(), "only 3 broker(s)") {
		t.Fatalf("RF 4 on 3 brokers: %v", err)
	}
	_, err = h.ctrl.CreateTopic(ctx, TopicSpec{Name: "x", Partitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 9}}}, false)
	if !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker in an assignment: %v", err)
	}
	_, err = h.ctrl.CreateTopic(ctx, TopicSpec{Name: "x", Partitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {2, 2}}}, false)
	if !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("repeated broker in an assignment: %v", err)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "orders", Partitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "or.ders", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "or_ders", Partitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, metadata.ErrInvalidTopic) {
		t.Fatalf("colliding name: %v", err)
	}
	// validateOnly commits nothing.
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "dry", Partitions: 1, ReplicationFactor: 1}, true); err != nil || h.ctrl.Image().Topic("dry") != nil {
		t.Fatalf("validate only: %v, topic %v", err, h.ctrl.Image().Topic("dry"))
	}
}

func TestController_ChangesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, 1)
	ctx := context.Background()
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "a", Partitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.CreatePartitions(ctx, "a", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.CreatePartitions(ctx, "a", 3, nil, false); !errors.Is(err, metadata.ErrInvalidPartitions) {
		t.Fatalf("shrinking: %v", err)
	}
	set := func(kv map[string]string) func(map[string]string) (map[string]string, error) {
		return func(map[string]string) (map[string]string, error) { return kv, nil }
	}
	if err := h.ctrl.AlterTopicConfigs(ctx, "a", set(map[string]string{"retention.ms": "5", "segment.bytes": "1048576"}), false); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.AlterTopicConfigs(ctx, "a", set(map[string]string{"retention.ms": "6"}), false); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.AlterTopicConfigs(ctx, "a", set(map[string]string{"retention.ms": "-7"}), false); err == nil {
		t.Fatal("an invalid value was accepted")
	}
	if _, err := h.ctrl.CreateTopic(ctx, TopicSpec{Name: "gone", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, internal := range []string{"__consumer_offsets", "__transaction_state", "__cluster_metadata"} {
		if err := h.ctrl.DeleteTopic(ctx, internal); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("deleting %s: %v, want INVALID_REQUEST", internal, err)
		}
	}
	first, err := h.ctrl.AllocateProducerIDs(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.ctrl.AllocateProducerIDs(ctx, 1, 0)
	if err != nil || first != metadata.FirstProducerID || second != first+ProducerIDBlockSize {
		t.Fatalf("producer ID blocks %d, %d (%v)", first, second, err)
	}
	before := h.ctrl.Image()
	if err := h.quorum.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := open(t, dir)
	after := h2.ctrl.Image()
	if !reflect.DeepEqual(after.Records(), before.Records()) || after.Offset != before.Offset {
		t.Fatalf("replayed image differs:\n%v\n%v", after.Records(), before.Records())
	}
	a := after.Topic("a")
	if len(a.Partitions) != 4 || !reflect.DeepEqual(a.Configs, map[string]string{"retention.ms": "6"}) || after.Topic("gone") != nil {
		t.Fatalf("topic a after reopen: %+v", a)
	}
	if next, _ := h2.ctrl.AllocateProducerIDs(ctx, 1, 0); next != second+ProducerIDBlockSize {
		t.Fatalf("producer IDs reused after reopen: %d", next)
	}
}

// A data folder of a release before the metadata log keeps its JSON image
// in __cluster_metadata-0/metadata.json: it becomes the log's first batch.
func TestLocalQuorum_MigratesLegacySnapshot(t *testing.T) {
	dir := t.TempDir()
	mdir := filepath.Join(dir, MetadataLogDir)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := metadata.NewTopicID()
	snap, _ := json.Marshal(map[string]any{"version": 1, "cluster_id": "test-cluster", "next_producer_id": 1003, "topics": []any{
		map[string]any{"name": "old", "id": id.String(), "partitions": []any{
			map[string]any{"index": 0, "leader": 1, "leader_epoch": 0, "replicas": []int{1}, "isr": []int{1}}}}}})
	if err := os.WriteFile(filepath.Join(mdir, metadata.LegacySnapshotFile), snap, 0o644); err != nil {
		t.Fatal(err)
	}
	h := open(t, dir)
	check := func(img *metadata.Image) {
		t.Helper()
		if tp := img.TopicByID(id); tp == nil || tp.Name != "old" || len(tp.Partitions) != 1 || img.NextProducerID != 1003 {
			t.Fatalf("migrated image: %+v, next producer ID %d", tp, img.NextProducerID)
		}
	}
	check(h.ctrl.Image())
	if _, err := os.Stat(filepath.Join(mdir, metadata.LegacySnapshotFile)); !os.IsNotExist(err) {
		t.Fatalf("legacy file still in place: %v", err)
	}
	if err := h.quorum.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir).ctrl.Image())
}

// register registers broker id and unfences it with a caught-up heartbeat,
// as a broker's Lifecycle does.
func (h *harness) register(t *testing.T, id int32) int64 {
	t.Helper()
	ctx := context.Background()
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID = id, h.ctrl.Image().ClusterID
	req.IncarnationID = [16]byte{byte(id)}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", uint16(9092+id)
	req.Listeners = append(req.Listeners, l)
	epoch, err := h.ctrl.RegisterBrokerRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h.heartbeat(t, id, epoch, false)
	if b := h.ctrl.Image().Broker(id); b == nil || b.Fenced {
		t.Fatalf("broker %d not unfenced: %+v", id, b)
	}
	return epoch
}

func (h *harness) heartbeat(t *testing.T, id int32, epoch int64, shutdown bool) *kmsg.BrokerHeartbeatResponse {
	t.Helper()
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset, hb.WantShutdown = id, epoch, h.ctrl.Image().Offset, shutdown
	return h.ctrl.handleBrokerHeartbeat(context.Background(), hb)
}
