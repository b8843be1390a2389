package server

// DescribeTransactions (key 65), v0 (KIP-664): each transactional ID's
// state at its coordinator: state name, timeout, start time (-1 when no
// transaction is open), producer ID and epoch, and the open transaction's
// partitions. NOT_COORDINATOR for an ID coordinated elsewhere,
// TRANSACTIONAL_ID_NOT_FOUND for an unknown one.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleDescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		for _, id := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
			t, err := b.txns.Describe(ctx, id)
			if err != nil {
				st.ErrorCode = txnCode(err, true)
				resp.TransactionStates = append(resp.TransactionStates, st)
				continue
			}
			st.State = txn.StateName(t.State)
			st.TimeoutMillis = int32(t.Timeout.Milliseconds())
			if !t.StartTime.IsZero() {
				st.StartTimestamp = t.StartTime.UnixMilli()
			}
			st.ProducerID, st.ProducerEpoch = t.ProducerID, t.ProducerEpoch
			for _, tp := range t.SortedPartitions() {
				if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
					st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
					continue
				}
				rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
				st.Topics = append(st.Topics, rt)
			}
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp
	})
}
