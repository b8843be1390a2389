package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A group whose metadata record would exceed __consumer_offsets'
// max.message.bytes cannot be stored. Kafka's group coordinator answers
// UNKNOWN_SERVER_ERROR (GroupMetadataManager.appendGroupMetadataErrorToResponseError
// maps MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE and INVALID_FETCH_SIZE to
// it): not retriable, so the client gives up instead of retrying forever.
// OffsetCommit metadata over offset.metadata.max.bytes, counted in UTF-16
// units as Java's String.length(), is OFFSET_METADATA_TOO_LARGE.
func TestGroup_TooLargeCodes(t *testing.T) {
	n := startNode(t, t.TempDir(), groupNodeConfig...)
	ctx := testCtx(t)
	cl, adm := newClient(t, n.Addr())
	createRawTopic(t, adm, "meta", nil)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "big", "consumer", 30000, 30000
	pr := kmsg.NewJoinGroupRequestProtocol()
	pr.Name, pr.Metadata = "range", bytes.Repeat([]byte("m"), 2<<20) // over the 1 MiB default
	join.Protocols = append(join.Protocols, pr)
	jr, err := join.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = jr.MemberID
		if jr, err = join.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if jr.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "big", jr.Generation, jr.MemberID
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = jr.MemberID, []byte("x")
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	sr, err := sync.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "sync of a group too large to store", sr.ErrorCode, kerr.UnknownServerError)

	commit := func(metadata string) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "meta-group", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "meta"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.Metadata = 1, kmsg.StringPtr(metadata)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "4097 characters of metadata", commit(strings.Repeat("a", 4097)), kerr.OffsetMetadataTooLarge)
	wantCode(t, "4096 two-byte characters of metadata", commit(strings.Repeat("é", 4096)), nil)
}
