package server

import (
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/metadata"
)

// Brokers are named to a client with their address on the listener it
// connected to; a broker without that listener is left out, and a
// partition it leads is answered LISTENER_NOT_FOUND (LEADER_NOT_AVAILABLE
// before Metadata v6) with no leader, as Kafka does.
func TestMetadata_AnswersPerListener(t *testing.T) {
	loader := metadata.NewLoader(metadata.NewImage("c"))
	id := metadata.NewTopicID()
	if _, err := loader.Apply([]metadata.Record{
		&metadata.RegisterBrokerRecord{BrokerID: 1, Endpoints: []metadata.Endpoint{{Name: "CLIENT", Host: "one", Port: 9092}, {Name: "REPL", Host: "one-r", Port: 9094}}},
		&metadata.RegisterBrokerRecord{BrokerID: 2, Endpoints: []metadata.Endpoint{{Name: "REPL", Host: "two-r", Port: 9094}}},
		&metadata.TopicRecord{Name: "t", TopicID: id},
		&metadata.PartitionRecord{PartitionID: 0, TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		&metadata.PartitionRecord{PartitionID: 1, TopicID: id, Replicas: []int32{2, 1}, ISR: []int32{1, 2}, Leader: 2},
	}, 0); err != nil {
		t.Fatal(err)
	}
	b := NewBroker(Config{NodeID: 1, AdvertisedHost: "one", AdvertisedPort: 9092, Advertised: map[string]metadata.Endpoint{
		"CLIENT": {Name: "CLIENT", Host: "one", Port: 9092}, "REPL": {Name: "REPL", Host: "one-r", Port: 9094}}}, loader, nil, nil, nil, slog.New(slog.DiscardHandler))
	img := loader.Image()
	hosts := func(listener string) map[int32]string {
		out := map[int32]string{}
		for _, mb := range b.liveBrokers(img, listener) {
			out[mb.NodeID] = mb.Host
		}
		return out
	}
	if got := hosts("CLIENT"); len(got) != 1 || got[1] != "one" {
		t.Errorf("CLIENT listener: brokers %v, want only 1 at one", got)
	}
	if got := hosts("REPL"); len(got) != 2 || got[1] != "one-r" || got[2] != "two-r" {
		t.Errorf("REPL listener: brokers %v, want 1 at one-r and 2 at two-r", got)
	}
	if got := hosts("HIDDEN"); len(got) != 0 {
		t.Errorf("a listener no broker advertises: brokers %v, want none", got)
	}
	for _, tt := range []struct {
		listener string
		version  int16
		leader   int32
		code     int16
	}{{"CLIENT", 12, -1, kerr.ListenerNotFound.Code}, {"CLIENT", 5, -1, kerr.LeaderNotAvailable.Code}, {"REPL", 12, 2, 0}} {
		st := b.describeTopic(img, img.Topic("t"), tt.listener, tt.version)
		if p := st.Partitions[0]; p.Leader != 1 || p.ErrorCode != 0 {
			t.Errorf("%s v%d: partition 0 (led by this broker) leader %d code %d", tt.listener, tt.version, p.Leader, p.ErrorCode)
		}
		if p := st.Partitions[1]; p.Leader != tt.leader || p.ErrorCode != tt.code {
			t.Errorf("%s v%d: partition 1 leader %d code %d, want %d %d", tt.listener, tt.version, p.Leader, p.ErrorCode, tt.leader, tt.code)
		}
	}
	// A listener this broker serves but does not advertise: its own
	// partitions cannot be reached there either.
	if p := b.describeTopic(img, img.Topic("t"), "HIDDEN", 12).Partitions[0]; p.Leader != -1 || p.ErrorCode != kerr.ListenerNotFound.Code {
		t.Errorf("unadvertised listener: partition 0 (led by this broker) leader %d code %d, want -1 LISTENER_NOT_FOUND", p.Leader, p.ErrorCode)
	}
}
