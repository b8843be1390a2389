package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

func txnCommit(pid int64, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = 3, "tx", "g", pid, 0
	req.Generation = -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchOffset(c *Coordinator, stable bool) (int64, int16) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, "g", stable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := c.OffsetFetch(req, time.Now()).Response.(*kmsg.OffsetFetchResponse)
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTxnOffsetCommit: a transaction's offsets stay pending (hidden;
// UNSTABLE_OFFSET_COMMIT with require_stable) until its commit marker,
// an abort drops them, and a reload from the records and markers ends in
// the same state.
func TestTxnOffsetCommit(t *testing.T) {
	c := New(Config{NumPartitions: 1})
	var log []coordinator.Record
	var markers []int // positions in log where a marker (pid, commit) went
	type marker struct {
		pid    int64
		commit bool
	}
	var ends []marker
	commit := func(pid, offset int64) {
		t.Helper()
		res := c.TxnOffsetCommit(txnCommit(pid, offset), time.Now())
		if code := res.Response.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit: code %d", code)
		}
		if len(res.Records) != 1 || res.Records[0].Producer == nil || res.Records[0].Producer.ID != pid {
			t.Fatalf("records %+v", res.Records)
		}
		log = append(log, res.Records...)
	}
	end := func(pid int64, ok bool) {
		c.CompleteTransaction(pid, ok, time.Now())
		markers = append(markers, len(log))
		ends = append(ends, marker{pid, ok})
	}
	commit(7, 10)
	if off, code := fetchOffset(c, false); off != -1 || code != 0 {
		t.Fatalf("pending shown: %d %d", off, code)
	}
	if _, code := fetchOffset(c, true); code != errUnstableOffsetCommit {
		t.Fatalf("require_stable with a pending offset: code %d", code)
	}
	end(7, true)
	if off, code := fetchOffset(c, true); off != 10 || code != 0 {
		t.Fatalf("after the commit: %d %d", off, code)
	}
	commit(8, 20)
	end(8, false)
	if off, _ := fetchOffset(c, true); off != 10 {
		t.Fatalf("after an abort: %d", off)
	}
	commit(9, 30) // still open

	// A reload: records and markers in log order.
	r := New(Config{NumPartitions: 1})
	mi := 0
	for i, rec := range log {
		for mi < len(markers) && markers[mi] == i {
			r.ReplayMarker(ends[mi].pid, ends[mi].commit)
			mi++
		}
		if err := r.ReplayTxn(*rec.Producer, rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	for ; mi < len(markers); mi++ {
		r.ReplayMarker(ends[mi].pid, ends[mi].commit)
	}
	if off, code := fetchOffset(r, true); off != -1 || code != errUnstableOffsetCommit {
		t.Fatalf("reloaded with 9's transaction open: %d %d", off, code)
	}
	if off, _ := fetchOffset(r, false); off != 10 {
		t.Fatalf("reloaded committed offset %d", off)
	}
	r.ReplayMarker(9, true)
	if off, code := fetchOffset(r, true); off != 30 || code != 0 {
		t.Fatalf("reloaded, after 9's commit: %d %d", off, code)
	}

	// A plain commit written after a transaction's offset stays when the
	// transaction commits later, as Kafka keeps the later record.
	commit(10, 40)
	plain := kmsg.NewPtrOffsetCommitRequest()
	plain.Version, plain.Group, plain.Generation = 8, "g", -1
	pt := kmsg.NewOffsetCommitRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewOffsetCommitRequestTopicPartition()
	pp.Partition, pp.Offset = 0, 50
	pt.Partitions = append(pt.Partitions, pp)
	plain.Topics = append(plain.Topics, pt)
	if code := c.OffsetCommit(plain, time.Now()).Response.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("plain commit: %d", code)
	}
	c.CompleteTransaction(9, true, time.Now())
	c.CompleteTransaction(10, true, time.Now())
	if off, _ := fetchOffset(c, false); off != 50 {
		t.Fatalf("the later plain commit was replaced by the earlier transactional one: %d", off)
	}
}
