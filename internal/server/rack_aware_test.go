package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's RackAwareReplicaSelector: the leader unless the client names a
// rack the leader is not in and a candidate is in it; then the most
// caught-up such candidate.
func TestSelectRackAware(t *testing.T) {
	cands := []readCandidate{
		{id: 2, rack: "b", logEndOffset: 10, sinceCaughtUp: time.Second},
		{id: 3, rack: "c", logEndOffset: 10},
		{id: 4, rack: "b", logEndOffset: 12, sinceCaughtUp: 3 * time.Second},
		{id: 5, rack: "d", logEndOffset: 7, sinceCaughtUp: time.Second},
		{id: 6, rack: "d", logEndOffset: 7, sinceCaughtUp: 2 * time.Second},
		{id: 7, rack: "e", logEndOffset: 7},
		{id: 8, rack: "e", logEndOffset: 7},
	}
	for _, tc := range []struct {
		name               string
		client, leaderRack string
		want               int32
	}{
		{"no client rack", "", "a", -1},
		{"leader in the client's rack", "b", "b", -1},
		{"no replica in the client's rack", "z", "a", -1},
		{"the highest log end offset", "b", "a", 4},
		{"the one in its rack", "c", "a", 3},
		{"then the most recently caught up", "d", "a", 5},
		{"then the highest ID", "e", "a", 8},
		{"leader without a rack", "c", "", 3},
	} {
		if got := selectRackAware(tc.client, tc.leaderRack, cands); got != tc.want {
			t.Errorf("%s: client rack %q, leader rack %q: %d, want %d", tc.name, tc.client, tc.leaderRack, got, tc.want)
		}
	}
}

// Only consumers' Fetch v11+ may be served by a follower (Kafka's
// fetchOnlyFromLeader).
func TestFetchFromFollower(t *testing.T) {
	for _, tc := range []struct {
		version int16
		replica int32
		want    bool
	}{{10, -1, false}, {11, -1, true}, {18, -1, true}, {11, 2, false}, {15, 3, false}} {
		req := kmsg.NewPtrFetchRequest()
		req.Version = tc.version
		if got := fetchFromFollower(req, tc.replica); got != tc.want {
			t.Errorf("v%d replica %d: %v, want %v", tc.version, tc.replica, got, tc.want)
		}
	}
}
