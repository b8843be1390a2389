package server_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopics_Validation(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)

	cases := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
		msgHas     string
	}{
		{"ok", "orders", 3, 1, nil, nil, ""},
		{"defaults", "defaults", -1, -1, nil, nil, ""},
		{"exists", "orders", 3, 1, nil, kerr.TopicAlreadyExists, ""},
		{"rf above broker count", "replicated", 3, 3, nil, kerr.InvalidReplicationFactor, "1 broker"},
		{"zero partitions", "zero", 0, 1, nil, kerr.InvalidPartitions, ""},
		{"bad name", "bad/name", 1, 1, nil, kerr.InvalidTopicException, ""},
		{"collision", "orders_x", 1, 1, nil, nil, ""},
		{"collides with orders_x", "orders.x", 1, 1, nil, kerr.InvalidTopicException, "collides"},
		{"unknown config", "cfg1", 1, 1, map[string]*string{"no.such.key": kadm.StringPtr("1")}, kerr.InvalidConfig, "no.such.key"},
		{"bad config value", "cfg2", 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("abc")}, kerr.InvalidConfig, "segment.bytes"},
		{"good config", "cfg3", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := adm.CreateTopic(ctx, c.partitions, c.rf, c.configs, c.topic)
			if err != nil && !errors.Is(resp.Err, err) {
				t.Fatalf("request failed: %v", err)
			}
			if !errors.Is(resp.Err, c.want) && !(c.want == nil && resp.Err == nil) {
				t.Fatalf("got %v (%s), want %v", resp.Err, resp.ErrMessage, c.want)
			}
			if c.msgHas != "" && !strings.Contains(resp.ErrMessage, c.msgHas) {
				t.Fatalf("message %q does not mention %q", resp.ErrMessage, c.msgHas)
			}
		})
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(td["orders"].Partitions); got != 3 {
		t.Fatalf("orders has %d partitions", got)
	}
	if td["orders"].ID == ([16]byte{}) {
		t.Fatal("topic id missing")
	}
	if _, ok := td["replicated"]; ok {
		t.Fatal("failed creation left a topic")
	}
}

func TestCreateTopics_ValidateOnlyCreatesNothing(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	resp, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "dry")
	if err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	td, _ := adm.ListTopics(ctx)
	if td.Has("dry") {
		t.Fatal("validate-only created the topic")
	}
}

func TestTopics_SurviveRestartAndDelete(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "gone"); err != nil {
		t.Fatal(err)
	}
	before, _ := adm.ListTopics(ctx)
	dr, err := adm.DeleteTopics(ctx, "gone")
	if err != nil || dr.Error() != nil {
		t.Fatal(err, dr.Error())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir)
	_, adm2 := newClient(t, n2.Addr())
	after, err := adm2.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Has("gone") || !after.Has("keep") {
		t.Fatalf("topics after restart: %v", after.Names())
	}
	if after["keep"].ID != before["keep"].ID {
		t.Fatal("topic id changed across restart")
	}
	rc, err := adm2.DescribeTopicConfigs(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("keep", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range c.Configs {
		if e.Key == "retention.ms" {
			found = true
			if e.MaybeValue() != "3600000" || e.Source != 1 {
				t.Fatalf("retention.ms = %q source %v", e.MaybeValue(), e.Source)
			}
		}
	}
	if !found {
		t.Fatal("retention.ms not described")
	}
	dr2, _ := adm2.DeleteTopics(ctx, "never-was")
	if !errors.Is(dr2["never-was"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting an unknown topic: %v", dr2["never-was"].Err)
	}
}

func TestDeleteTopics_Disabled(t *testing.T) {
	n := startNode(t, t.TempDir(), "delete.topic.enable", "false")
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "stay"); err != nil {
		t.Fatal(err)
	}
	dr, _ := adm.DeleteTopics(ctx, "stay")
	if !errors.Is(dr["stay"].Err, kerr.TopicDeletionDisabled) {
		t.Fatalf("got %v", dr["stay"].Err)
	}
}

func TestCreatePartitions(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	r, err := adm.UpdatePartitions(ctx, 4, "grow")
	if err != nil || r.Error() != nil {
		t.Fatal(err, r.Error())
	}
	r, _ = adm.UpdatePartitions(ctx, 2, "grow")
	if !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking: %v", r["grow"].Err)
	}
	td, _ := adm.ListTopics(ctx, "grow")
	if len(td["grow"].Partitions) != 4 {
		t.Fatalf("partitions %d", len(td["grow"].Partitions))
	}
}

func TestDescribeConfigs_BrokerAndDocs(t *testing.T) {
	n := startNode(t, t.TempDir(), "num.partitions", "4")
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	rc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kadm.Config{}
	for _, r := range rc {
		for _, c := range r.Configs {
			got[c.Key] = c
		}
	}
	np, sb := got["num.partitions"], got["log.segment.bytes"]
	if np.MaybeValue() != "4" || np.Source != 4 {
		t.Fatalf("num.partitions = %q (source %v)", np.MaybeValue(), np.Source)
	}
	if sb.MaybeValue() != "1073741824" || sb.Source != 5 {
		t.Fatalf("log.segment.bytes = %q (source %v)", sb.MaybeValue(), sb.Source)
	}
}

// CreatePartitions as Kafka's controller answers it
// (ReplicationControlManager.createPartitions, ControllerApis): the same
// count or fewer is INVALID_PARTITIONS; a topic named twice in one request
// INVALID_REQUEST, once; __cluster_metadata is no topic of the image
// (UNKNOWN_TOPIC_OR_PARTITION). Internal topics are not refused: Kafka
// grows __consumer_offsets too, and groups, routed by
// offsets.topic.num.partitions, keep their offsets.
func TestCreatePartitions_AsKafka(t *testing.T) {
	n := startNode(t, t.TempDir(), groupNodeConfig...)
	cl, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "same"); err != nil {
		t.Fatal(err)
	}
	offsets := kadm.Offsets{}
	offsets.AddOffset("same", 0, 7, -1)
	if resp, err := adm.CommitOffsets(ctx, "g", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	r, _ := adm.UpdatePartitions(ctx, 2, "same")
	if !errors.Is(r["same"].Err, kerr.InvalidPartitions) {
		t.Errorf("same count: %v, want INVALID_PARTITIONS", r["same"].Err)
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10_000
	for _, c := range []struct {
		topic string
		count int32
	}{{"same", 3}, {"same", 4}, {"__cluster_metadata", 2}, {"__consumer_offsets", 6}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = c.topic, c.count
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int16{}
	for _, rt := range resp.Topics {
		got[rt.Topic] = append(got[rt.Topic], rt.ErrorCode)
	}
	want := map[string][]int16{
		"same":               {kerr.InvalidRequest.Code},
		"__cluster_metadata": {kerr.UnknownTopicOrPartition.Code},
		"__consumer_offsets": {0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	td, _ := adm.ListTopics(ctx, "same", "__consumer_offsets")
	if len(td["same"].Partitions) != 2 || len(td["__consumer_offsets"].Partitions) != 6 {
		t.Fatalf("partitions: same %d, __consumer_offsets %d", len(td["same"].Partitions), len(td["__consumer_offsets"].Partitions))
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("same", 0); !ok || o.At != 7 {
		t.Fatalf("committed offset after growing __consumer_offsets: %+v %v, want 7", o, ok)
	}
}

// A standalone node answers the reassignment APIs through its own
// controller, with Kafka's errors: a target naming an unknown broker,
// a cancel with nothing to cancel; a target equal to the replicas is a
// no-op, and nothing is listed.
func TestPartitionReassignments_Standalone(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "stay"); err != nil {
		t.Fatal(err)
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("stay", 0, []int32{2})
	req.Assign("stay", 1, []int32{1})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resp["stay"][0].Err, kerr.InvalidReplicaAssignment) || !errors.Is(resp["stay"][1].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("%+v", resp)
	}
	req = nil
	req.CancelAssign("stay", 0)
	if resp, err = adm.AlterPartitionAssignments(ctx, req); err != nil || !errors.Is(resp["stay"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel: %v %+v", err, resp)
	}
	req = nil
	req.Assign("stay", 0, []int32{1})
	if resp, err = adm.AlterPartitionAssignments(ctx, req); err != nil || resp["stay"][0].Err != nil {
		t.Fatalf("no-op: %v %+v", err, resp)
	}
	s := make(kadm.TopicsSet)
	s.Add("stay", 0)
	if l, err := adm.ListPartitionReassignments(ctx, s); err != nil || len(l) != 0 {
		t.Fatalf("list: %v %+v", err, l)
	}
}
