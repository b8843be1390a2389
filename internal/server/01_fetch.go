package server

// Fetch (key 1), v4-v18. Long poll: the response is sent when MinBytes are
// available, on MaxWaitMillis, or at once on an error. Batches go out from
// the segment files as stored, never decoded or re-encoded: the handler
// pins file regions (log.ReadSlices) and the connection's writer sends them
// with sendfile(2) between the encoded parts of the response (see
// writeFetch). The first batch of the first non-empty partition is returned
// whole even above the limits (KIP-74).
// Consumers read up to the high watermark, read_committed ones
// (IsolationLevel 1) up to the last stable offset, with the aborted
// transactions whose records the batches returned hold (Kafka's
// collectAbortedTxns, from the fetch offset to the offset after the last
// batch), so the client drops them; read_uncommitted answers null there.
// Every consumer fetch answers the last stable offset. v13+ names topics
// by ID.
//
// Fetch sessions (KIP-227): Fjord answers every full fetch in full with
// session ID 0, which the protocol defines as "no session"; clients then keep
// sending full fetches. A full fetch is one with session epoch 0 (open a
// session: none is opened) or -1 (sessionless), whatever its session ID, as
// Kafka's FetchManager decides. Any other epoch is an incremental fetch of a
// session, and since Fjord never hands one out, it gets Kafka's answer for a
// session not in its cache: FETCH_SESSION_ID_NOT_FOUND, top level, no
// partitions (session ID 0 with epoch > 0 included: Kafka looks 0 up and
// finds nothing too).
//
// A topic whose compression.type is zstd answers Fetch v4-v9 with
// UNSUPPORTED_COMPRESSION_TYPE on each of its partitions (KIP-110: those
// clients predate zstd), as Kafka's KafkaApis does. Like Kafka, the check
// is on the topic's configuration: with compression.type=producer, zstd
// batches a v7+ producer sent are served as stored.
//
// Follower fetches (ReplicaID, or ReplicaState from v15, >= 0) read up to
// the log end offset, not the high watermark; their fetch offset tells the
// leader what the follower holds durably (see partition.Replica), and they
// wait for log-end changes as well as high-watermark ones.
//
// Fetching from a follower (KIP-392, see rack_aware.go): a follower serves
// consumers' Fetch v11+ (older ones get NOT_LEADER_OR_FOLLOWER, as Kafka's
// fetchOnlyFromLeader) up to its own high watermark, which it learns from
// the leader's fetch responses; an offset between its high watermark and
// its log end reads nothing yet, one past its log end is
// OFFSET_OUT_OF_RANGE, as on Kafka. A leader with the rack-aware selector
// may answer a partition with PreferredReadReplica and no records instead.
//
// Replication throttle (leader side, Kafka's ReplicaManager
// shouldLeaderThrottle and KafkaApis): a partition this node leads that
// its topic's leader.replication.throttled.replicas lists for this node
// (or "*") is throttled. While the node's leader quota
// (leader.replication.throttled.rate) is exceeded, a follower outside the
// committed ISR is answered for it with no records, not an error, and
// those partitions do not count towards the fetch's MinBytes; followers in
// the ISR are never held back (so the throttle cannot shrink the ISR), nor
// are consumers or unlisted partitions. The bytes of every throttled
// partition answered to a follower, ISR or not, are recorded against the
// quota when the response is made.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
	"github.com/fjordstream/fjord/internal/quota"
)

// maxFetchWait bounds MaxWaitMillis so a hostile client cannot park a
// connection forever.
const maxFetchWait = 5 * time.Minute

// fetchResult is a Fetch response whose record sets are pinned file
// regions: sets[t][p] belongs to resp.Topics[t].Partitions[p], whose
// RecordBatches stay empty. Whoever holds it last calls release: the
// writer after sending, or whoever drops it unsent.
type fetchResult struct {
	resp *kmsg.FetchResponse
	sets [][]*log.FileSlices
	// throttled counts the record bytes of partitions under the leader's
	// replication throttle, recorded against its quota once answered.
	throttled int64
	// consumer: a client's fetch, not a follower's (whose bytes the topic
	// metrics do not count, as Kafka's BytesOutPerSec does not).
	consumer bool
	// names are the topics' names, by index (requests from v13 name
	// topics by ID only).
	names []string
}

// countBytesOut adds the record bytes sent to a consumer to its topics'
// metrics.
func (r *fetchResult) countBytesOut(m *Metrics) {
	if m == nil || !r.consumer {
		return
	}
	for t, ps := range r.sets {
		var n, recs int64
		for _, fs := range ps {
			if fs != nil {
				n += fs.Size()
				recs += fs.Records()
			}
		}
		if n > 0 && t < len(r.names) && r.names[t] != "" {
			m.fetched(r.names[t], n, recs)
		}
	}
}

// recordSetLen is the protocol.AppendFetchResponse callback: the pinned
// length of a partition's record set, or -1 (inline, the empty set) when
// nothing was read.
func (r *fetchResult) recordSetLen(t, p int) int64 {
	if fs := r.sets[t][p]; fs != nil {
		return fs.Size()
	}
	return -1
}

// release unpins every record set; safe to call more than once.
func (r *fetchResult) release() {
	for _, ps := range r.sets {
		for _, fs := range ps {
			fs.Release()
		}
	}
}

// handleFetch answers a fetch at once when there is enough to send (the
// hot path: no allocation beyond the response), else parks it: the wait
// runs in the connection's writer, in turn with the responses before it,
// while the reader goes on reading. So a client that closes its
// connection is seen at once: the reader's context ends, the parked fetch
// returns, and the connection's goroutines, descriptor and pinned files
// go with it, not when MaxWait runs out.
func (b *Broker) handleFetch(ctx context.Context, req *kmsg.FetchRequest, listener string) *inflight {
	if incrementalFetch(req) {
		// No session was ever handed out, so none is found (Kafka's
		// SessionErrorContext: the error, session ID 0, no partitions).
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode, resp.SessionID = kerr.FetchSessionIDNotFound.Code, 0
		return &inflight{fetch: &fetchResult{resp: resp}}
	}
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	res, size, ready, keys := b.fetchOnce(req, listener)
	if ready || size >= int64(req.MinBytes) || wait <= 0 || len(keys) == 0 {
		b.recordThrottled(res)
		return &inflight{fetch: res}
	}
	// The response is unpinned while it waits, so a parked long poll
	// never keeps deleted segments open.
	res.release()
	deadline := time.Now().Add(wait) // MaxWait counts from the request, not from its turn
	fl := &inflight{}
	fl.finish = func(wctx context.Context) {
		fl.fetch = b.awaitFetch(ctx, wctx, req, listener, deadline, keys)
		b.recordThrottled(fl.fetch)
	}
	return fl
}

// awaitFetch waits, in the connection's writer, until the fetch has
// MinBytes or an error partition, until deadline, or until the client
// (ctx, the reader's) or the writer (wctx) stops, then answers with what
// is there. It parks in the delayed-operation registry, woken by a
// high-watermark change of any partition asked for; the state is read
// again after registering, so a change in between is not lost.
func (b *Broker) awaitFetch(ctx, wctx context.Context, req *kmsg.FetchRequest, listener string, deadline time.Time, keys []partition.ID) *fetchResult {
	delayed := b.parts.Delayed()
	events := partition.HighWatermarkMoved // consumers wait for what they may read
	if fetchReplica(req) >= 0 {
		events |= partition.LogEndMoved // followers for anything to copy
	}
	w, err := delayed.Watch(events, keys)
	if err != nil {
		b.logger.Warn("fetch answered without waiting", "err", err)
		res, _, _, _ := b.fetchOnce(req, listener)
		return res
	}
	defer delayed.Cancel(w)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		res, size, ready, _ := b.fetchOnce(req, listener)
		if ready || size >= int64(req.MinBytes) {
			return res
		}
		select {
		case <-w.C():
			res.release()
		case <-timer.C:
			return res
		case <-ctx.Done():
			return res
		case <-wctx.Done():
			return res
		}
	}
}

// fetchOnce builds a response from what is available now; size counts the
// pinned record set bytes. ready reports an error partition (answered at
// once, as Kafka does); keys names the partitions read, whose changes a
// long poll waits for when there is not enough data yet.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest, listener string) (res *fetchResult, size int64, ready bool, keys []partition.ID) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	res = &fetchResult{resp: resp, sets: make([][]*log.FileSlices, len(req.Topics))}
	resp.SessionID = 0
	remaining := int32(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = 1<<31 - 1
	}
	replica := fetchReplica(req)
	res.consumer = replica < 0
	if res.consumer && b.cfg.Metrics != nil {
		res.names = make([]string, len(req.Topics)) // for the topic metrics only
	}
	now := b.now()
	throttle := b.leaderThrottle(replica, now)
	for i := range req.Topics {
		rt := &req.Topics[i]
		res.sets[i] = make([]*log.FileSlices, len(rt.Partitions))
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := b.topicName(rt.Topic, rt.TopicID)
		if res.names != nil {
			res.names[i] = name
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Empty, not null: librdkafka and kafka-python reject a null
			// record set (size -1), and Kafka always sends an empty one.
			// The pinned regions take its place in the frame.
			sp.RecordBatches = []byte{}
			var part *partition.Partition
			switch {
			case !known && rt.TopicID != ([16]byte{}):
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case !known:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				part = b.partitionFor(name, rp.Partition)
				if part == nil {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			if part != nil && replica < 0 && req.Version < 10 && part.Config().CompressionType == "zstd" {
				// KIP-110, before any other check, as Kafka converts
				// every answered partition of a zstd topic for
				// consumers (never for followers).
				sp.ErrorCode = kerr.UnsupportedCompressionType.Code
			} else if part != nil {
				sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch, part.LeaderEpoch())
				if role := part.Role(); sp.ErrorCode == 0 && role != partition.RoleLeader &&
					(role != partition.RoleFollower || !fetchFromFollower(req, replica)) {
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				}
			}
			if sp.ErrorCode == 0 && replica >= 0 {
				// A follower's fetch offset is its durable log end: it
				// moves the ISR and the high watermark (Kafka's
				// updateFollowerFetchState).
				if err := part.FollowerFetched(replica, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.LogStartOffset, now); err != nil {
					sp.ErrorCode = protocol.ErrorCode(err)
				}
			}
			if sp.ErrorCode != 0 {
				ready = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			hw := part.HighWatermark()
			logStart := part.LogStartOffset()
			lso := part.LastStableOffset()
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, logStart
			if replica < 0 {
				if id := b.preferredReadReplica(req, part, rp.FetchOffset, listener); id >= 0 {
					// Redirected (KIP-392): no records, answered at once.
					sp.PreferredReadReplica, ready = id, true
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			keys = append(keys, part.ID)
			// Consumers read to the high watermark (read_committed ones
			// to the last stable offset), followers to the log end.
			visible := hw
			committed := replica < 0 && req.IsolationLevel == 1
			switch {
			case replica >= 0:
				visible = part.LogEndOffset()
			case committed:
				visible = lso
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			}
			throttled := throttle.listed(part)
			switch {
			case rp.FetchOffset < logStart || rp.FetchOffset > part.LogEndOffset():
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				ready = true
			case rp.FetchOffset >= visible:
			case throttled && throttle.holdBack(part):
				// Over the leader's replication quota: no records
				// for a follower catching up (Kafka's empty
				// FetchDataInfo), the offsets answered as usual.
			case remaining > 0 || size == 0:
				limit := min(rp.PartitionMaxBytes, remaining)
				var fs *log.FileSlices
				var err error
				switch {
				case replica >= 0:
					fs, err = part.ReadForFollower(rp.FetchOffset, limit)
				case committed:
					fs, sp.LastStableOffset, err = part.ReadCommittedSlices(rp.FetchOffset, limit, size == 0)
					if err == nil && fs != nil {
						sp.AbortedTransactions = abortedTransactions(part.AbortedTxns(rp.FetchOffset, fs.NextOffset()))
					}
				default:
					fs, err = part.ReadSlices(rp.FetchOffset, limit, size == 0)
				}
				if err != nil {
					sp.ErrorCode = protocol.ErrorCode(err)
					if !errors.Is(err, log.ErrOffsetOutOfRange) {
						b.logger.Error("fetch read failed", "topic", name, "partition", rp.Partition, "offset", rp.FetchOffset, "err", err)
					}
					ready = true
				}
				res.sets[i][j] = fs
				size += fs.Size()
				if throttled {
					res.throttled += fs.Size()
				}
				remaining -= int32(min(fs.Size(), int64(remaining)))
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return res, size, ready, keys
}

// incrementalFetch reports a fetch of an existing session (KIP-227): v7+
// with a session epoch other than 0 (open a session) and -1 (no session).
func incrementalFetch(req *kmsg.FetchRequest) bool {
	return req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1
}

// fetchReplica is the fetching replica's broker ID (-1: a consumer).
func fetchReplica(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// checkLeaderEpoch applies KIP-320 fencing: a client that knows a newer epoch
// than ours is ahead of our metadata (UNKNOWN_LEADER_EPOCH, retriable); one
// with an older epoch must refresh (FENCED_LEADER_EPOCH). -1 skips the check.
func checkLeaderEpoch(clientEpoch, ours int32) int16 {
	switch {
	case clientEpoch < 0 || clientEpoch == ours:
		return 0
	case clientEpoch > ours:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}

// leaderThrottle is one fetch's view of the leader's replication quota:
// which partitions are throttled for the fetching follower, and whether
// the quota is exceeded (asked once per fetch, when first needed).
type leaderThrottle struct {
	q        *quota.Replication
	node     int32
	replica  int32
	now      time.Time
	asked    bool
	exceeded bool
}

// leaderThrottle returns the throttle view of a fetch; consumers' fetches
// (replica < 0) and a node without a quota throttle nothing.
func (b *Broker) leaderThrottle(replica int32, now time.Time) leaderThrottle {
	if replica < 0 {
		return leaderThrottle{}
	}
	return leaderThrottle{q: b.cfg.LeaderQuota, node: b.cfg.NodeID, replica: replica, now: now}
}

// listed reports whether the partition's topic lists it as throttled on
// this node as leader.
func (t *leaderThrottle) listed(part *partition.Partition) bool {
	return t.q != nil && part.Config().LeaderThrottled(part.ID.Partition, t.node)
}

// holdBack reports whether a listed partition is answered with no records:
// the quota is exceeded and the follower is not in the ISR (Kafka's
// shouldLeaderThrottle: "to avoid ISR thrashing").
func (t *leaderThrottle) holdBack(part *partition.Partition) bool {
	if part.InISR(t.replica) {
		return false
	}
	if !t.asked {
		t.asked, t.exceeded = true, t.q.Exceeded(t.now)
	}
	return t.exceeded
}

// recordThrottled records the answered bytes of throttled partitions
// against the leader's quota (Kafka's KafkaApis records
// sizeOfThrottledPartitions of each follower fetch response).
func (b *Broker) recordThrottled(res *fetchResult) {
	if res != nil && res.throttled > 0 && b.cfg.LeaderQuota != nil {
		b.cfg.LeaderQuota.Record(b.now(), res.throttled)
	}
}

// abortedTransactions converts a partition's aborted transactions to the
// Fetch response's.
func abortedTransactions(in []log.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(in))
	for i, a := range in {
		out[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset}
	}
	return out
}
