package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/kconn"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/record"
)

// leaderEnd is the far end of a fetcher's connection: the test reads the
// fetcher's requests and writes the answers.
type leaderEnd struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// next reads one request into req (its key and version must match) and
// returns its correlation ID.
func (l *leaderEnd) next(req kmsg.Request) int32 {
	l.t.Helper()
	_ = l.nc.SetDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(l.br, size[:]); err != nil {
		l.t.Fatalf("reading a request: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(l.br, body); err != nil {
		l.t.Fatalf("reading a request: %v", err)
	}
	key, version := int16(binary.BigEndian.Uint16(body)), int16(binary.BigEndian.Uint16(body[2:]))
	corr := int32(binary.BigEndian.Uint32(body[4:]))
	if key != req.Key() {
		l.t.Fatalf("request key %d, want %d", key, req.Key())
	}
	req.SetVersion(version)
	rest := body[8:]
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2+max(int(idLen), 0):]
	if req.IsFlexible() {
		rest = rest[1:] // request header v2: no tagged fields
	}
	if err := req.ReadFrom(rest); err != nil {
		l.t.Fatalf("decoding request key %d: %v", key, err)
	}
	return corr
}

// answer writes resp (response header v0 or v1) with correlation ID corr.
func (l *leaderEnd) answer(corr int32, resp kmsg.Response) {
	l.t.Helper()
	body := binary.BigEndian.AppendUint32(nil, uint32(corr))
	if resp.IsFlexible() {
		body = append(body, 0)
	}
	body = resp.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := l.nc.Write(append(frame, body...)); err != nil {
		l.t.Fatalf("answering: %v", err)
	}
}

// A fetch round takes its partitions, then may wait seconds (a dial, an
// OffsetForLeaderEpoch over a partitioned network) before it sends its
// Fetch. A partition that meanwhile became leader in a newer epoch and took
// writes must not be in that Fetch: its log end now counts records the old
// leader does not have at those offsets, and an old leader not yet told it
// was replaced would count them as replicated and acknowledge its own
// records there (seen as a lost acks=all record in TestNemesis_IsolateNode).
func TestFetcher_RoundDoesNotReportANewerEpochsLog(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	parts, cfg := testReplicas(t, logger)
	now := time.Now()
	following := partition.Leadership{Leader: 2, LeaderEpoch: 3, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	var ps [2]*partition.Partition
	for i := range ps {
		p, err := parts.Create(partition.ID{Topic: "t", Partition: int32(i)}, [16]byte{7}, cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		p.ApplyLeadership(following, now)
		recs := make([]record.Record, 5)
		for j := range recs {
			recs[j] = record.Record{OffsetDelta: int32(j), Value: []byte("from leader 2")}
		}
		if _, err := p.AppendAsFollower(2, 3, record.Build(recs, record.BuildOptions{PartitionLeaderEpoch: 3, BaseTimestamp: now.UnixMilli()}), now); err != nil {
			t.Fatal(err)
		}
		if err := p.SyncTo(context.Background(), 5); err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	m := New(Config{NodeID: 1}, parts, nil, nil, logger)
	t.Cleanup(m.Close)
	f := newFetcher(m, 2)
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	c := kconn.New(client, "test")
	leader := &leaderEnd{t: t, nc: server, br: bufio.NewReader(server)}
	// Partition 0 was checked against leader 2 in epoch 3; partition 1
	// was not, so the round asks OffsetForLeaderEpoch first.
	done := make(chan error, 1)
	go func() {
		_, err := f.round(c, []*followed{{part: ps[0], epoch: 3, truncated: true}, {part: ps[1], epoch: 3}})
		done <- err
	}()

	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	corr := leader.next(ofe)
	// While that question waits, leader 2 is replaced: this replica leads
	// partition 0 in epoch 4 and appends a client's records.
	ps[0].ApplyLeadership(partition.Leadership{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1}}, now)
	if _, err := ps[0].Append(record.Build(make([]record.Record, 1), record.BuildOptions{BaseTimestamp: now.UnixMilli()}), now); err != nil {
		t.Fatal(err)
	}
	if err := ps[0].SyncTo(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	resp := ofe.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range ofe.Topics {
		tr := kmsg.NewOffsetForLeaderEpochResponseTopic()
		tr.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			pr := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			pr.Partition, pr.LeaderEpoch, pr.EndOffset = rp.Partition, 3, 5
			tr.Partitions = append(tr.Partitions, pr)
		}
		resp.Topics = append(resp.Topics, tr)
	}
	leader.answer(corr, resp)

	fetch := kmsg.NewPtrFetchRequest()
	leader.next(fetch)
	var sent []int32
	for _, rt := range fetch.Topics {
		for _, rp := range rt.Partitions {
			sent = append(sent, rp.Partition)
			if rp.Partition == 0 {
				t.Errorf("the Fetch to leader 2 in epoch %d reports partition 0 at offset %d, a log end that holds this replica's own epoch-4 records",
					rp.CurrentLeaderEpoch, rp.FetchOffset)
			}
		}
	}
	if len(sent) != 1 || sent[0] != 1 {
		t.Errorf("the Fetch names partitions %v, want [1] (the one still following leader 2)", sent)
	}
	server.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the round did not end once the connection closed")
	}
}
