package server

// The transaction coordinator's shell on the broker: the txn.Service over
// this node's __transaction_state partitions (created on first use with
// transaction.state.log.*, followed like __consumer_offsets), the marker
// writer it calls (WriteTxnMarkers to each partition's leader: this
// node's partitions directly, the others' over brokerConns), and the
// verification of a transactional produce with the transaction's
// coordinator (KIP-890 part 1).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/coordinator"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
	"github.com/fjordstream/fjord/internal/txn"
)

// txnRequestTimeout bounds one request to another broker for the
// coordinator (a marker write, a verification).
const txnRequestTimeout = 10 * time.Second

// newTxnService builds the transaction coordinator of broker b.
func newTxnService(b *Broker, cfg *config.Broker) *txn.Service {
	sc := txn.ServiceConfig{
		Markers:    &markerWriter{b: b},
		ProducerID: b.pids.allocate,
	}
	if cfg != nil {
		sc.Txn = txn.Config{MaxTimeout: cfg.TransactionMaxTimeout, IDExpiration: cfg.TransactionalIDExpiration,
			AbortCheckInterval: cfg.TransactionAbortCheckInterval, ExpiredCheckInterval: cfg.TransactionExpiredCheckInterval}
		sc.NumPartitions = cfg.TransactionStateLogNumPartitions
	}
	return txn.NewService(sc, b.logger)
}

// Transactions returns the transaction coordinator; the node closes it
// (CloseTransactions) before the partitions.
func (b *Broker) Transactions() *txn.Service { return b.txns }

// CloseTransactions stops the transaction coordinator and drops the
// connections it used.
func (b *Broker) CloseTransactions() error {
	err := b.txns.Close()
	b.conns.close()
	return err
}

func (b *Broker) interBrokerListener() string {
	if b.cfg.Broker == nil {
		return ""
	}
	return b.cfg.Broker.InterBrokerListenerName
}

// syncTransactions loads the transaction coordinator of every
// __transaction_state partition this node leads and unloads the others.
func (b *Broker) syncTransactions(img *metadata.Image) error {
	return b.syncCoordinated(img, coordinated{
		topic: txn.StateTopic, num: b.txns.NumPartitions(), loaded: b.txnEpochs, what: "transaction coordinator",
		load: func(p, epoch int32, cl *coordinatorLog) error {
			return b.txns.Load(b.groupsCtx, p, epoch, cl, cl)
		},
		unload: b.txns.Unload,
	})
}

// ensureTxnTopic returns __transaction_state, creating it as Kafka does:
// transaction.state.log.num.partitions partitions, replication factor
// min(transaction.state.log.replication.factor, brokers),
// min.insync.replicas min(transaction.state.log.min.isr, that factor),
// compacted, transaction.state.log.segment.bytes segments.
func (b *Broker) ensureTxnTopic() (*metadata.Topic, error) {
	if t := b.meta.Image().Topic(txn.StateTopic); t != nil {
		return t, nil
	}
	rf := max(min(b.cfg.Broker.TransactionStateLogReplicationFactor, int16(b.brokerCount())), 1)
	ctx, cancel := adminCtx(0)
	defer cancel()
	t, err := b.ensureTopic(ctx, txn.StateTopic, b.txns.NumPartitions(), rf, map[string]string{
		"cleanup.policy":      "compact",
		"compression.type":    "uncompressed",
		"min.insync.replicas": strconv.Itoa(int(min(b.cfg.Broker.TransactionStateLogMinISR, int32(rf)))),
		"segment.bytes":       strconv.Itoa(int(b.cfg.Broker.TransactionStateLogSegmentBytes)),
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", txn.StateTopic, err)
	}
	return t, nil
}

// txnCode is the code of a transaction coordinator's answer: the
// coordinator runtime's errors as Kafka's coordinator remaps them, and
// PRODUCER_FENCED as INVALID_PRODUCER_EPOCH for request versions from
// before KIP-588 (newCodes false).
func txnCode(err error, newCodes bool) int16 {
	code := protocol.CoordinatorErrorCode(err)
	if code == kerr.ProducerFenced.Code && !newCodes {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// markerWriter is the coordinator's txn.MarkerWriter.
type markerWriter struct{ b *Broker }

// markerTarget is one partition of one job.
type markerTarget struct {
	job int
	tp  txn.TopicPartition
}

// WriteMarkers writes each job's marker to every partition of it: this
// node's partitions directly, the others' with one WriteTxnMarkers per
// leader. A partition whose topic is gone counts as written, as in Kafka;
// INVALID_PRODUCER_EPOCH (the partition has seen a newer epoch: its
// transaction was already ended) too.
func (w *markerWriter) WriteMarkers(ctx context.Context, coordinatorEpoch int32, jobs []txn.MarkerJob) []txn.MarkerResult {
	b := w.b
	out := make([]txn.MarkerResult, len(jobs))
	var mu sync.Mutex // guards out while the remote writes run
	fail := func(job int, tp txn.TopicPartition, err error) {
		mu.Lock()
		defer mu.Unlock()
		out[job].Failed = append(out[job].Failed, tp)
		if out[job].Err == nil {
			out[job].Err = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err)
		}
	}
	img := b.meta.Image()
	now := b.now()
	type localWait struct {
		job  int
		tp   txn.TopicPartition
		part *partition.Partition
		pend partition.Pending
	}
	var local []localWait
	remote := map[int32][]markerTarget{}
	for i, job := range jobs {
		for _, tp := range job.Partitions {
			t := img.Topic(tp.Topic)
			if t == nil || int(tp.Partition) >= len(t.Partitions) {
				continue // deleted: nothing to end there
			}
			leader := t.Partitions[tp.Partition].Leader
			switch {
			case leader < 0:
				fail(i, tp, errors.New("no leader"))
			case leader != b.cfg.NodeID:
				remote[leader] = append(remote[leader], markerTarget{i, tp})
			default:
				part := b.partitionFor(tp.Topic, tp.Partition)
				if part == nil {
					fail(i, tp, kerr.NotLeaderForPartition)
					continue
				}
				pend, err := part.WriteMarker(job.ProducerID, job.ProducerEpoch, job.Commit, coordinatorEpoch, now)
				if err = markerError(err); err != nil {
					fail(i, tp, err)
					continue
				}
				local = append(local, localWait{i, tp, part, pend})
			}
		}
	}
	var wg sync.WaitGroup
	for leader, targets := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.writeRemote(ctx, leader, coordinatorEpoch, jobs, targets, fail)
		}()
	}
	wctx, cancel := context.WithTimeout(ctx, markerTimeout)
	for _, l := range local {
		err := markerError(l.pend.Wait(wctx))
		if err == nil {
			err = b.markerDone(wctx, l.part, jobs[l.job].ProducerID, jobs[l.job].Commit)
		}
		if err != nil {
			fail(l.job, l.tp, err)
		}
	}
	cancel()
	wg.Wait()
	return out
}

// markerError is what a partition's answer to a marker means to the
// coordinator: nil when the marker is there (or can never be, the
// partition having moved past the producer's epoch).
func markerError(err error) error {
	if errors.Is(err, partition.ErrInvalidProducerEpoch) || errors.Is(err, kerr.InvalidProducerEpoch) {
		return nil
	}
	return err
}

// writeRemote sends one WriteTxnMarkers to leader for targets and reports
// the partitions that failed.
func (w *markerWriter) writeRemote(ctx context.Context, leader, coordinatorEpoch int32, jobs []txn.MarkerJob, targets []markerTarget,
	fail func(job int, tp txn.TopicPartition, err error)) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	byJob := map[int]int{} // job -> index in req.Markers
	for _, t := range targets {
		mi, ok := byJob[t.job]
		if !ok {
			job := jobs[t.job]
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = job.ProducerID, job.ProducerEpoch, job.Commit, coordinatorEpoch
			req.Markers = append(req.Markers, m)
			mi = len(req.Markers) - 1
			byJob[t.job] = mi
		}
		m := &req.Markers[mi]
		ti := -1
		for k := range m.Topics {
			if m.Topics[k].Topic == t.tp.Topic {
				ti = k
			}
		}
		if ti < 0 {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = t.tp.Topic
			m.Topics = append(m.Topics, mt)
			ti = len(m.Topics) - 1
		}
		m.Topics[ti].Partitions = append(m.Topics[ti].Partitions, t.tp.Partition)
	}
	resp := kmsg.NewPtrWriteTxnMarkersResponse()
	if err := w.b.conns.call(ctx, leader, req, resp, markerTimeout+txnRequestTimeout); err != nil {
		for _, t := range targets {
			fail(t.job, t.tp, err)
		}
		return
	}
	answered := map[markerTarget]bool{}
	for job, mi := range byJob {
		if mi >= len(resp.Markers) {
			continue
		}
		for _, rt := range resp.Markers[mi].Topics {
			for _, rp := range rt.Partitions {
				tp := txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
				answered[markerTarget{job, tp}] = true
				if err := markerError(kerr.ErrorForCode(rp.ErrorCode)); err != nil {
					fail(job, tp, fmt.Errorf("on broker %d: %w", leader, err))
				}
			}
		}
	}
	for _, t := range targets {
		if !answered[t] {
			fail(t.job, t.tp, fmt.Errorf("broker %d did not answer for it", leader))
		}
	}
}

// verifyTransactional checks a transactional batch of txnID's producer
// pid at epoch with the transaction's coordinator before part takes it
// (KIP-890 part 1), unless the producer's transaction is already open on
// part (verified when it began). A verified write is allowed once
// (Partition.AllowTransaction); a marker in between withdraws it. The
// coordinator's refusals keep their codes; its being away or busy
// becomes NOT_ENOUGH_REPLICAS, which every client retries, as Kafka
// answers.
//
// tv2 is a KIP-890 part 2 write (Produce v12+, TxnOffsetCommit v5+): the
// producer did not add the partition itself, so the coordinator is asked
// to add it (which starts the transaction), not just to verify; a
// transaction still completing (CONCURRENT_TRANSACTIONS) is waited for a
// moment, as Kafka's leader retries it.
func (b *Broker) verifyTransactional(ctx context.Context, part *partition.Partition, txnID string, pid int64, epoch int16, tv2 bool) error {
	if part.InTransaction(pid) {
		// Its transaction is open here: verified when it began. A zombie
		// of an older epoch is refused at once (its append would be,
		// and on __consumer_offsets that fails the coordinator's batch).
		// A newer epoch is the producer's next transaction (KIP-890
		// part 2 bumps the epoch per transaction) arriving before the
		// previous one's marker: it must not join that transaction, so
		// it asks the coordinator like any first write (which answers
		// CONCURRENT_TRANSACTIONS until the markers are written), as
		// Kafka's hasOngoingTransaction(pid, epoch).
		e, ok := part.ProducerEpoch(pid)
		switch {
		case ok && epoch < e:
			return fmt.Errorf("%w: producer %d epoch %d, the partition has seen epoch %d", kerr.InvalidProducerEpoch, pid, epoch, e)
		case !ok || epoch == e:
			return nil
		}
	}
	tp := txn.TopicPartition{Topic: part.ID.Topic, Partition: part.ID.Partition}
	var (
		token uint64
		err   error
	)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		// The guard is taken before asking: a marker meanwhile withdraws it.
		token = part.VerificationGuard(pid, epoch, tv2)
		err = b.askCoordinator(ctx, txnID, pid, epoch, tp, tv2)
		if !tv2 || !errors.Is(err, kerr.ConcurrentTransactions) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	if err != nil {
		switch code := protocol.CoordinatorErrorCode(err); code {
		case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
			kerr.ConcurrentTransactions.Code, kerr.UnknownServerError.Code:
			return fmt.Errorf("%w: the transaction coordinator could not verify the write: %w", kerr.NotEnoughReplicas, err)
		case kerr.ProducerFenced.Code:
			// As Kafka's AddPartitionsToTxnManager: producers expect
			// INVALID_PRODUCER_EPOCH from a write.
			return fmt.Errorf("%w: %w", kerr.InvalidProducerEpoch, err)
		default:
			return err
		}
	}
	if !part.AllowTransaction(pid, epoch, token) {
		return fmt.Errorf("%w: producer %d's transaction ended while its write was being verified", kerr.InvalidTxnState, pid)
	}
	return nil
}

// askCoordinator verifies (or, tv2, adds) tp in txnID's transaction: in
// process when this node leads the coordinator's partition, over
// AddPartitionsToTxn otherwise.
func (b *Broker) askCoordinator(ctx context.Context, txnID string, pid int64, epoch int16, tp txn.TopicPartition, tv2 bool) error {
	if st := b.txns.Status(b.txns.PartitionFor(txnID)); st == coordinator.StatusActive || st == coordinator.StatusLoading {
		if tv2 {
			return b.txns.AddPartitionsTV2(ctx, txnID, pid, epoch, []txn.TopicPartition{tp})
		}
		return b.txns.Verify(ctx, txnID, pid, epoch, []txn.TopicPartition{tp})[0]
	}
	return b.verifyRemote(ctx, txnID, pid, epoch, tp, tv2)
}

// verifyRemote asks txnID's coordinator on another broker
// (AddPartitionsToTxn v4, verify_only; tv2: v5, adding the partition).
func (b *Broker) verifyRemote(ctx context.Context, txnID string, pid int64, epoch int16, tp txn.TopicPartition, tv2 bool) error {
	t := b.meta.Image().Topic(txn.StateTopic)
	p := b.txns.PartitionFor(txnID)
	if t == nil || int(p) >= len(t.Partitions) || t.Partitions[p].Leader < 0 {
		return kerr.CoordinatorNotAvailable
	}
	coord := t.Partitions[p].Leader
	if coord == b.cfg.NodeID {
		return kerr.CoordinatorLoadInProgress // leads it, not loaded yet
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if tv2 {
		req.Version = 5
	}
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = txnID, pid, epoch, !tv2
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
	tr.Topics = append(tr.Topics, rt)
	req.Transactions = append(req.Transactions, tr)
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	if err := b.conns.call(ctx, coord, req, resp, txnRequestTimeout); err != nil {
		return fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, tr := range resp.Transactions {
		for _, rt := range tr.Topics {
			for _, rp := range rt.Partitions {
				return kerr.ErrorForCode(rp.ErrorCode)
			}
		}
	}
	return fmt.Errorf("%w: the coordinator's answer names no partition", kerr.UnknownServerError)
}
