package fjord_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteTopics on an internal topic is refused to every client
// (INVALID_REQUEST, naming the topic): deleting __consumer_offsets lost
// every group and committed offset. The group's offsets are still there.
func TestDeleteTopics_RefusesInternalTopics(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	offsets := kadm.Offsets{}
	offsets.AddOffset("orders", 0, 7, -1)
	if resp, err := adm.CommitOffsets(ctx, "g", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	for _, topic := range []string{"__consumer_offsets", "__transaction_state", "__cluster_metadata"} {
		resp, err := adm.DeleteTopics(ctx, topic)
		if err != nil {
			t.Fatalf("delete %s: %v", topic, err)
		}
		if r := resp[topic]; !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("delete %s: %v, want INVALID_REQUEST", topic, r.Err)
		}
	}
	got, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup("orders", 0); !ok || o.At != 7 {
		t.Fatalf("committed offset after the refused deletion: %+v %v, want 7", o, ok)
	}
}
