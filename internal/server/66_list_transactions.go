package server

// ListTransactions (key 66), v0-v1 (KIP-664, KIP-994): the transactions
// this broker coordinates, filtered by state name (unknown names are
// answered in UnknownStateFilters and match nothing, as Kafka), by
// producer ID, and (v1) to those open for at least DurationFilterMillis.
// COORDINATOR_LOAD_IN_PROGRESS while a partition of it is loading.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []kmsg.TransactionState
	for _, name := range req.StateFilters {
		s, ok := txnStateByName(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, s)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return &inflight{resp: resp} // only unknown states: nothing matches
	}
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		ls, loading, err := b.txns.List(ctx, states, req.ProducerIDFilters, time.Duration(req.DurationFilterMillis)*time.Millisecond)
		switch {
		case err != nil:
			resp.ErrorCode = txnCode(err, true)
			return resp
		case loading:
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp
		}
		for _, l := range ls {
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = l.ID, l.ProducerID, txn.StateName(l.State)
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp
	})
}

// txnStateByName is the state Kafka names name.
func txnStateByName(name string) (kmsg.TransactionState, bool) {
	for s := kmsg.TransactionStateEmpty; s <= kmsg.TransactionStatePrepareEpochFence; s++ {
		if txn.StateName(s) == name {
			return s, true
		}
	}
	return 0, false
}
